"""What the model tools answer with: a model and its versions. Kept apart from the registry so the server starts
without importing it."""

from typing import Any

from pydantic import Field

from tools.result_model import ResultModel


class ModelVersion(ResultModel):
    id: str
    model_name: str
    version: int
    trigger_word: str
    base_endpoint: str = Field(description="Inference endpoint that takes this LoRA, e.g. fal-ai/flux-lora.")
    lora_url: str | None = None
    lora_path: str | None = Field(default=None, description="Local copy of the LoRA weights.")
    lora_sha256: str | None = None
    lora_scale: float = 1.0
    source: str = Field(description="trained | external")
    training_id: str | None = None
    dataset_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    cost_usd: float = 0.0
    notes: str = ""
    created_at: str
    is_default: bool = False


class ModelSummary(ResultModel):
    name: str
    default_version: int | None = Field(description="Pinned default; None means the newest version.")
    effective_version: int | None
    versions: list[int]
    aliases: list[str]
    trigger_word: str | None
    base_endpoint: str | None
    description: str = ""
