"""What a training looks like to the agent: the models the training tools (and cost_report's trainer guide)
answer with. Kept apart from the behaviour so the server starts without importing it."""

from pydantic import Field

from server.jobs import JobState
from tools.result_model import ResultModel

DEFAULT_PRESET = "flux-lora"  # the default model_type: fal-ai/flux-lora-fast-training


class TrainerChoice(ResultModel):
    rank: int
    model_type: str = Field(description="Pass this (or the endpoint id) as start_training's model_type.")
    endpoint: str
    likeness_options: list[str] = Field(description="Face/subject options the trainer has (set on for a person).")
    steps: int = Field(description="Steps priced here (the trainer's default unless steps was given).")
    steps_range: str
    training_usd: float | None = Field(description="None: fal publishes no price; runs are held to the call cap.")
    training_price: str
    inference_endpoint: str
    image_usd: float | None = Field(description="One 1024×1024 image on the inference endpoint; None: unknown.")
    captions: str = Field(description="How the trainer reads the trigger and captions.")
    lora_files: list[str]


class TrainerGuide(ResultModel):
    default: str
    why_default: str
    trainers: list[TrainerChoice] = Field(description="Trainers that fit a person's photos, best likeness first.")
    not_for_people: dict[str, str] = Field(description="Other fal trainers and why they do not fit a photo set.")
    video_trainers: dict[str, str] = Field(
        default_factory=dict, description="Trainers that learn a video LoRA of the person from the same photos."
    )
    data: str = Field(description="How fresh the catalogue and prices are.")


class TrainingRun(ResultModel):
    id: str
    model_name: str
    model_type: str
    endpoint: str
    status: JobState
    dataset_id: str | None = None
    trigger_word: str | None = None
    steps: int | None = None
    fal_request_id: str | None = None
    queue_position: int | None = None
    progress_percent: float | None = None
    current_step: int | None = None
    total_steps: int | None = None
    eta_seconds: float | None = None
    eta_basis: str | None = Field(default=None, description="Measured from fal's logs, or an estimate from steps.")
    last_logs: list[str] = Field(default_factory=list)
    error: str | None = Field(default=None, description="fal's error for a failed run, or a pending-work note.")
    estimated_cost_usd: float
    cost_note: str | None = None
    model_version: int | None = Field(default=None, description="Registered version of model_name (v1, v2, ...).")
    model_version_id: str | None = None
    lora_url: str | None = None
    lora_path: str | None = Field(default=None, description="Local copy of the trained LoRA weights.")
    pending_work: bool = Field(description="True while the server still polls fal or fetches the LoRA for this run.")
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None
    next_step: str


class TrainingProgress(ResultModel):
    """A queued or running training in a few lines: what a poll needs, nothing more."""

    id: str
    model_name: str
    status: JobState
    queue_position: int | None = None
    progress_percent: float | None = None
    current_step: int | None = None
    total_steps: int | None = None
    eta_seconds: float | None = None
    eta_basis: str | None = None
    last_logs: list[str] = Field(default_factory=list, description="The latest log line, shortened.")
    next_step: str
