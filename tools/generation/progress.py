"""Generations still on fal, in a few lines: each one's id and state, and together how long they have been going
and how long they probably have left. fal reports no progress for an inference request, so the ETA is the median
duration of this server's own finished generations on the same endpoint (else of the same output kind), measured
from request to fal's result; with none to go by, the answer says so instead of guessing."""

from __future__ import annotations

from typing import Any

from server.eta import TYPICAL_OF_LATEST, Eta, median, remaining, seconds_since, timestamp
from server.storage import Store
from tools.generation.results import GenerationOutput, GenerationProgress, RunningGeneration

NO_HISTORY = "none yet: no finished generation here to time it by"


def is_running(output: GenerationOutput) -> bool:
    return output.status in ("queued", "running")


def shown(outputs: list[GenerationOutput], *, batch: bool) -> list[GenerationOutput | RunningGeneration]:
    """Finished items in full; one generation still on fal as its id and state, a batch's only counted in its
    progress (the batch id follows them all), so a poll's answer stays a few lines however large the batch."""
    if batch:
        return [o for o in outputs if not is_running(o)]
    return [_brief(o) if is_running(o) else o for o in outputs]


def _brief(output: GenerationOutput) -> RunningGeneration:
    brief = RunningGeneration(generation_id=output.generation_id, status=output.status)
    if output.status == "queued" and output.queue_position is not None:
        brief.queue_position = output.queue_position
    return brief


def summary(store: Store, outputs: list[GenerationOutput], *, batch: bool) -> GenerationProgress | None:
    """Elapsed since the oldest item still on fal and the ETA of the last one (a batch's items share an endpoint
    and start together); None when nothing is running."""
    running = [o for o in outputs if is_running(o)]
    if not running:
        return None
    oldest = min(running, key=lambda o: timestamp(o.created_at) or 0.0)
    newest = max(running, key=lambda o: timestamp(o.created_at) or 0.0)
    eta = eta_of(store, newest.generation_id, newest.endpoint, newest.created_at)
    progress = GenerationProgress(
        elapsed_seconds=round(seconds_since(oldest.created_at)), eta_seconds=eta.seconds, eta_basis=eta.basis
    )
    if batch:
        progress.queued = sum(o.status == "queued" for o in running)
        progress.running = len(running) - progress.queued
    return progress


def eta_of(store: Store, generation_id: str, endpoint: str, created_at: str) -> Eta:
    """How long a generation still on fal probably has left, and what that rests on."""
    typical = typical_duration(store, generation_id, endpoint)
    if typical is None:
        return Eta(None, NO_HISTORY)
    seconds, basis = typical
    return remaining(seconds, seconds_since(created_at), basis)


def typical_duration(store: Store, generation_id: str, endpoint: str) -> tuple[float, str] | None:
    """(median seconds from request to result, what it is the median of) of the latest finished generations on
    `endpoint`, else of the same output kind on any endpoint; None when this server has finished none."""
    sql = (
        "SELECT created_at, completed_at FROM generations WHERE {} = ? AND status = 'completed' "
        "AND completed_at IS NOT NULL ORDER BY completed_at DESC LIMIT ?"
    )
    durations = _durations(store.query(sql.format("endpoint"), (endpoint, TYPICAL_OF_LATEST)))
    what = f"{endpoint} generations"
    if not durations:
        kind = store.query_one("SELECT category FROM generations WHERE id = ?", (generation_id,))
        if kind is None:
            return None
        durations = _durations(store.query(sql.format("category"), (kind["category"], TYPICAL_OF_LATEST)))
        what = f"{kind['category']} generations on other endpoints"
    typical = median(durations)
    return None if typical is None else (typical, f"median of {len(durations)} finished {what} here")


def _durations(rows: list[dict[str, Any]]) -> list[float]:
    found = []
    for row in rows:
        start, end = timestamp(row["created_at"]), timestamp(row["completed_at"])
        if start is not None and end is not None and end >= start:
            found.append(end - start)
    return found


def next_call(outputs: list[GenerationOutput], batch_id: str | None) -> str:
    ref = f"batch_id={batch_id!r}" if batch_id else f"generation_id={outputs[0].generation_id!r}"
    return f"Call generation_status({ref}, wait_seconds=20); the server saves the files in the background."
