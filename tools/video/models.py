"""What the video tools answer: one compact shape for a planned, running or finished clip."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

VideoState = Literal["planned", "making_still", "queued", "running", "completed", "failed", "cancelled", "unknown"]


class ClipFile(BaseModel):
    path: str = Field(description="Local mp4 ('' until downloaded).")
    url: str
    duration_seconds: float | None
    fps: float | None
    width: int | None
    height: int | None


class VideoOutput(BaseModel):
    video_id: str | None = Field(description="Poll with video_status; None for a dry run.")
    status: VideoState
    endpoint: str
    start: str = Field(description="model | generation | image: what is animated; text: a video LoRA, no still.")
    model: str | None = Field(description="name@vN whose likeness it is, if known.")
    motion: str
    seconds: float | None = Field(description="Clip length asked for (or the endpoint's default).")
    estimated_cost_usd: float = Field(description="Clip plus the still, if one is made.")
    cost_note: str
    still_generation_id: str | None
    still_path: str | None
    clip: ClipFile | None = None
    request: dict[str, Any] = Field(description="Body for the video endpoint (the still's URL once known).")
    warnings: list[str]
    error: str | None = None
    next_step: str
