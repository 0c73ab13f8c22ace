"""The video tool as an agent sees it: one call starts a clip (or plans it), the same tool with video_id follows it.
Behaviour lives in tools.video.request (planning and every refusal) and tools.video.job (the job kind), imported
on the tool's first call, not at start."""

from typing import TYPE_CHECKING, Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from server.errors import InvalidInput, NotFound
from server.state import AppState
from server.storage import from_json
from tools.common import Progress, state_of, tool_meta, with_previews
from tools.video.models import ClipFile, VideoOutput

if TYPE_CHECKING:
    from tools.video.request import VideoPlan

MAX_WAIT_SECONDS = 30.0
STILL_MARK = "<the still's fal URL>"
STILL_WAIT_SECONDS = 20.0  # how long a call waits for the still before answering with the video id


def register(server: MCPServer) -> None:
    @server.tool(**tool_meta("Make a video", read_only=False, idempotent=False, open_world=True))
    async def video(
        ctx: Context[Any],
        start: Annotated[
            str | None, Field(description="Model (a still is made first), gen_… id or image path.")
        ] = None,
        prompt: Annotated[str | None, Field(description="The motion.")] = None,
        scenario: Annotated[str | None, Field(description="A prompt_library video scenario.")] = None,
        endpoint: Annotated[str | None, Field(description="Image-to-video endpoint; default Kling 2.5.")] = None,
        duration_seconds: Annotated[float | None, Field(gt=0, le=60)] = None,
        aspect_ratio: Annotated[str | None, Field(description="e.g. 9:16")] = None,
        resolution: Annotated[str | None, Field(description="e.g. 720p")] = None,
        still_prompt: str | None = None,
        input_params: Annotated[dict[str, Any] | None, Field(description="More endpoint inputs.")] = None,
        dry_run: bool = False,
        force: Annotated[bool, Field(description="Pay again for an identical clip on its way.")] = False,
        video_id: Annotated[str | None, Field(description="Follow a clip (vid_…).")] = None,
        wait_seconds: Annotated[float, Field(ge=0, le=MAX_WAIT_SECONDS)] = 0,
    ) -> Annotated[CallToolResult, VideoOutput]:
        """Animate a person's still (made with their model, a generation or a file) on a fal image-to-video
        endpoint, or a video-LoRA model from text. Length, shape and resolution are checked and the cost estimated
        before paying (dry_run=true shows the plan). Answers with a video_id: call video(video_id=..., wait_seconds=30)
        until completed (clip path, fps, duration, poster-and-strip preview)."""
        from tools.video import job
        from tools.video.request import plan_video

        state = state_of(ctx)
        if video_id is not None:
            return await _follow(state, video_id.strip(), wait_seconds, Progress(ctx))
        if start is None:
            raise InvalidInput("give start (a model, a generation id or an image path) to make a clip, or video_id")
        plan = await plan_video(
            state,
            start=start,
            prompt=prompt,
            scenario=scenario,
            endpoint=endpoint,
            duration_seconds=duration_seconds,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            still_prompt_text=still_prompt,
            input_params=input_params,
        )
        if dry_run:
            return with_previews(_planned(plan), [])
        digest = job.request_hash(plan)
        twin = None if force else job.twin(state, digest)
        if twin is not None:
            return _answer(state, twin, joined=True)
        new_id = job.record(state, plan, digest)
        if plan.still_plan is not None:
            await job.make_still(state, plan, new_id, STILL_WAIT_SECONDS, force)
        await job.advance_still(state, new_id, hold_seconds=state.settings.tool_wait_seconds)
        return await _follow(state, new_id, wait_seconds, Progress(ctx), full=True)


async def _follow(
    state: AppState, video_id: str, wait_seconds: float, progress: Progress | None, *, full: bool = False
) -> CallToolResult:
    """Follow the clip for up to `wait_seconds` (progress notifications at each check when waiting), then answer."""
    from tools.video import job
    from tools.video import progress as clip_progress

    _row(state, video_id)

    async def report(row: dict[str, Any]) -> None:
        if progress is not None and clip_progress.is_open(row):
            await progress(*clip_progress.notification(state, row))

    await job.follow(state, video_id, wait_seconds, report if wait_seconds else None)
    return _answer(state, _row(state, video_id), full=full)


def _row(state: AppState, video_id: str) -> dict[str, Any]:
    row = state.store.query_one("SELECT * FROM videos WHERE id = ?", (video_id,))
    if row is None:
        recent = [r["id"] for r in state.store.query("SELECT id FROM videos ORDER BY created_at DESC LIMIT 5")]
        raise NotFound(f"no video {video_id!r}; recent videos: {', '.join(recent) or 'none'}")
    return row


def _planned(plan: "VideoPlan") -> VideoOutput:
    model = f"{plan.model.model_name}@v{plan.model.version}" if plan.model else None
    first = f"make the still with {model}, then " if plan.still_plan is not None and model else ""
    return VideoOutput(
        video_id=None,
        status="planned",
        endpoint=plan.endpoint,
        start=plan.start_kind,
        model=model,
        motion=plan.motion,
        seconds=plan.seconds,
        estimated_cost_usd=plan.total_estimate,
        cost_note=plan.cost.note + (f"; the still ~${plan.still_cost:.3f}" if plan.still_cost else ""),
        still_generation_id=plan.still_generation_id,
        still_path=str(plan.still_path) if plan.still_path else None,
        request=_shown(plan.body),
        warnings=plan.warnings,
        next_step=f"Dry run: nothing was paid. Call video again without dry_run to {first}send this request.",
    )


def _shown(body: dict[str, Any]) -> dict[str, Any]:
    from tools.video.request import PLACEHOLDER_URL

    return {key: STILL_MARK if value == PLACEHOLDER_URL else value for key, value in body.items()}


def _answer(state: AppState, row: dict[str, Any], *, joined: bool = False, full: bool = False) -> CallToolResult:
    """The whole record when the clip starts or has ended; a poll's few lines while it is on its way."""
    from tools.video import progress as on_its_way
    from tools.video.clips import stored_preview

    clip = from_json(row["clip_json"])
    warnings = list(from_json(row["warnings_json"], []))
    cost = round(row["estimated_cost"] + _still_cost(state, row), 4)
    if on_its_way.is_open(row) and not (full or joined):
        return with_previews(on_its_way.running_output(state, row, cost), [], brief=True)
    if joined:
        warnings.insert(0, f"An identical clip was already on its way: this is {row['id']}, nothing new was paid.")
    output = VideoOutput(
        video_id=row["id"],
        status=on_its_way.shown_status(row),
        endpoint=row["endpoint"],
        start=row["start_kind"],
        model=f"{row['model_name']}@v{row['model_version']}" if row["model_name"] else None,
        motion=row["motion"],
        seconds=row["seconds"],
        estimated_cost_usd=cost,
        cost_note=row["cost_note"] or "",
        still_generation_id=row["still_generation_id"],
        still_path=row["still_path"],
        clip=ClipFile(**clip) if clip else None,
        request=_shown(from_json(row["request_json"], {})),
        warnings=warnings,
        error=row["error"],
        progress=on_its_way.progress_of(state, row),
        next_step=on_its_way.next_call(row) if on_its_way.is_open(row) else _next_step(row),
    )
    preview = stored_preview(clip.get("path")) if clip else None
    return with_previews(output, [preview] if preview else [])


def _still_cost(state: AppState, row: dict[str, Any]) -> float:
    """What the still made for this clip was estimated at (0 when the clip animates an existing picture)."""
    if row["start_kind"] != "model" or not row["still_generation_id"]:
        return 0.0
    still = state.store.query_one("SELECT estimated_cost FROM generations WHERE id = ?", (row["still_generation_id"],))
    return float(still["estimated_cost"]) if still else 0.0


def _next_step(row: dict[str, Any]) -> str:
    if row["status"] == "completed":
        return f"Saved: {from_json(row['clip_json'], {}).get('path') or 'see error'}."
    return "See error."
