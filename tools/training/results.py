"""What a training looks like to the agent: the models the training tools (and cost_report's trainer guide)
answer with. Kept apart from the behaviour so the server starts without importing it."""

from pydantic import BaseModel, Field

DEFAULT_PRESET = "flux-lora"  # the default model_type: fal-ai/flux-lora-fast-training


class TrainerChoice(BaseModel):
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


class TrainerGuide(BaseModel):
    default: str
    why_default: str
    trainers: list[TrainerChoice] = Field(description="Trainers that fit a person's photos, best likeness first.")
    not_for_people: dict[str, str] = Field(description="Other fal trainers and why they do not fit a photo set.")
    video_trainers: dict[str, str] = Field(
        default_factory=dict, description="Trainers that learn a video LoRA of the person from the same photos."
    )
    data: str = Field(description="How fresh the catalogue and prices are.")
