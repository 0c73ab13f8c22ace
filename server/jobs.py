"""The job engine: the one life of every paid fal request, whatever kind of job it is.

Longer than 500 lines because the whole life of a job (record, submit, poll, finish, cancel, resume) reads best
in one place; kinds add only their hooks.

A job is one row in its kind's table, written (with its cost estimate reserved in the ledger, atomically and
under the budget caps) before fal is called. Then:

    submitting ──submit answered──► queued ─► running ─► completed ──on_finished done──► (no pending work)
        │                                                   │
        ├─ fal refused (HTTP answer) ─► failed, reservation released
        └─ answer lost / process died ─► unknown: never polled, never resubmitted unless forced, stays charged

- Submit at most once: the gateway never retries a POST that may have reached fal; a lost answer is `unknown`
  and an identical request (same `request_hash`) in a blocking state is refused or reused unless forced.
- Polling: one backoff for every job (poll_min → ×1.5 → poll_max, back to poll_min when something changed),
  scheduled on `time.monotonic()`, so a wall-clock step cannot stall it. After a restart every open job is due.
- Only fal's own terminal answer ends a job (COMPLETED with or without an error, an expired result). A status
  request that fails (an HTML page, a 401, a 5xx, a timeout) is a glitch: noted on the row, polled again later.
- The result is stored (redacted) the moment it is seen; then the kind's `on_finished` hook turns it into
  local things (a model version, saved files). It may ask to be called again later (a download failed).
- Downloads get an overall deadline per file and run inside the job's own task: one slow file delays only its job.
- One background poller (`poll_due`) for all kinds; the watcher calls it every tick.

Adding a kind of job (e.g. video): give it a table with the common columns (id, endpoint, request_json,
request_hash, fal_request_id, status, result_json, error, estimated_cost, model_name, poll_interval,
next_poll_at, finish_attempts, created_at, updated_at, completed_at) in a migration, define a `JobKind` and its
`JobHooks` (`on_finished`, and `on_status` for progress if you like), list both in server/app.py's JOB_KINDS, then call
`engine.start(kind, row, endpoint, body, ...)` from the kind's behaviour and `engine.wait` / `engine.advance`
from its status tool.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.abc

from server import costs
from server.config import Settings
from server.errors import UserError
from server.fal_gateway import Download, FalError, FalGateway, JobStatus
from server.storage import Store, from_json, to_json, utc_now

log = logging.getLogger(__name__)


class JobState(str, Enum):
    SUBMITTING = "submitting"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


OPEN = (JobState.SUBMITTING, JobState.QUEUED, JobState.RUNNING)
ENDED = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.UNKNOWN)

SUBMIT_GRACE_SECONDS = 120.0  # a 'submitting' row from another process older than this was interrupted
MAX_FINISH_PASSES = 6  # calls of a kind's on_finished hook that asked to be retried, before giving up
GONE_AFTER_404S = 3  # fal answering 404 to this many status requests in a row means it has lost the job
FAL_ANSWERS = (400, 404, 410, 422)  # HTTP answers to a result request that are fal's verdict, not a glitch
MAX_COPIED_CHARS = 2000  # default cap for any text copied from fal into a row or an answer
FIRST_PASS_SECONDS = 10.0  # how long a status call waits for a fresh check when it asked not to wait
UNKNOWN_HELP = "Check https://fal.ai/dashboard/requests before running it again"
LATE_CANCEL_NOTE = "Finished before the cancellation took effect (fal charged it)."


@dataclass(frozen=True)
class Finish:
    """What a kind's `on_finished` hook made of a result."""

    done: bool = True  # False: call me again later (a download failed for now)
    note: str | None = None  # kept in the row's `error` (a completed job with a note)
    failed: bool = False  # the result is unusable: the job ends 'failed' with `note`
    changes: dict[str, Any] = field(default_factory=dict)  # kind-specific columns to write


# Hooks receive the app's shared state (`JobEngine.context`, the AppState: store, settings, catalog, the engine).
FinishedHook = Callable[[Any, dict[str, Any], dict[str, Any]], Awaitable[Finish]]
StatusHook = Callable[[Any, dict[str, Any], JobStatus], dict[str, Any]]
FailedHook = Callable[[Any, dict[str, Any], JobStatus], Awaitable[str]]


@dataclass(frozen=True)
class JobHooks:
    """What a kind does with fal's answers."""

    on_finished: FinishedHook
    on_status: StatusHook | None = None  # kind-specific columns from a queued/running answer (progress, logs)
    on_failed: FailedHook | None = None  # fal said the job failed: a note to add (e.g. what was repaired)


# Returns a kind's hooks, importing its behaviour the first time a job of that kind needs them: the server
# starts without it (most starts have no job to follow).
HooksLoader = Callable[[], JobHooks]


@dataclass(frozen=True)
class JobKind:
    name: str  # also the ledger's kind, e.g. "training"
    table: str
    noun: str  # for messages: "Training", "Generation"
    with_logs: bool = False
    # An identical request (same request_hash) in one of these states is not paid for again unless forced.
    blocking: tuple[JobState, ...] = (JobState.UNKNOWN,)
    force_hint: str = "force=true"


class SubmitFailed(UserError):
    """fal refused the submission (nothing was charged), or its answer was lost (`unknown`: it may have been)."""

    def __init__(self, message: str, job_id: str, *, unknown: bool, fal_error: FalError) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.unknown = unknown
        self.fal_error = fal_error


class DuplicateUnknown(UserError):
    """An identical request was submitted before and its outcome is unknown: fal may have it (and bill it)."""


Key = tuple[str, str]
CancelOutcome = Literal["cancellation_requested", "already_completed"]


class JobEngine:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        fal: FalGateway,
        kinds: tuple[tuple[JobKind, HooksLoader], ...] = (),
    ) -> None:
        self.settings, self.store, self.fal = settings, store, fal
        self._kinds: dict[str, JobKind] = {}
        self._hook_loaders: dict[str, HooksLoader] = {}
        self._hooks: dict[str, JobHooks] = {}
        self._due: dict[Key, float] = {}  # monotonic time of the next background poll
        self._glitches: dict[Key, int] = {}
        self._locks: dict[Key, anyio.Lock] = {}
        self._submitting: set[Key] = set()
        self._busy: set[Key] = set()
        self._passed: dict[Key, anyio.Event] = {}  # set when a pass over the job ends (what `watch` waits for)
        self._resumed = False
        self._group: anyio.abc.TaskGroup | None = None
        self._limiter = anyio.CapacityLimiter(8)
        self.wake: Callable[[], None] = lambda: None
        self.context: Any = None
        for kind, load_hooks in kinds:
            self._kinds[kind.name] = kind
            self._hook_loaders[kind.name] = load_hooks

    def bind(self, group: anyio.abc.TaskGroup, wake: Callable[[], None], context: Any) -> None:
        """Run background polls as tasks of `group` (so a slow download holds only its own job); hooks get `context`."""
        self._group, self.wake, self.context = group, wake, context

    def kind(self, name: str) -> JobKind:
        return self._kinds[name]

    def hooks(self, kind: JobKind) -> JobHooks:
        if kind.name not in self._hooks:
            self._hooks[kind.name] = self._hook_loaders[kind.name]()
        return self._hooks[kind.name]

    def lock(self, kind: JobKind, job_id: str) -> anyio.Lock:
        return self._locks.setdefault((kind.name, job_id), anyio.Lock())

    # -- rows --------------------------------------------------------------------------------------------

    def row(self, kind: JobKind, job_id: str) -> dict[str, Any] | None:
        return self.store.query_one(f"SELECT * FROM {kind.table} WHERE id = ?", (job_id,))

    def _row(self, kind: JobKind, job_id: str) -> dict[str, Any]:
        row = self.row(kind, job_id)
        if row is None:
            raise KeyError(job_id)
        return row

    def update(self, kind: JobKind, job_id: str, changes: dict[str, Any]) -> None:
        self.store.update(kind.table, "id", job_id, {**changes, "updated_at": utc_now()})

    def blocking_duplicate(self, kind: JobKind, request_hash: str) -> dict[str, Any] | None:
        states = [s.value for s in kind.blocking]
        marks = ", ".join("?" for _ in states)
        return self.store.query_one(
            f"SELECT * FROM {kind.table} WHERE request_hash = ? AND status IN ({marks}) "
            "ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (request_hash, *states),
        )

    def copied(self, text: str | None, limit: int = MAX_COPIED_CHARS) -> str | None:
        """Text copied from fal, as it may be stored or shown: the key redacted, the length capped."""
        if text is None:
            return None
        clean = self.fal.redact(str(text))
        return clean if len(clean) <= limit else clean[:limit] + f"... ({len(clean) - limit} more characters)"

    # -- starting ----------------------------------------------------------------------------------------

    def record(self, kind: JobKind, rows: list[dict[str, Any]], *, what: str) -> None:
        """Insert job rows as 'submitting' and reserve their estimates, all or nothing, under the budget caps.

        One IMMEDIATE transaction: concurrent callers are serialized, so the caps hold however many race.
        Each row needs id, endpoint, request_json, estimated_cost and the kind's own columns.
        """
        now = utc_now()
        with self.store.transaction() as conn:
            costs.reserve(
                conn,
                self.settings,
                [(kind.name, row["id"], row["endpoint"], row["estimated_cost"], row.get("model_name")) for row in rows],
                what,
            )
            for row in rows:
                full = {
                    **row,
                    "status": JobState.SUBMITTING.value,
                    "poll_interval": self.settings.poll_min_seconds,
                    "next_poll_at": time.time() + SUBMIT_GRACE_SECONDS,
                    "created_at": row.get("created_at") or now,
                    "updated_at": now,
                }
                columns = ", ".join(full)
                marks = ", ".join(f":{name}" for name in full)
                conn.execute(f"INSERT INTO {kind.table} ({columns}) VALUES ({marks})", full)

    async def submit(self, kind: JobKind, job_id: str, *, hold_seconds: float = 0.0) -> None:
        """Send a recorded job to fal, at most once. Raises SubmitFailed if fal refused it or the answer was lost."""
        key = (kind.name, job_id)
        row = self._row(kind, job_id)
        self._submitting.add(key)
        try:
            request_id = await self.fal.submit(row["endpoint"], from_json(row["request_json"], {}))
        except FalError as exc:
            refused = exc.status_code is not None and not exc.ambiguous  # fal answered: no job exists
            if refused:
                outcome = f"{kind.noun} {job_id} was not started; nothing was charged."
                self._end(kind, job_id, JobState.FAILED, f"{exc.message} {outcome}")
                costs.release(self.store, job_id)
            else:
                outcome = (
                    f"{kind.noun} {job_id} is recorded as 'unknown': fal may have received it before the connection "
                    f"failed. {UNKNOWN_HELP}; to send the same request again anyway, pass {kind.force_hint}."
                )
                self._end(kind, job_id, JobState.UNKNOWN, f"{exc.message} {outcome}")
                costs.settle(self.store, job_id, "unknown")
            raise SubmitFailed(f"{exc.message} ({outcome})", job_id, unknown=not refused, fal_error=exc) from exc
        except BaseException:
            # Cancelled (the host gave up on the call) or crashed while the POST was in flight: fal may have it.
            with anyio.CancelScope(shield=True):
                self._end(kind, job_id, JobState.UNKNOWN, self._interrupted_note(kind))
                costs.settle(self.store, job_id, "unknown")
            raise
        finally:
            self._submitting.discard(key)
        interval = self.settings.poll_min_seconds
        self.update(
            kind,
            job_id,
            {
                "fal_request_id": request_id,
                "status": JobState.QUEUED.value,
                "poll_interval": interval,
                "next_poll_at": time.time() + interval,
            },
        )
        costs.settle(self.store, job_id, "submitted")
        self._schedule(key, max(hold_seconds, interval))
        self.wake()

    def abandon(self, kind: JobKind, job_id: str, message: str) -> None:
        """A recorded job that will not be sent after all (e.g. its input upload failed): failed, nothing charged."""
        self._end(kind, job_id, JobState.FAILED, message)
        costs.release(self.store, job_id)

    def _interrupted_note(self, kind: JobKind) -> str:
        return (
            "The submission was interrupted before fal confirmed the job, so fal may or may not have it. "
            f"{UNKNOWN_HELP}; to send the same request again anyway, pass {kind.force_hint}."
        )

    # -- advancing ---------------------------------------------------------------------------------------

    async def advance(self, kind: JobKind, job_id: str) -> dict[str, Any]:
        """Move one job as far forward as fal allows right now; returns the fresh row. Never raises on fal trouble."""
        key = (kind.name, job_id)
        async with self.lock(kind, job_id):
            row = self._row(kind, job_id)
            try:
                await self._advance(kind, row)
            except Exception:
                log.exception("advancing %s %s failed", kind.name, job_id)
                self._backoff(kind, self._row(kind, job_id), changed=False)
            fresh = self._row(kind, job_id)
            if fresh["next_poll_at"] is None:
                self._forget(key)
        passed = self._passed.pop(key, None)
        if passed is not None:
            passed.set()
        return fresh

    async def _advance(self, kind: JobKind, row: dict[str, Any]) -> None:
        job_id, status = row["id"], row["status"]
        if status == JobState.SUBMITTING and row["fal_request_id"] is None:
            if (kind.name, job_id) not in self._submitting and _older_than(row["created_at"], SUBMIT_GRACE_SECONDS):
                self._end(kind, job_id, JobState.UNKNOWN, self._interrupted_note(kind))
                costs.settle(self.store, job_id, "unknown")
            return
        if row["next_poll_at"] is None or row["fal_request_id"] is None:
            return
        polling = (JobState.SUBMITTING, JobState.QUEUED, JobState.RUNNING, JobState.CANCELLED)
        if status in polling and row["result_json"] is None:
            row = await self._poll(kind, row)
        if row["status"] == JobState.COMPLETED and row["next_poll_at"] is not None:
            await self._finish(kind, row)

    async def _poll(self, kind: JobKind, row: dict[str, Any]) -> dict[str, Any]:
        job_id = row["id"]
        key = (kind.name, job_id)
        cancelling = row["status"] == JobState.CANCELLED
        try:
            status = await self.fal.status(row["endpoint"], row["fal_request_id"], with_logs=kind.with_logs)
        except FalError as exc:
            return self._glitch(kind, row, exc)
        self._glitches.pop(key, None)
        hooks = self.hooks(kind)
        if status.state in ("queued", "running"):
            changes = hooks.on_status(self.context, row, status) if hooks.on_status else {}
            new_state = JobState.CANCELLED if cancelling else JobState(status.state)
            # Backoff restarts on a new state or new progress; a queue position counting down is not news enough.
            changed = new_state != row["status"] or "progress" in changes
            changes["status"] = new_state.value
            if not cancelling:
                changes["error"] = None
            self.update(kind, job_id, changes)
            self._backoff(kind, self._row(kind, job_id), changed=changed)
            return self._row(kind, job_id)
        extra = hooks.on_status(self.context, row, status) if hooks.on_status else {}
        if status.error:  # fal reports failure and cancellation as COMPLETED with an error
            was_cancel = cancelling or status.error_type == "request_cancelled"
            message = f"fal: {self.copied(status.error)}" + (f" ({status.error_type})" if status.error_type else "")
            if hooks.on_failed is not None and not was_cancel:
                message += await hooks.on_failed(self.context, row, status)
            self.update(kind, job_id, extra)
            self._end(kind, job_id, JobState.CANCELLED if was_cancel else JobState.FAILED, message)
            return self._row(kind, job_id)
        try:
            result = await self.fal.result(row["endpoint"], row["fal_request_id"])
        except FalError as exc:
            if exc.status_code not in FAL_ANSWERS:
                return self._glitch(kind, row, exc)
            message = f"fal: {exc.message}"
            if exc.status_code == 404:
                message = (
                    f"fal no longer has this {kind.noun.lower()}'s result (fal keeps results about 1 hour, only ~6 "
                    "minutes for large ones, and nobody polled in time). Look for it under "
                    f"https://fal.ai/dashboard/requests (request {row['fal_request_id']})."
                )
            self.update(kind, job_id, extra)
            self._end(kind, job_id, JobState.CANCELLED if cancelling else JobState.FAILED, message)
            return self._row(kind, job_id)
        # persisted the moment it is seen: fal keeps results for minutes to an hour only
        self.update(
            kind,
            job_id,
            {
                **extra,
                "status": JobState.COMPLETED.value,
                "result_json": self.fal.redact(to_json(result)),
                "error": LATE_CANCEL_NOTE if cancelling else None,
                "completed_at": utc_now(),
                "poll_interval": self.settings.poll_min_seconds,
                "next_poll_at": time.time(),
            },
        )
        costs.settle(self.store, job_id, "completed")
        return self._row(kind, job_id)

    def _glitch(self, kind: JobKind, row: dict[str, Any], exc: FalError) -> dict[str, Any]:
        """A status or result request that failed: not fal's verdict on the job, unless fal keeps saying 404."""
        key = (kind.name, row["id"])
        count = self._glitches.get(key, 0) + 1
        self._glitches[key] = count
        if exc.status_code == 404 and count >= GONE_AFTER_404S:
            self._end(kind, row["id"], JobState.FAILED, f"fal no longer knows this request: {exc.message}")
            return self._row(kind, row["id"])
        self.update(kind, row["id"], {"error": f"Last check failed (will retry): {exc.message}"})
        self._backoff(kind, self._row(kind, row["id"]), changed=False)
        return self._row(kind, row["id"])

    async def _finish(self, kind: JobKind, row: dict[str, Any]) -> None:
        result = from_json(row["result_json"], {})
        outcome = await self.hooks(kind).on_finished(self.context, row, result)
        attempts = int(row.get("finish_attempts") or 0) + 1
        notes = [LATE_CANCEL_NOTE] if LATE_CANCEL_NOTE in (row["error"] or "") else []
        notes += [outcome.note] if outcome.note else []
        changes = {**outcome.changes, "finish_attempts": attempts, "error": " ".join(notes) or None}
        if outcome.failed:
            self.update(kind, row["id"], {**changes, "status": JobState.FAILED.value, "next_poll_at": None})
        elif outcome.done or attempts >= MAX_FINISH_PASSES:
            self.update(kind, row["id"], {**changes, "next_poll_at": None})
        else:
            interval = min(self.settings.poll_min_seconds * 2**attempts, self.settings.poll_max_seconds * 4)
            self.update(kind, row["id"], {**changes, "poll_interval": interval, "next_poll_at": time.time() + interval})
            self._schedule((kind.name, row["id"]), interval)

    def _end(self, kind: JobKind, job_id: str, state: JobState, message: str | None) -> None:
        self.update(
            kind,
            job_id,
            {"status": state.value, "error": message, "completed_at": utc_now(), "next_poll_at": None},
        )
        if state in (JobState.FAILED, JobState.CANCELLED):
            costs.settle(self.store, job_id, state.value)
        self._forget((kind.name, job_id))

    # -- cancelling --------------------------------------------------------------------------------------

    async def cancel(self, kind: JobKind, job_id: str) -> tuple[CancelOutcome, dict[str, Any]]:
        """Ask fal to cancel; returns ('cancellation_requested' | 'already_completed', row)."""
        row = self._row(kind, job_id)
        if row["status"] in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED):
            raise UserError(f"{kind.noun} {job_id} is already {row['status']}; there is nothing to cancel.")
        if row["fal_request_id"] is None:
            raise UserError(
                f"{kind.noun} {job_id} has no fal request id ({row['status']}); there is nothing fal could cancel."
            )
        try:
            await self.fal.cancel(row["endpoint"], row["fal_request_id"])
        except FalError as exc:
            fresh = await self.advance(kind, job_id)
            if fresh["status"] == JobState.COMPLETED:
                return "already_completed", fresh
            raise UserError(f"Could not cancel {kind.noun.lower()} {job_id}: {exc.message}") from exc
        async with self.lock(kind, job_id):
            self.update(
                kind,
                job_id,
                {
                    "status": JobState.CANCELLED.value,
                    "error": "Cancellation requested; waiting for fal to confirm.",
                    "poll_interval": self.settings.poll_min_seconds,
                    "next_poll_at": time.time(),
                },
            )
        fresh = await self.advance(kind, job_id)
        return "cancellation_requested", fresh

    # -- waiting and polling -------------------------------------------------------------------------------

    async def wait(
        self,
        kind: JobKind,
        job_id: str,
        seconds: float,
        on_row: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """Advance the job until it is finished (a first pass of its hook done) or `seconds` (monotonic) pass.

        Whatever is left (polling fal, retrying a download) is the background poller's from then on.
        """
        deadline = time.monotonic() + seconds
        interval = 0.1  # fal-client itself polls every 0.1 s; back off quickly from there
        while True:
            row = await self.advance(kind, job_id)
            if on_row is not None:
                await on_row(row)
            finished_once = row["status"] == JobState.COMPLETED and (row.get("finish_attempts") or 0) > 0
            if row["next_poll_at"] is None or finished_once or time.monotonic() + interval >= deadline:
                if row["next_poll_at"] is not None:
                    self._schedule((kind.name, job_id), 0.0)
                return row
            await anyio.sleep(interval)
            interval = min(interval * 1.5, 2.0)

    async def watch(
        self,
        kind: JobKind,
        job_id: str,
        seconds: float,
        on_row: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        *,
        first_pass_seconds: float = FIRST_PASS_SECONDS,
    ) -> dict[str, Any]:
        """For a status call, which only reads: have the background poller check the job now (and at a quick
        pace while someone watches) until it is finished or `seconds` pass; returns the row as the poller left it.

        The first check is waited for up to `first_pass_seconds` even when `seconds` is 0, so the answer is fresh.
        Recording fal's answer, registering results and downloading stay the poller's work, in its own tasks.
        """
        key = (kind.name, job_id)
        deadline = time.monotonic() + seconds
        first_deadline = time.monotonic() + max(seconds, first_pass_seconds)
        interval = 0.1
        row = self._row(kind, job_id)
        first = True
        while row["next_poll_at"] is not None:
            passed = self._passed.setdefault(key, anyio.Event())
            self._schedule(key, 0.0)
            self.wake()
            with anyio.move_on_after(max((first_deadline if first else deadline) - time.monotonic(), 0.0)):
                await passed.wait()
            first = False
            row = self._row(kind, job_id)
            if on_row is not None:
                await on_row(row)
            finished_once = row["status"] == JobState.COMPLETED and (row.get("finish_attempts") or 0) > 0
            if finished_once or time.monotonic() + interval >= deadline:
                break
            await anyio.sleep(interval)
            interval = min(interval * 1.5, 2.0)
        return row

    async def poll_due(self) -> None:
        """The background poller: advance every job whose poll is due, each in its own task."""
        if not self._resumed:
            self._resumed = True
            self._resume()
        now = time.monotonic()
        due = [key for key, at in sorted(self._due.items(), key=lambda item: item[1]) if at <= now]
        for key in due:
            if key in self._busy:
                continue
            self._busy.add(key)
            if self._group is None:
                await self._poll_task(key)
            else:
                self._group.start_soon(self._poll_task, key)

    async def _poll_task(self, key: Key) -> None:
        try:
            async with self._limiter:
                await self.advance(self._kinds[key[0]], key[1])
        except KeyError:
            self._forget(key)
        finally:
            self._busy.discard(key)

    def _resume(self) -> None:
        """After a (re)start every job with work left is due now: a finished job's result may be about to expire."""
        for kind in self._kinds.values():
            for row in self.store.query(f"SELECT id FROM {kind.table} WHERE next_poll_at IS NOT NULL"):
                self._schedule((kind.name, row["id"]), 0.0)

    def _schedule(self, key: Key, delay: float) -> None:
        self._due[key] = time.monotonic() + delay

    def _forget(self, key: Key) -> None:
        self._due.pop(key, None)
        self._glitches.pop(key, None)

    def _backoff(self, kind: JobKind, row: dict[str, Any], *, changed: bool) -> None:
        """The one backoff: poll_min after a change, else ×1.5 up to poll_max."""
        low, high = self.settings.poll_min_seconds, self.settings.poll_max_seconds
        previous = row.get("poll_interval") or low
        interval = low if changed else min(previous * 1.5, high)
        interval = max(low, min(interval, high))
        self.store.update(
            kind.table, "id", row["id"], {"poll_interval": interval, "next_poll_at": time.time() + interval}
        )
        self._schedule((kind.name, row["id"]), interval)

    # -- files -------------------------------------------------------------------------------------------

    async def download(self, url: str, dest: Path, *, deadline_seconds: float | None = None) -> Download:
        """Fetch one result file for a kind's hook; the gateway bounds it with an overall deadline (the setting
        FAL_VIDEO_MCP_DOWNLOAD_DEADLINE_SECONDS unless given) and a size cap, and keeps nothing partial."""
        return await self.fal.download(url, dest, deadline_seconds=deadline_seconds)


def _older_than(created_at: str, seconds: float) -> bool:
    """For rows another process wrote: their age can only come from the wall clock."""
    try:
        return datetime.fromisoformat(created_at).timestamp() + seconds <= time.time()
    except ValueError:
        return True
