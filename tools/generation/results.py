"""What a generation looks like to the agent: the models the generation tools answer with (and that the prompt
library and quality suite reuse). Kept apart from the behaviour so the server starts without importing it."""

from typing import Any, Literal

from pydantic import Field

from tools.result_model import ResultModel

GenerationState = Literal["completed", "queued", "running", "failed", "unknown"]


class OutputFile(ResultModel):
    path: str = Field(description="Local file ('' if the download failed; the url still works for a while).")
    url: str
    content_type: str | None
    width: int | None
    height: int | None
    seed: int | None
    readable: bool = Field(default=True, description="False: saved, but not an image this server could read.")


class GenerationOutput(ResultModel):
    generation_id: str
    status: GenerationState
    endpoint: str = Field(description="The fal endpoint actually called.")
    requested_endpoint: str
    model_name: str | None
    model_version: int | None
    files: list[OutputFile]
    seed: int | None
    error: str | None
    warnings: list[str]
    estimated_cost_usd: float
    scenario: str | None
    # Details beyond the shared interface (all optional).
    batch_id: str | None = None
    prompt: str | None = Field(default=None, description="The prompt as sent (trigger word included).")
    lora_applied: bool = False
    loras: list[dict[str, Any]] = Field(default_factory=list)
    trigger_word: str | None = None
    trigger_word_inserted: bool = False
    timings: dict[str, Any] = Field(default_factory=dict)
    has_nsfw_concepts: list[bool] = Field(default_factory=list)
    queue_position: int | None = None
    reproduces: str | None = Field(default=None, description="The generation this one re-ran.")
    request: dict[str, Any] = Field(default_factory=dict, description="Input sent to fal (long strings shortened).")
    created_at: str = ""
    completed_at: str | None = None


class RunningGeneration(ResultModel):
    """A generation still on fal (its full record comes once it has finished)."""

    generation_id: str
    status: GenerationState
    queue_position: int | None = None


class GenerationProgress(ResultModel):
    """Every item still on fal together (tools/generation/progress.py). A poll's answer carries only the fields set."""

    queued: int | None = None
    running: int | None = None
    elapsed_seconds: int
    eta_seconds: float | None = None
    eta_basis: str
