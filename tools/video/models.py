"""What the video tools answer: one compact shape for a planned, running or finished clip (a running one's answer
carries only what a poll needs)."""

from typing import Any, Literal

from pydantic import Field

from tools.result_model import ResultModel

VideoState = Literal["planned", "making_still", "queued", "running", "completed", "failed", "cancelled", "unknown"]


class VideoProgress(ResultModel):
    """A clip on its way, for a poll: a few lines. fal reports no progress for video requests."""

    stage: str
    queue_position: int | None = None
    elapsed_seconds: int = Field(description="Since the video was asked for, the still included.")
    eta_seconds: float | None = None
    eta_basis: str


class ClipFile(ResultModel):
    path: str = Field(description="Local mp4 ('' until downloaded).")
    url: str
    duration_seconds: float | None
    fps: float | None
    width: int | None
    height: int | None


class VideoOutput(ResultModel):
    video_id: str | None = Field(description="Follow with video(video_id=...); None for a dry run.")
    status: VideoState
    endpoint: str
    start: str = Field(description="model | generation | image: what is animated; text: a video LoRA, no still.")
    model: str | None = Field(description="name@vN whose likeness it is, if known.")
    motion: str = ""
    seconds: float | None = Field(description="Clip length asked for (or the endpoint's default).")
    estimated_cost_usd: float = Field(description="Clip plus the still, if one is made.")
    cost_note: str = ""
    still_generation_id: str | None
    still_path: str | None = None
    clip: ClipFile | None = None
    request: dict[str, Any] = Field(
        default_factory=dict, description="Body for the video endpoint (the still's URL once known)."
    )
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    progress: VideoProgress | None = Field(default=None, description="While on its way: stage, elapsed, ETA.")
    next_step: str
