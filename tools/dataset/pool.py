"""What worker threads share process-wide: idle expensive objects, and a memory budget for decoding.

Expensive single-thread objects (a YuNet detector, a LiteRT interpreter) are kept process-wide rather than per
thread: every prepare_dataset run has a fresh thread pool, and creating one of these and its first inference cost
~15 ms each time.
"""

from __future__ import annotations

import threading
from collections import deque
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
        self._waiting: deque[object] = deque()
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, amount: int) -> Iterator[None]:
        turn = object()
        with self._changed:
            self._waiting.append(turn)
            try:
                self._changed.wait_for(
                    lambda: self._waiting[0] is turn and (self._used == 0 or self._used + amount <= self.limit)
                )
            finally:  # granted or given up: the next in line may go
                self._waiting.remove(turn)
                self._changed.notify_all()
            self._used += amount
        try:
            yield
        finally:
            with self._changed:
                self._used -= amount
                self._changed.notify_all()
