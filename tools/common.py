"""The tool edge, shared by every family: the server class that turns domain errors into ToolError, state access,
progress, results with previews."""

from __future__ import annotations

import base64
import functools
import inspect
import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from pydantic import BaseModel

from server.disk import free_space
from server.errors import UserError
from server.fal_gateway import FalError
from server.state import AppState
from tools.surface import AgentServer

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class ToolServer(AgentServer):
    """The AgentServer (compact schemas, agent-facing middleware) whose tools report domain errors (`UserError`,
    `FalError`) as ToolError with their message.

    Behaviour raises domain errors and never imports MCP; this is the one place they become what the model sees.
    """

    def tool(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        register = super().tool(*args, **kwargs)

        def decorate(fn: F) -> F:
            register(_reporting_domain_errors(fn))
            return fn

        return decorate


def _reporting_domain_errors(fn: F) -> F:
    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except (UserError, FalError) as exc:
            raise ToolError(exc.message) from exc
        except sqlite3.OperationalError as exc:
            state = _state_in(args, kwargs)
            if state is None or not _is_storage_full(exc):
                raise
            db = state.settings.db_path
            raise ToolError(
                f"The server's database {db} could not be written: {exc} ({free_space(db.parent)} free there). "
                "SQLite rolled the change back, so nothing is half-written. Free space on that disk (or point "
                "FAL_VIDEO_MCP_HOME at a disk with room) and call again."
            ) from exc

    return call  # type: ignore[return-value]


def _is_storage_full(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "disk is full" in text or "disk i/o error" in text


def _state_in(args: tuple[Any, ...], kwargs: dict[str, Any]) -> AppState | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Context):
            return state_of(value)
    return None


def tool_meta(
    title: str, *, read_only: bool, idempotent: bool, open_world: bool, destructive: bool = False
) -> dict[str, Any]:
    """Keyword arguments for `server.tool(...)`: the title once, every annotation hint stated explicitly."""
    return {
        "title": title,
        "annotations": ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=destructive,
            idempotent_hint=idempotent,
            open_world_hint=open_world,
        ),
    }


def dedented(fn: F) -> F:
    """Clean a multi-line docstring before the SDK publishes it as the tool description (3.13 does this itself)."""
    fn.__doc__ = inspect.cleandoc(fn.__doc__ or "")
    return fn


def state_of(ctx: Context[Any]) -> AppState:
    return ctx.request_context.lifespan_context


def tool_error(exc: FalError) -> ToolError:
    return ToolError(exc.message)


async def fal_call(awaitable: Awaitable[T]) -> T:
    """Await a gateway call, turning its FalError into a ToolError with the same message."""
    try:
        return await awaitable
    except FalError as exc:
        raise tool_error(exc) from exc


class Progress:
    """Monotonic progress reports in percent; silently ignored by clients that did not ask for them."""

    def __init__(self, ctx: Context[Any] | None, total: float = 100.0) -> None:
        self._ctx = ctx
        self._total = total
        self._last = -1.0

    async def __call__(self, value: float, message: str) -> None:
        if self._ctx is None:
            return
        value = min(max(value, self._last + 1e-6, 0.0), self._total)
        self._last = value
        await self._ctx.report_progress(value, self._total, message)


def with_previews(
    model: BaseModel, previews: list[bytes], mime_type: str = "image/jpeg", *, brief: bool = False
) -> CallToolResult:
    """A structured result plus small inline images (thumbnails from server.previews). `brief` (a poll's answer
    while the job runs) keeps only the fields that were set, so what was left out costs no tokens."""
    data = model.model_dump(mode="json", exclude_unset=brief)
    content: list[Any] = [TextContent(type="text", text=json.dumps(data, separators=(",", ":"), ensure_ascii=False))]
    content += [
        ImageContent(type="image", data=base64.b64encode(image).decode("ascii"), mime_type=mime_type)
        for image in previews
    ]
    return CallToolResult(content=content, structured_content=data)
