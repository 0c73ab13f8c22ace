"""What worker threads share process-wide: idle expensive objects, and a memory budget for decoding.

Expensive single-thread objects (a YuNet detector, a LiteRT interpreter) are kept process-wide rather than per
thread: every prepare_dataset run has a fresh thread pool, and creating one of these and its first inference cost
~15 ms each time.
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


class MemoryBudget:
    """Bytes that threads may hold at once, granted first come first served; a request larger than the whole budget
    waits until it is alone. Bounds peak memory whatever the photos and however many threads decode them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._next_ticket = 0
        self._serving = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, amount: int) -> Iterator[None]:
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._changed.wait_for(
                lambda: self._serving == ticket and (self._used == 0 or self._used + amount <= self.limit)
            )
            self._serving += 1
            self._used += amount
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._used -= amount
                self._changed.notify_all()
