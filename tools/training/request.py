"""Turn start_training's arguments into the exact fal request, with the guide's advice as warnings.

Pure functions over the preset table (tools/trainers.py): no I/O except reading a local zip's captions.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from server.storage import to_json
from tools.models.registry import validate_model_name
from tools.training.trainers import TrainerPreset
from tools.training.trigger_words import check_trigger_word

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MAX_CONCEPTS = 10
MAX_CAPTION_BYTES = 4096  # far beyond any trainer's text encoder; the trigger-word checks read the start
MAX_CAPTIONS = 5000
_NO_STYLE = (
    "{name} has no style mode. For style training use model_type 'flux-lora' (is_style) or 'flux-lora-turbo' "
    "(training_style=style)."
)


@dataclass
class DatasetSource:
    url: str
    dataset_id: str | None = None
    trigger_word: str | None = None
    image_count: int | None = None
    zip_path: Path | None = None


@dataclass
class TrainingPlan:
    preset: TrainerPreset
    model_name: str
    body: dict[str, Any]
    steps: int
    trigger_word: str
    concepts: list[str]
    style: bool
    estimate_usd: float
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def request_hash(self) -> str:
        """Idempotency key: the endpoint and the exact body fal would receive."""
        return hashlib.sha256(to_json({"endpoint": self.preset.endpoint, "input": self.body}).encode()).hexdigest()


@dataclass
class ZipFacts:
    image_count: int
    captions: dict[str, str]  # stem → caption text


def inspect_zip(path: Path) -> ZipFacts:
    """Images and captions in a training zip (blocking: run in a worker thread). Each caption is streamed and only
    its first MAX_CAPTION_BYTES read: a small zip can inflate to gigabytes."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/") and not Path(n).name.startswith(".")]
        images = [n for n in names if n.lower().endswith(IMAGE_SUFFIXES) and "_mask." not in n.lower()]
        captions: dict[str, str] = {}
        for name in (n for n in names if n.lower().endswith(".txt")):
            if len(captions) == MAX_CAPTIONS:
                break
            with archive.open(name) as member:
                captions[Path(name).stem] = member.read(MAX_CAPTION_BYTES).decode("utf-8", errors="replace")
    return ZipFacts(len(images), captions)


def resolve_steps(preset: TrainerPreset, steps: int | None, num_epochs: int | None) -> tuple[int, list[str]]:
    notes = []
    if steps is not None and num_epochs is not None and steps != num_epochs:
        raise ToolError(
            f"Both steps={steps} and num_epochs={num_epochs} were given. fal trainers count optimisation steps; "
            "num_epochs is only accepted as another name for steps. Pass just steps."
        )
    if steps is None and num_epochs is not None:
        steps = num_epochs
        notes.append(
            f"num_epochs={num_epochs} was taken as steps={num_epochs}: fal's trainers are configured in steps, "
            "not epochs."
        )
    if steps is None:
        steps = preset.steps_default
        notes.append(f"steps not given: using {preset.name}'s default of {steps}.")
    low, high = preset.steps_range
    if not low <= steps <= high:
        raise ToolError(f"steps={steps} is outside what {preset.endpoint} accepts ({low}–{high}).")
    return steps, notes


def steps_warnings(preset: TrainerPreset, steps: int) -> list[str]:
    warn_below, rec_low, rec_high, warn_above = preset.steps_advice
    if steps < warn_below:
        return [
            f"steps={steps} is below {warn_below}: the likeness is usually weak (undertrained). "
            f"{rec_low}–{rec_high} steps is the recommended range for {preset.name}."
        ]
    if steps > warn_above:
        return [
            f"steps={steps} is above {warn_above}: diminishing returns and a risk of overfitting (the model copies "
            f"the training photos), at higher cost. {rec_low}–{rec_high} is the recommended range."
        ]
    if not rec_low <= steps <= rec_high:
        return [f"steps={steps} is outside the recommended {rec_low}–{rec_high} for {preset.name}, but acceptable."]
    return []


def resolve_learning_rate(preset: TrainerPreset, learning_rate: float | None) -> tuple[float | None, list[str]]:
    if preset.learning_rate_default is None or preset.learning_rate_range is None:
        if learning_rate is not None:
            raise ToolError(
                f"{preset.name} ({preset.endpoint}) has no learning-rate setting; fal picks it. Leave learning_rate "
                "out, or use model_type 'flux-lora-portrait' or 'flux-lora-turbo', which accept one."
            )
        return None, []
    if learning_rate is None:
        return preset.learning_rate_default, []
    low, high = preset.learning_rate_range
    if not low <= learning_rate <= high:
        raise ToolError(
            f"learning_rate={learning_rate:g} is outside what {preset.endpoint} accepts ({low:g}–{high:g}); "
            f"its default is {preset.learning_rate_default:g}."
        )
    warnings = []
    if preset.learning_rate_advice:
        advice_low, advice_high = preset.learning_rate_advice
        if learning_rate < advice_low:
            warnings.append(
                f"learning_rate={learning_rate:g} is very low (advised {advice_low:g}–{advice_high:g}): the model may "
                "barely learn the face in the given steps."
            )
        elif learning_rate > advice_high:
            warnings.append(
                f"learning_rate={learning_rate:g} is high (advised {advice_low:g}–{advice_high:g}): risk of "
                "overfitting and artefacts."
            )
    return learning_rate, warnings


def precheck(
    preset: TrainerPreset,
    *,
    model_name: str,
    trigger_word: str | None,
    steps: int | None,
    num_epochs: int | None,
    learning_rate: float | None,
    style: bool,
) -> None:
    """The checks that need no dataset, run before anything is uploaded."""
    validate_model_name(model_name)
    if trigger_word:
        check_trigger_word(trigger_word)
    resolve_steps(preset, steps, num_epochs)
    resolve_learning_rate(preset, learning_rate)
    if style and preset.style_field is None:
        raise ToolError(_NO_STYLE.format(name=preset.name))


def build_plan(
    preset: TrainerPreset,
    source: DatasetSource,
    *,
    model_name: str,
    trigger_word: str | None,
    steps: int | None,
    num_epochs: int | None,
    learning_rate: float | None,
    style: bool,
    concepts: list[str] | None,
    zip_facts: ZipFacts | None,
) -> TrainingPlan:
    model_name = validate_model_name(model_name)
    trigger = (trigger_word or source.trigger_word or "").strip()
    if not trigger:
        raise ToolError(
            "trigger_word is required (the dataset does not name one): pick a unique made-up token such as SIDAI, "
            "and use it in captions and prompts."
        )
    warnings = list(check_trigger_word(trigger))
    if source.trigger_word and trigger != source.trigger_word:
        warnings.append(
            f"trigger_word {trigger!r} differs from the dataset's {source.trigger_word!r}; captions written for the "
            "dataset use the dataset's word."
        )
    steps_value, notes = resolve_steps(preset, steps, num_epochs)
    warnings += steps_warnings(preset, steps_value)
    rate, rate_warnings = resolve_learning_rate(preset, learning_rate)
    warnings += rate_warnings

    extra = _check_concepts(trigger, concepts or [])
    if style and preset.style_field is None:
        raise ToolError(_NO_STYLE.format(name=preset.name))
    images = zip_facts.image_count if zip_facts else source.image_count
    if images is not None and images < preset.min_images:
        raise ToolError(
            f"The dataset has {images} images; {preset.endpoint} needs at least {preset.min_images}. Add photos "
            "(15–30 varied photos give the best likeness) and prepare the dataset again."
        )
    if images is not None and images < preset.recommended_images:
        warnings.append(
            f"Only {images} images: fal advises at least {preset.recommended_images} for {preset.endpoint} "
            "(15–30 varied photos give the best likeness)."
        )
    if images is None:
        notes.append(
            f"Image count unknown for a URL dataset: {preset.endpoint} needs at least {preset.min_images} images, "
            "or fal fails the job."
        )
    warnings += _caption_warnings(preset, trigger, extra, style, zip_facts)
    if extra and zip_facts is None:
        notes.append(
            "Multi-concept training: the captions in the zip must contain each trigger token "
            f"({', '.join([trigger, *extra])}) on the images of that concept; this could not be checked for a URL."
        )

    body: dict[str, Any] = {preset.data_field: source.url, preset.trigger_field: trigger, "steps": steps_value}
    if rate is not None:
        body["learning_rate"] = rate
    body.update(preset.fixed_inputs)
    if preset.style_field == "is_style":
        body["is_style"] = style
        if style:
            notes.append("Style training: fal skips face masks and auto-captions (is_style=true).")
    elif preset.style_field == "training_style":
        body["training_style"] = "style" if style else "subject"
        if style:
            body["face_crop"] = False
    if preset.data_field == "images_data_url" and not source.url.lower().split("?")[0].endswith(".zip"):
        notes.append("The dataset URL does not end in .zip: fal infers the archive format from the URL.")
    return TrainingPlan(
        preset=preset,
        model_name=model_name,
        body=body,
        steps=steps_value,
        trigger_word=trigger,
        concepts=extra,
        style=style,
        estimate_usd=preset.estimate_usd(steps_value),
        warnings=warnings,
        notes=notes,
    )


def _check_concepts(trigger: str, concepts: list[str]) -> list[str]:
    extra = []
    for token in concepts:
        token = token.strip()
        if not token or token == trigger or token in extra:
            continue
        check_trigger_word(token)  # unusable tokens raise; the main word's warnings are enough noise
        extra.append(token)
    if len(extra) > MAX_CONCEPTS:
        raise ToolError(f"{len(extra)} extra concepts given; at most {MAX_CONCEPTS} are supported in one training.")
    return extra


def _caption_warnings(
    preset: TrainerPreset, trigger: str, extra: list[str], style: bool, facts: ZipFacts | None
) -> list[str]:
    if facts is None:
        return []
    if not facts.captions:
        if extra:
            raise ToolError(
                "Multi-concept training needs captions: the zip has no .txt captions, so fal cannot tell the "
                f"concepts {', '.join([trigger, *extra])} apart. Caption each image with its concept's token."
            )
        return []
    warnings = []
    texts = list(facts.captions.values())
    placeholder = "[trigger]"
    for token in [trigger, *extra]:
        hits = sum(token.lower() in text.lower() or placeholder in text for text in texts)
        if hits == 0 and extra:
            raise ToolError(
                f"Multi-concept training: no caption in the zip mentions {token!r}. Caption the images of each "
                "concept with its token, then prepare the dataset again."
            )
        if token == trigger and hits < len(texts) and not extra and not style and preset.name == "flux-lora":
            warnings.append(
                f"{len(texts) - hits} of {len(texts)} captions do not contain {trigger!r}; with captions present "
                "the fast trainer does not add the trigger word itself."
            )
    return warnings
