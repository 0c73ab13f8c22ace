"""Small helpers that behaviour modules of several families share; no MCP here."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

ProgressFn = Callable[[float, str], Awaitable[None]]

_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_len: int = 40) -> str:
    slug = _SLUG.sub("-", text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "untitled"
