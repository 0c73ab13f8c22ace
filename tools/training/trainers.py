"""Trainer presets: the one table of what each fal LoRA trainer takes, costs and produces.

Validation, request building, cost estimates and the tool docs all read `PRESETS`; nothing else in the
project hard-codes a trainer field name. Facts come from shared/docs/fal-api.md §5 and §7.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError


@dataclass(frozen=True)
class TrainerPreset:
    name: str  # the model_type an agent passes
    endpoint: str  # fal queue endpoint
    title: str
    data_field: str  # input field for the zip URL
    trigger_field: str  # trigger_word | trigger_phrase
    steps_default: int
    steps_range: tuple[int, int]  # hard limits from fal's schema
    steps_advice: tuple[int, int, int, int]  # (warn below, recommended low, recommended high, warn above)
    learning_rate_default: float | None  # None: the trainer takes no learning rate
    learning_rate_range: tuple[float, float] | None  # fal's hard limits
    learning_rate_advice: tuple[float, float] | None  # outside this, warn
    output_key: str  # result key holding the LoRA File
    inference_endpoint: str  # endpoint that runs the trained LoRA
    usd_per_1000_steps: float
    price_verified: bool
    min_images: int  # below this fal fails the job
    recommended_images: int  # below this, warn (fal's docs: "try to use at least 10")
    style_field: str | None  # how "style training" is asked for, if supported
    fixed_inputs: dict[str, Any] = field(default_factory=dict)  # documented defaults we send explicitly
    notes: str = ""

    def estimate_usd(self, steps: int) -> float:
        return round(self.usd_per_1000_steps * steps / 1000.0, 4)

    @property
    def price_note(self) -> str:
        basis = f"${self.usd_per_1000_steps:.2f} per 1000 steps, linear in steps"
        if self.price_verified:
            return f"{basis} (fal's published price)."
        return f"{basis} — ASSUMPTION: fal publishes no price for {self.endpoint}; check your fal dashboard."


PRESETS: dict[str, TrainerPreset] = {
    preset.name: preset
    for preset in (
        TrainerPreset(
            name="flux-lora",
            endpoint="fal-ai/flux-lora-fast-training",
            title="FLUX LoRA fast training (default)",
            data_field="images_data_url",
            trigger_field="trigger_word",
            steps_default=1000,
            steps_range=(1, 10000),
            steps_advice=(500, 1000, 1500, 2000),
            learning_rate_default=None,
            learning_rate_range=None,
            learning_rate_advice=None,
            output_key="diffusers_lora_file",
            inference_endpoint="fal-ai/flux-lora",
            usd_per_1000_steps=2.0,
            price_verified=True,
            min_images=4,
            recommended_images=10,
            style_field="is_style",
            notes="Best general choice. No learning-rate control. With captions in the zip, fal does not add the "
            "trigger word: every caption must contain it. is_style=true turns off face masks and auto-captions.",
        ),
        TrainerPreset(
            name="flux-lora-portrait",
            endpoint="fal-ai/flux-lora-portrait-trainer",
            title="FLUX LoRA portrait trainer",
            data_field="images_data_url",
            trigger_field="trigger_phrase",
            steps_default=2500,
            steps_range=(1, 10000),
            steps_advice=(1000, 2000, 3000, 4000),
            learning_rate_default=9e-5,
            learning_rate_range=(1e-6, 1e-3),
            learning_rate_advice=(1e-5, 5e-4),
            output_key="diffusers_lora_file",
            inference_endpoint="fal-ai/flux-lora",
            usd_per_1000_steps=2.4,
            price_verified=False,
            min_images=4,
            recommended_images=10,
            style_field=None,
            notes="Tuned for faces (subject crop, multi-resolution). fal advises >= 10 photos; a literal [trigger] in "
            "captions is replaced by the trigger phrase. Price unpublished: estimated like the turbo trainer.",
        ),
        TrainerPreset(
            name="flux-lora-turbo",
            endpoint="fal-ai/turbo-flux-trainer",
            title="FLUX LoRA turbo trainer",
            data_field="images_data_url",
            trigger_field="trigger_phrase",
            steps_default=1000,
            steps_range=(1, 10000),
            steps_advice=(500, 1000, 1500, 2000),
            learning_rate_default=0.00115,
            learning_rate_range=(1e-7, 0.01),
            learning_rate_advice=(1e-4, 3e-3),
            output_key="diffusers_lora_file",
            inference_endpoint="fal-ai/flux-lora",
            usd_per_1000_steps=2.4,
            price_verified=True,
            min_images=4,
            recommended_images=10,
            style_field="training_style",
            fixed_inputs={"face_crop": True},
            notes="Faster trainer with a high default learning rate (0.00115). fal advises >= 10 photos; "
            "training_style subject|style; face_crop on for people.",
        ),
    )
}

DEFAULT_PRESET = "flux-lora"

# Names an agent may use (from the setup guide) that fal cannot train: explained, never guessed.
UNSUPPORTED: dict[str, str] = {
    "sdxl-lora": (
        "fal has no SDXL LoRA trainer, so model_type 'sdxl-lora' cannot be trained here. Train a FLUX LoRA instead "
        "(model_type 'flux-lora', the default). An SDXL LoRA trained elsewhere (kohya, civitai, ...) can still be "
        "used: register its .safetensors URL or file with manage_model(action='register_external', "
        "base_endpoint='fal-ai/lora', base_model='stabilityai/stable-diffusion-xl-base-1.0', ...) and run it."
    ),
    "sd15-lora": (
        "fal has no Stable Diffusion 1.5 LoRA trainer, so model_type 'sd15-lora' cannot be trained here. Train a "
        "FLUX LoRA instead (model_type 'flux-lora', the default). An SD 1.5 LoRA trained elsewhere can still be "
        "used: register it with manage_model(action='register_external', base_endpoint='fal-ai/lora', "
        "base_model='runwayml/stable-diffusion-v1-5', ...) and run it."
    ),
    "dreambooth": (
        "DreamBooth full fine-tuning is not offered by fal for FLUX (its one full fine-tune, flux-pro-trainer, is "
        "deprecated). What runs here is LoRA training, which is what fal serves with fal-ai/flux-lora: use "
        "model_type 'flux-lora' (default), 'flux-lora-portrait' or 'flux-lora-turbo'."
    ),
}
UNSUPPORTED_ALIASES = {
    "sdxl": "sdxl-lora",
    "sd15": "sd15-lora",
    "sd1.5-lora": "sd15-lora",
    "sd-1.5-lora": "sd15-lora",
    "dreambooth-flux": "dreambooth",
    "flux-dreambooth": "dreambooth",
    "full-finetune": "dreambooth",
    "full-fine-tune": "dreambooth",
    "finetune": "dreambooth",
}


def get_preset(model_type: str) -> TrainerPreset:
    key = model_type.strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    for preset in PRESETS.values():  # the fal endpoint id works too
        if key == preset.endpoint:
            return preset
    unsupported = UNSUPPORTED.get(UNSUPPORTED_ALIASES.get(key, key))
    if unsupported:
        raise ToolError(unsupported)
    raise ToolError(f"Unknown model_type {model_type!r}. Choose one of: {describe_choices()}.")


def preset_for_endpoint(endpoint: str) -> TrainerPreset | None:
    return next((p for p in PRESETS.values() if p.endpoint == endpoint), None)


def describe_choices() -> str:
    return "; ".join(f"{p.name} ({p.endpoint}, default {p.steps_default} steps)" for p in PRESETS.values())


def docs_table() -> str:
    """Markdown table of the presets, for README / tool docs (generated from the same facts)."""
    lines = [
        "| model_type | endpoint | trigger field | steps (range) | learning rate | images min/advised | price |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in PRESETS.values():
        rate = "not supported" if p.learning_rate_default is None else f"{p.learning_rate_default:g}"
        price = f"${p.usd_per_1000_steps:.2f}/1000 steps" + ("" if p.price_verified else " (assumed)")
        lines.append(
            f"| {p.name} | {p.endpoint} | {p.trigger_field} | {p.steps_default} ({p.steps_range[0]}–"
            f"{p.steps_range[1]}) | {rate} | {p.min_images} / {p.recommended_images}+ | {price} |"
        )
    lines.append("")
    lines += [f"- {p.name}: {p.notes}" for p in PRESETS.values()]
    return "\n".join(lines)
