"""What prompt_library answers with besides its own result: a template rendered for a model. Kept apart from the
behaviour so the server starts without importing it."""

from typing import Any

from pydantic import Field

from tools.result_model import ResultModel


class Rendered(ResultModel):
    prompt: str
    trigger_word: str
    model: str | None = Field(description="Model reference whose trigger word was used, if any.")
    input_params: dict[str, Any] = Field(description="prompt + the template's settings, ready for generation.")
    lora_scale: float | None
    motion_prompt: str | None = Field(default=None, description="A video scenario's motion, for the video tool.")
