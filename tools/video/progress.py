"""A clip on its way, in a few lines: its stage (making the still, clip queued, clip rendering, saving), how long
since it was asked for, and an ETA with what it rests on.

fal reports no progress for video requests. The clip's time is taken from this server's own finished clips on the
same endpoint (from the clip's sending to fal's result, per second of clip, scaled to this clip's length); with
none yet, from an assumed rate that the answer names as an assumption. The still's time is a generation's
(tools/generation/progress.py).
"""

from __future__ import annotations

from typing import Any

from server.eta import TYPICAL_OF_LATEST, Eta, median, remaining, seconds_since, spoken, timestamp
from server.state import AppState
from tools.generation import progress as generation_progress
from tools.video.kind import MAKING_STILL
from tools.video.models import VideoOutput, VideoProgress, VideoState

# No finished clip to go by: image-to-video requests take minutes (fal's catalogue gives its image-to-video endpoints
# duration estimates of 1 to 9, read as minutes as for trainers, and the project's catalogue does not keep them);
# half a minute of fal's time per second of clip is the assumption, named as one in the answer.
ASSUMED_SECONDS_PER_CLIP_SECOND = 30.0

STAGES = {
    MAKING_STILL: "making the still",
    "submitting": "sending the clip to fal",
    "queued": "clip queued on fal",
    "running": "clip rendering on fal",
}


def is_open(row: dict[str, Any]) -> bool:
    return row["status"] in STAGES or saving(row)


def saving(row: dict[str, Any]) -> bool:
    """fal has finished the clip and the server is downloading it."""
    return row["status"] == "completed" and row["next_poll_at"] is not None


def shown_status(row: dict[str, Any]) -> VideoState:
    if saving(row):
        return "running"
    status: VideoState = "queued" if row["status"] == "submitting" else row["status"]
    return status


def running_output(state: AppState, row: dict[str, Any], cost: float) -> VideoOutput:
    """The answer to a poll while the clip is on its way: only what a poll needs (the plan came with the start)."""
    return VideoOutput(
        video_id=row["id"],
        status=shown_status(row),
        endpoint=row["endpoint"],
        start=row["start_kind"],
        model=f"{row['model_name']}@v{row['model_version']}" if row["model_name"] else None,
        seconds=row["seconds"],
        estimated_cost_usd=cost,
        still_generation_id=row["still_generation_id"],
        progress=progress_of(state, row),
        next_step=next_call(row),
    )


def progress_of(state: AppState, row: dict[str, Any]) -> VideoProgress | None:
    if not is_open(row):
        return None
    eta = _eta(state, row)
    progress = VideoProgress(
        stage="saving the clip" if saving(row) else STAGES[row["status"]],
        elapsed_seconds=round(seconds_since(row["created_at"])),
        eta_seconds=eta.seconds,
        eta_basis=eta.basis,
    )
    if row["status"] == "queued" and row["queue_position"] is not None:
        progress.queue_position = row["queue_position"]
    return progress


def notification(state: AppState, row: dict[str, Any]) -> tuple[float, str]:
    """(percent, message) for a progress notification: the share of the expected time gone, when there is an ETA."""
    progress = progress_of(state, row)
    if progress is None:
        return 100.0, "done"
    eta = progress.eta_seconds
    elapsed = progress.elapsed_seconds
    percent = 100.0 * elapsed / (elapsed + eta) if eta else 0.0
    left = f", about {spoken(eta)} left" if eta else ""
    return percent, f"{progress.stage}: {spoken(elapsed)} so far{left}"


def next_call(row: dict[str, Any]) -> str:
    return f"Call video(video_id={row['id']!r}, wait_seconds=30) until completed."


def _eta(state: AppState, row: dict[str, Any]) -> Eta:
    if saving(row):
        return Eta(None, "fal has finished; the clip is being saved")
    clip = _clip_time(state, row)
    if row["status"] != MAKING_STILL:
        if clip is None:
            return Eta(None, "none: the clip's length is unknown and no clip on this endpoint has finished here")
        typical, basis = clip
        return remaining(typical, seconds_since(_clip_sent_at(state, row)), basis)
    still = _still_eta(state, row)
    clip_part = f"then the clip ~{spoken(clip[0])} ({clip[1]})" if clip else "then the clip: no estimate"
    basis = f"still: {still.basis}; {clip_part}"
    if still.seconds is None or clip is None:
        return Eta(None, basis)
    return Eta(round(still.seconds + clip[0]), basis)


def _still_eta(state: AppState, row: dict[str, Any]) -> Eta:
    still = _still(state, row)
    if still is None:
        return Eta(None, "not started yet")
    if still["status"] == "completed" and still["next_poll_at"] is None:
        return Eta(0, "made")
    return generation_progress.eta_of(state.store, still["id"], still["endpoint"], still["created_at"])


def _still(state: AppState, row: dict[str, Any]) -> dict[str, Any] | None:
    if row["start_kind"] != "model" or not row["still_generation_id"]:
        return None
    return state.store.query_one("SELECT * FROM generations WHERE id = ?", (row["still_generation_id"],))


def _clip_sent_at(state: AppState, row: dict[str, Any]) -> str:
    """When the clip went to fal: when its still was made (the clip is sent as soon as the still is saved), else
    when it was asked for."""
    still = _still(state, row)
    made = still["completed_at"] if still else None
    return made if made and (timestamp(made) or 0.0) > (timestamp(row["created_at"]) or 0.0) else row["created_at"]


def _clip_time(state: AppState, row: dict[str, Any]) -> tuple[float, str] | None:
    """(typical seconds from sending this clip to fal's result, what it rests on)."""
    finished = state.store.query(
        "SELECT v.created_at, v.completed_at, v.seconds, g.completed_at AS still_made FROM videos v "
        "LEFT JOIN generations g ON g.id = v.still_generation_id AND v.start_kind = 'model' "
        "WHERE v.endpoint = ? AND v.status = 'completed' AND v.completed_at IS NOT NULL "
        "ORDER BY v.completed_at DESC LIMIT ?",
        (row["endpoint"], TYPICAL_OF_LATEST),
    )
    length = row["seconds"]
    durations = []
    for clip in finished:
        sent = max(timestamp(clip["created_at"]) or 0.0, timestamp(clip["still_made"]) or 0.0)
        took = (timestamp(clip["completed_at"]) or 0.0) - sent
        if sent and took >= 0:
            scale = length / clip["seconds"] if length and clip["seconds"] else 1.0
            durations.append(took * scale)
    typical = median(durations)
    if typical is not None:
        per = f", scaled to a {length:g} s clip" if length else ""
        return typical, f"median of {len(durations)} finished clips on this endpoint here{per}"
    if not length:
        return None
    rate = ASSUMED_SECONDS_PER_CLIP_SECOND
    return length * rate, f"assumed {rate:g} s per clip second: no clip finished on this endpoint here yet"
