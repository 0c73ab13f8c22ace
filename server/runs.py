"""Background runs inside the server process: work that may outlast one tool call (start → run id → poll).

A host cancels a tool call after about 60 s, so a tool starts its long work here, waits for it a bounded time and
otherwise answers with the run's id. A run is keyed by what decides its outcome: starting a run whose key matches
one in progress (or, where the caller allows it, one that succeeded in the last `keep_seconds`) returns that run
instead of doing the work again. Runs live in memory only; work that must survive a restart keeps its own rows in
SQLite.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc

from server.storage import new_id

KEEP_SECONDS = 1800.0
MAX_KEPT = 50


class RunStopped(Exception):
    """The server is shutting down: a worker gets this at its next progress report and unwinds (cleaning up)."""


@dataclass(eq=False)
class Run:
    id: str
    key: str
    about: Any = None  # what the starter wants to show while it runs (e.g. its request)
    progress: float = 0.0  # percent
    message: str = "starting"
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    outcome: Any = None
    error: Exception | None = None
    done: anyio.Event = field(default_factory=anyio.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        return self.done.is_set()

    def report(self, progress: float, message: str) -> None:
        """Record progress (callable from any thread); raises RunStopped once the server is stopping."""
        if self.stop.is_set():
            raise RunStopped("the server is shutting down")
        self.progress = max(self.progress, min(progress, 100.0))
        self.message = message


Work = Callable[[Run], Awaitable[Any]]


class Runs:
    def __init__(self, keep_seconds: float = KEEP_SECONDS, max_kept: int = MAX_KEPT) -> None:
        self.keep_seconds = keep_seconds
        self.max_kept = max_kept
        self._runs: dict[str, Run] = {}
        self._group: anyio.abc.TaskGroup | None = None

    def bind(self, group: anyio.abc.TaskGroup) -> None:
        """Runs execute in the server's own task group, so they outlive the tool call that started them."""
        self._group = group

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def active(self) -> list[Run]:
        return [run for run in self._runs.values() if not run.finished]

    def start(
        self, prefix: str, key: str, work: Work, about: Any = None, reuse_finished: bool = True
    ) -> tuple[Run, bool]:
        """The run for `key`: one in progress, or (`reuse_finished`) one that succeeded lately (attached: True);
        else a new one."""
        if self._group is None:
            raise RuntimeError("Runs.bind() was not called: background runs need the server's task group")
        self._prune()
        for run in reversed(self._runs.values()):
            if run.key == key and (not run.finished or (reuse_finished and run.error is None)):
                return run, True
        run = Run(new_id(prefix), key, about)
        self._runs[run.id] = run
        self._group.start_soon(self._execute, run, work)
        return run, False

    async def wait(self, run: Run, seconds: float, tick: Callable[[Run], Awaitable[None]]) -> None:
        """Until `run` finishes or `seconds` pass, calling `tick` about twice a second (progress reports)."""
        deadline = time.monotonic() + max(0.0, seconds)
        while not run.finished:
            await tick(run)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with anyio.move_on_after(min(0.5, remaining)):
                await run.done.wait()

    async def _execute(self, run: Run, work: Work) -> None:
        try:
            async with anyio.create_task_group() as relay:
                relay.start_soon(_stop_when_cancelled, run)
                try:
                    run.outcome = await work(run)
                except Exception as exc:  # kept for whoever polls the run; a new call with the same key retries
                    run.error = exc
                finally:
                    relay.cancel_scope.cancel()
        finally:
            run.finished_at = time.monotonic()
            run.done.set()

    def _prune(self) -> None:
        now = time.monotonic()
        finished = [r for r in self._runs.values() if r.finished_at is not None]
        expired = {r.id for r in finished if now - r.finished_at > self.keep_seconds}  # type: ignore[operator]
        surplus = len(self._runs) - len(expired) - self.max_kept
        if surplus > 0:
            oldest = sorted((r for r in finished if r.id not in expired), key=lambda r: r.finished_at or 0.0)
            expired |= {r.id for r in oldest[:surplus]}
        for run_id in expired:
            del self._runs[run_id]


async def _stop_when_cancelled(run: Run) -> None:
    """Worker threads cannot be cancelled: when the server stops, tell the run's worker to give up instead."""
    try:
        await anyio.sleep_forever()
    finally:
        run.stop.set()
