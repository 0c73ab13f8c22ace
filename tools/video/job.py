"""The video kind of job: rows in `videos`, one clip each, driven through their life by the job engine.

What is particular to videos: a clip may wait for its still first. A row is written with the clip's estimate
reserved as soon as the request is checked, in state `making_still` while a still from the person's model is being
generated (or its local still is uploaded); `advance_still` then sends the one image-to-video request, at most
once, and the engine takes over. A background pass (`poll_stills`) moves rows whose still finished after the tool call
returned, so a restart loses nothing. The "on finished" hook saves the clip under a readable name with its preview.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from server import costs
from server.errors import UserError
from server.fal_gateway import Download, FalError, JobStatus
from server.jobs import SUBMIT_GRACE_SECONDS, Finish, JobEngine, JobHooks, JobState, SubmitFailed
from server.state import AppState
from server.storage import from_json, new_id, to_json, utc_now
from tools.generation import outputs
from tools.generation.kind import GENERATION
from tools.generation.run import execute_plan
from tools.generation.run import request_hash as generation_hash
from tools.video.clips import NoClip, save_clip
from tools.video.kind import MAKING_STILL, VIDEO
from tools.video.request import VideoPlan

CLIP_DOWNLOAD_SECONDS = 300.0  # a clip is tens of MB: the deadline of a LoRA file, not of a thumbnail
STILL_FAILED = ("failed", "cancelled", "unknown")


def _on_status(state: AppState, row: dict[str, Any], status: JobStatus) -> dict[str, Any]:
    position = status.queue_position if status.state == "queued" else None
    return {} if position == row.get("queue_position") else {"queue_position": position}


async def _on_finished(state: AppState, row: dict[str, Any], result: dict[str, Any]) -> Finish:
    engine = state.jobs
    clip = from_json(row["clip_json"], {})
    try:
        saved = await save_clip(
            lambda url, dest: outputs.download(_clip_download(engine), url, dest),
            engine.settings.outputs_dir,
            result,
            model_name=row["model_name"],
            model_version=row["model_version"],
            endpoint=row["endpoint"],
            motion=row["motion"],
            seconds=row["seconds"],
            existing=clip.get("path"),
        )
    except NoClip as exc:
        return Finish(failed=True, note=str(exc))
    except FalError as exc:
        return Finish(done=not exc.retryable, note=f"The clip could not be downloaded yet: {exc.message}")
    except OSError as exc:
        return Finish(done=False, note=f"The clip could not be written under {engine.settings.outputs_dir}: {exc}")
    facts = saved.facts
    record = {
        "path": str(saved.path),
        "url": engine.copied(saved.url, 4096) or "",
        "duration_seconds": facts.duration_seconds if facts else None,
        "fps": facts.fps if facts else None,
        "width": facts.width if facts else None,
        "height": facts.height if facts else None,
    }
    return Finish(note=saved.note, changes={"clip_json": to_json(record)})


def _clip_download(engine: JobEngine) -> Callable[[str, Path], Awaitable[Download]]:
    async def fetch(url: str, dest: Path) -> Download:
        return await engine.download(url, dest, deadline_seconds=CLIP_DOWNLOAD_SECONDS)

    return fetch


HOOKS = JobHooks(
    on_finished=_on_finished,
    on_status=_on_status,
)


def request_hash(plan: VideoPlan) -> str:
    """Identical asks (same endpoint, body, start and still request) are one clip, paid once."""
    start = plan.still_generation_id or (str(plan.still_path) if plan.still_path else None)
    who = plan.model.id if plan.model else None
    raw = to_json(
        {"endpoint": plan.endpoint, "body": plan.body, "still": plan.still_input, "start": start, "model": who}
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def still_hash(plan: VideoPlan) -> str | None:
    """The still generation's own request hash (as the generation family computes it), to find it again."""
    if plan.still_plan is None or plan.still_input is None:
        return None
    return generation_hash(plan.still_plan.endpoint, plan.still_input, video=True)


def twin(state: AppState, digest: str) -> dict[str, Any] | None:
    """An identical clip still on its way (or whose submission was lost): joined, never paid again."""
    states = [MAKING_STILL, *(s.value for s in VIDEO.blocking)]
    marks = ", ".join("?" for _ in states)
    return state.store.query_one(
        f"SELECT * FROM videos WHERE request_hash = ? AND status IN ({marks}) ORDER BY created_at DESC LIMIT 1",
        (digest, *states),
    )


def record(state: AppState, plan: VideoPlan, digest: str) -> str:
    """The row, with the clip's estimate reserved under the caps (the still reserves its own when it starts)."""
    video_id = new_id("vid")
    now = utc_now()
    model_name = plan.model.model_name if plan.model else None
    row: dict[str, Any] = {
        "id": video_id,
        "endpoint": plan.endpoint,
        "request_json": to_json(plan.body),
        "request_hash": digest,
        "status": MAKING_STILL,
        "estimated_cost": plan.cost.usd,
        "model_name": model_name,
        "model_version": plan.model.version if plan.model else None,
        "poll_interval": state.settings.poll_min_seconds,
        "created_at": now,
        "updated_at": now,
        "start_kind": plan.start_kind,
        "start_field": plan.facts.start_image_field if plan.start_kind != "text" else None,
        "still_generation_id": plan.still_generation_id,
        "still_hash": still_hash(plan),
        "still_path": str(plan.still_path) if plan.still_path else None,
        "still_url": plan.still_url,
        "motion": plan.motion,
        "seconds": plan.seconds,
        "scenario": plan.scenario,
        "cost_note": plan.cost.note,
        "warnings_json": to_json(plan.warnings),
    }
    what = f"A {plan.seconds:g} s clip on {plan.endpoint}" if plan.seconds else f"A clip on {plan.endpoint}"
    # the still and the clip are one request: together they must fit under the caps before either is paid
    costs.check_budget(
        state.settings, state.store, plan.total_estimate, what + (" with its still" if plan.still_cost else "")
    )
    with state.store.transaction() as conn:
        costs.reserve(conn, state.settings, [("video", video_id, plan.endpoint, plan.cost.usd, model_name)], what)
        columns = ", ".join(row)
        conn.execute(f"INSERT INTO videos ({columns}) VALUES ({', '.join(':' + c for c in row)})", row)
    return video_id


async def make_still(state: AppState, plan: VideoPlan, video_id: str, wait_seconds: float, force: bool) -> None:
    """Make the still: an ordinary generation with the model's LoRA, found again by its request hash."""
    if plan.still_plan is None:
        return
    try:
        output = await execute_plan(
            state, plan.still_plan, wait_seconds=wait_seconds, force=force, digest=still_hash(plan)
        )
    except UserError as exc:
        _end_unpaid(state, video_id, f"its still was refused: {exc.message}")
        raise
    state.store.update("videos", "id", video_id, {"still_generation_id": output.generation_id, "updated_at": utc_now()})


async def advance_still(state: AppState, video_id: str, *, hold_seconds: float = 0.0) -> None:
    """If the clip's still is ready, send the clip (once); if the still failed, end the clip unpaid."""
    async with state.lock(f"video:{video_id}"):
        row = state.store.query_one("SELECT * FROM videos WHERE id = ?", (video_id,))
        if row is None or row["status"] != MAKING_STILL:
            return
        url, path, problem = _still_of(state, row)
        if problem is not None:
            _end_unpaid(state, video_id, problem)
            return
        if row["start_field"] is not None and url is None and path is None:
            return  # the still is still being made
        if path is not None:
            try:
                url, _ = await state.fal.upload_file_once(state.store, Path(path))
            except FalError as exc:
                if not exc.retryable:
                    _end_unpaid(state, video_id, f"the still could not be uploaded ({exc.message})")
                return
        body = from_json(row["request_json"], {})
        if row["start_field"] is not None:
            body[row["start_field"]] = url
        changed = state.store.execute(
            "UPDATE videos SET status = ?, request_json = ?, still_path = ?, still_url = ?, updated_at = ?, "
            "next_poll_at = ? WHERE id = ? AND status = ?",
            (
                JobState.SUBMITTING.value,
                to_json(body),
                path,
                url,
                utc_now(),
                time.time() + SUBMIT_GRACE_SECONDS,
                video_id,
                MAKING_STILL,
            ),
        )
        if not changed:
            return
    try:
        await state.jobs.submit(VIDEO, video_id, hold_seconds=hold_seconds)
    except SubmitFailed:
        return  # the engine recorded why (refused: failed and released; answer lost: unknown)


def _still_of(state: AppState, row: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(fal URL to send, else local file to upload, why there is none) of the clip's still; all None while it is
    being made. A still fal just made is sent by its URL; an older one or a local file is uploaded (once)."""
    if row["start_kind"] == "text":
        return None, None, None
    if row["start_kind"] != "model":
        path = row["still_path"]
        if path and Path(path).is_file():
            return None, path, None
        if row["still_url"]:
            return row["still_url"], None, None
        return None, None, "its still is no longer on disk"
    still = _still_generation(state, row)
    if still is None:
        if _older_than(row["created_at"], SUBMIT_GRACE_SECONDS):
            return None, None, "its still was never started (the server stopped first); call video again"
        return None, None, None
    if still["status"] in STILL_FAILED:
        return None, None, f"its still {still['id']} {still['status']}: {still['error'] or 'no reason given'}"
    files = from_json(still["files_json"], [])
    if still["status"] != "completed" or still["next_poll_at"] is not None or not files:
        return None, None, None
    first = files[0]
    if first.get("url"):
        return first["url"], None, None
    return (None, first["path"], None) if first.get("path") else (None, None, f"its still {still['id']} has no file")


def _still_generation(state: AppState, row: dict[str, Any]) -> dict[str, Any] | None:
    """The still's generation: linked by id, or (if the server stopped before linking it) by its request hash."""
    if row["still_generation_id"]:
        return state.store.query_one("SELECT * FROM generations WHERE id = ?", (row["still_generation_id"],))
    found = state.store.query_one(
        "SELECT * FROM generations WHERE request_hash = ? AND created_at >= ? ORDER BY created_at LIMIT 1",
        (row["still_hash"], row["created_at"]),
    )
    if found is not None:
        state.store.update("videos", "id", row["id"], {"still_generation_id": found["id"]})
    return found


def _older_than(created_at: str, seconds: float) -> bool:
    try:
        return datetime.fromisoformat(created_at).timestamp() + seconds <= time.time()
    except ValueError:
        return True


def _end_unpaid(state: AppState, video_id: str, why: str) -> None:
    state.store.update(
        "videos",
        "id",
        video_id,
        {
            "status": JobState.FAILED.value,
            "error": f"The clip was not sent: {why}. Nothing was paid for it.",
            "completed_at": utc_now(),
            "updated_at": utc_now(),
            "next_poll_at": None,
        },
    )
    costs.release(state.store, video_id)


async def follow(
    state: AppState,
    video_id: str,
    seconds: float,
    report: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> None:
    """Follow a clip for up to `seconds` (monotonic): its still until made (then the clip is sent), then the clip
    on fal. `report` gets the clip's row after every check, for progress notifications."""
    deadline = time.monotonic() + seconds

    def load() -> dict[str, Any]:
        row = state.jobs.row(VIDEO, video_id)
        assert row is not None  # the caller found it; clips are never deleted
        return row

    async def still_checked(_: dict[str, Any]) -> None:
        if report is not None:
            await report(load())

    row = load()
    still = _still_generation(state, row) if row["status"] == MAKING_STILL else None
    if still is not None and still["next_poll_at"] is not None:
        await state.jobs.watch(GENERATION, still["id"], max(0.0, deadline - time.monotonic()), still_checked)
    if row["status"] == MAKING_STILL:
        await advance_still(state, video_id)
        row = load()
    while row["status"] == "submitting" and row["fal_request_id"] is None and time.monotonic() < deadline:
        await anyio.sleep(0.1)  # another call is sending it now: its answer from fal is a moment away
        row = load()
    sending = row["status"] == "submitting" and row["fal_request_id"] is None
    if row["status"] != MAKING_STILL and row["next_poll_at"] is not None and not sending:
        await state.jobs.wait(VIDEO, video_id, max(0.0, deadline - time.monotonic()), report)
    elif report is not None:
        await report(row)


async def poll_stills(state: AppState) -> None:
    """Background pass: clips whose still finished (or failed) after their tool call returned."""
    for row in state.store.query(f"SELECT id FROM videos WHERE status = '{MAKING_STILL}'"):
        await advance_still(state, row["id"])
