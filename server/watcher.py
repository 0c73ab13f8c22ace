"""Background watcher: one loop inside the running server that lets each tool family poll its open jobs.

Pollers decide for themselves which jobs are due (they keep `next_poll_at` per job in SQLite, with their
own backoff), so the loop only has to tick. `wake()` makes it tick now, e.g. right after a submission.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

log = logging.getLogger(__name__)

Poller = Callable[[Any], Awaitable[None]]


class Watcher:
    def __init__(self, tick_seconds: float) -> None:
        self.tick_seconds = tick_seconds
        self._pollers: list[Poller] = []
        self._wake = anyio.Event()
        self.ticks = 0

    def add(self, poller: Poller) -> None:
        self._pollers.append(poller)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, state: Any) -> None:
        while True:
            for poller in self._pollers:
                try:
                    await poller(state)
                except anyio.get_cancelled_exc_class():
                    raise
                except Exception:  # a poller bug must not stop the others or the server
                    log.exception("background poller %s failed", getattr(poller, "__qualname__", poller))
            self.ticks += 1
            with anyio.move_on_after(self.tick_seconds):
                await self._wake.wait()
            self._wake = anyio.Event()
