"""Expensive single-thread objects (a YuNet detector, a LiteRT interpreter) kept idle between uses.

Kept process-wide rather than per thread: every prepare_dataset run has a fresh thread pool, and creating one of
these and its first inference cost ~15 ms each time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any


class IdlePool:
    def __init__(self) -> None:
        self._idle: dict[Hashable, list[Any]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def borrow(self, key: Hashable, create: Callable[[], Any]) -> Iterator[Any]:
        """An idle object for `key` (made by `create` when there is none), for this thread alone until returned."""
        with self._lock:
            idle = self._idle.setdefault(key, [])
            item = idle.pop() if idle else None
        if item is None:
            item = create()
        try:
            yield item
        finally:
            with self._lock:
                self._idle[key].append(item)
