"""Turn start_training's arguments into the exact fal request, with the guide's advice as warnings.

Pure functions over a trainer's profile (read from fal's schema, server/catalog/trainers.py): no I/O except
reading a local zip's captions. The body is checked against the trainer's own schema before anything is spent.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.catalog import validate
from server.catalog.pricing import Estimate
from server.catalog.trainers import TrainerProfile
from server.errors import InvalidInput
from server.storage import to_json
from tools.models.registry import validate_model_name
from tools.training.trigger_words import check_trigger_word

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MAX_CONCEPTS = 10
MAX_CAPTION_BYTES = 4096  # far beyond any trainer's text encoder; the trigger-word checks read the start
MAX_CAPTIONS = 5000
_NO_STYLE = (
    "{name} has no style mode in its schema. For style training use model_type 'flux-lora' (is_style) or "
    "'flux-lora-turbo' (training_style=style)."
)
PLACEHOLDER = "[trigger]"


@dataclass
class DatasetSource:
    url: str
    dataset_id: str | None = None
    trigger_word: str | None = None
    image_count: int | None = None
    zip_path: Path | None = None


@dataclass
class TrainingPlan:
    trainer: TrainerProfile
    model_name: str
    body: dict[str, Any]
    steps: int
    trigger_word: str
    concepts: list[str]
    style: bool
    estimate: Estimate | None = None  # set once priced (pricing may read fal's pricing API)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def estimate_usd(self) -> float:
        return self.estimate.usd if self.estimate else 0.0

    @property
    def price_note(self) -> str:
        return self.estimate.basis if self.estimate else "not priced"

    @property
    def request_hash(self) -> str:
        """Idempotency key: the endpoint and the exact body fal would receive."""
        return hashlib.sha256(to_json({"endpoint": self.trainer.endpoint, "input": self.body}).encode()).hexdigest()


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


def resolve_steps(trainer: TrainerProfile, steps: int | None, num_epochs: int | None) -> tuple[int, list[str]]:
    notes = []
    if steps is not None and num_epochs is not None and steps != num_epochs:
        raise InvalidInput(
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
        steps = trainer.steps_default
        notes.append(f"steps not given: using {trainer.alias}'s default of {steps} (always sent explicitly).")
    low, high = trainer.steps_range
    if not low <= steps <= high:
        raise InvalidInput(
            f"steps={steps} is outside what {trainer.endpoint} accepts ({low}–{high}, default "
            f"{trainer.steps_default}; fal's schema)."
        )
    return steps, notes


def steps_advice(trainer: TrainerProfile) -> tuple[int, int, int, int]:
    """(warn below, recommended low, recommended high, warn above) around the trainer's default steps."""
    default = trainer.steps_default
    return int(default * 0.5), int(default * 0.75), int(default * 1.5), int(default * 2)


def steps_warnings(trainer: TrainerProfile, steps: int) -> list[str]:
    warn_below, rec_low, rec_high, warn_above = steps_advice(trainer)
    if steps < warn_below:
        return [
            f"steps={steps} is below {warn_below}: the likeness is usually weak (undertrained). "
            f"{rec_low}–{rec_high} steps is the recommended range for {trainer.alias}."
        ]
    if steps > warn_above:
        return [
            f"steps={steps} is above {warn_above}: diminishing returns and a risk of overfitting (the model copies "
            f"the training photos), at higher cost. {rec_low}–{rec_high} is the recommended range."
        ]
    if not rec_low <= steps <= rec_high:
        return [f"steps={steps} is outside the recommended {rec_low}–{rec_high} for {trainer.alias}, but acceptable."]
    return []


def resolve_learning_rate(trainer: TrainerProfile, learning_rate: float | None) -> tuple[float | None, list[str]]:
    if trainer.learning_rate_range is None:
        if learning_rate is not None:
            raise InvalidInput(
                f"{trainer.alias} ({trainer.endpoint}) has no learning-rate setting in fal's schema; fal picks it. "
                "Leave learning_rate out, or pick a trainer that takes one (see the trainer guide)."
            )
        return None, []
    if learning_rate is None:
        return trainer.learning_rate_default, []
    low, high = trainer.learning_rate_range
    default = trainer.learning_rate_default
    if not low <= learning_rate <= high:
        raise InvalidInput(
            f"learning_rate={learning_rate:g} is outside what {trainer.endpoint} accepts ({low:g}–{high:g})"
            + (f"; its default is {default:g}." if default else ".")
        )
    warnings = []
    if default:
        advice_low, advice_high = default / 5, default * 5
        if learning_rate < advice_low:
            warnings.append(
                f"learning_rate={learning_rate:g} is very low, far below {trainer.alias}'s default {default:g}: the "
                "model may barely learn the face in the given steps."
            )
        elif learning_rate > advice_high:
            warnings.append(
                f"learning_rate={learning_rate:g} is high, far above {trainer.alias}'s default {default:g}: risk of "
                "overfitting and artefacts."
            )
    return learning_rate, warnings


def precheck(
    trainer: TrainerProfile,
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
    resolve_steps(trainer, steps, num_epochs)
    resolve_learning_rate(trainer, learning_rate)
    if style and trainer.style_options is None:
        raise InvalidInput(_NO_STYLE.format(name=trainer.alias))


def build_plan(
    trainer: TrainerProfile,
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
        raise InvalidInput(
            "trigger_word is required (the dataset does not name one): pick a unique made-up token such as SIDAI, "
            "and use it in captions and prompts."
        )
    warnings = list(check_trigger_word(trigger))
    if source.trigger_word and trigger != source.trigger_word:
        warnings.append(
            f"trigger_word {trigger!r} differs from the dataset's {source.trigger_word!r}; captions written for the "
            "dataset use the dataset's word."
        )
    steps_value, notes = resolve_steps(trainer, steps, num_epochs)
    warnings += steps_warnings(trainer, steps_value)
    rate, rate_warnings = resolve_learning_rate(trainer, learning_rate)
    warnings += rate_warnings

    extra = _check_concepts(trigger, concepts or [])
    if style and trainer.style_options is None:
        raise InvalidInput(_NO_STYLE.format(name=trainer.alias))
    images = zip_facts.image_count if zip_facts else source.image_count
    if images is not None and images < trainer.min_images:
        raise InvalidInput(
            f"The dataset has {images} images; {trainer.endpoint} needs at least {trainer.min_images}. Add photos "
            "(15–30 varied photos give the best likeness) and prepare the dataset again."
        )
    if images is not None and images < trainer.recommended_images:
        warnings.append(
            f"Only {images} images: fal advises at least {trainer.recommended_images} for {trainer.endpoint} "
            "(15–30 varied photos give the best likeness)."
        )
    if images is None:
        notes.append(
            f"Image count unknown for a URL dataset: {trainer.endpoint} needs at least {trainer.min_images} images, "
            "or fal fails the job."
        )
    warnings += _caption_warnings(trainer, trigger, extra, style, zip_facts)
    if extra and zip_facts is None:
        notes.append(
            "Multi-concept training: the captions in the zip must contain each trigger token "
            f"({', '.join([trigger, *extra])}) on the images of that concept; this could not be checked for a URL."
        )

    body = _body(trainer, source.url, trigger, steps_value, rate, style, notes)
    return TrainingPlan(
        trainer=trainer,
        model_name=model_name,
        body=body,
        steps=steps_value,
        trigger_word=trigger,
        concepts=extra,
        style=style,
        warnings=warnings,
        notes=notes,
    )


def _body(
    trainer: TrainerProfile, url: str, trigger: str, steps: int, rate: float | None, style: bool, notes: list[str]
) -> dict[str, Any]:
    """The exact request for this trainer, in its own field names; refused if its schema would refuse it."""
    assert trainer.data_field is not None  # a trainer without one never fits (server/catalog/trainers.py)
    body: dict[str, Any] = {trainer.data_field: url}
    if trainer.trigger_field:
        body[trainer.trigger_field] = trigger
    elif trainer.trigger_mode == "default_caption":
        body["default_caption"] = f"a photo of {trigger}"
        notes.append(
            f"{trainer.alias} has no trigger field: captions carry {trigger!r}; default_caption "
            f"'a photo of {trigger}' covers any image without a caption."
        )
    if trainer.steps_field:
        body[trainer.steps_field] = steps
    if rate is not None:
        body["learning_rate"] = rate
    body.update(trainer.style_options if style and trainer.style_options else trainer.person_options)
    if style:
        notes.append(f"Style training: {', '.join(f'{k}={v}' for k, v in (trainer.style_options or {}).items())}.")
    if trainer.data_field == "images_data_url" and not url.lower().split("?")[0].endswith(".zip"):
        notes.append("The dataset URL does not end in .zip: fal infers the archive format from the URL.")
    refused = validate.problems(trainer.input_schema, body)
    if refused:
        raise InvalidInput(
            f"The request for {trainer.endpoint} would be refused by fal's schema: "
            + "; ".join(problem.message for problem in refused)
        )
    return body


def _check_concepts(trigger: str, concepts: list[str]) -> list[str]:
    extra = []
    for token in concepts:
        token = token.strip()
        if not token or token == trigger or token in extra:
            continue
        check_trigger_word(token)  # unusable tokens raise; the main word's warnings are enough noise
        extra.append(token)
    if len(extra) > MAX_CONCEPTS:
        raise InvalidInput(f"{len(extra)} extra concepts given; at most {MAX_CONCEPTS} are supported in one training.")
    return extra


def _caption_warnings(
    trainer: TrainerProfile, trigger: str, extra: list[str], style: bool, facts: ZipFacts | None
) -> list[str]:
    if facts is None:
        return []
    if not facts.captions:
        if extra:
            raise InvalidInput(
                "Multi-concept training needs captions: the zip has no .txt captions, so fal cannot tell the "
                f"concepts {', '.join([trigger, *extra])} apart. Caption each image with its concept's token."
            )
        return []
    warnings = []
    texts = list(facts.captions.values())
    placeholder = PLACEHOLDER
    with_placeholder = sum(placeholder in text for text in texts)
    if with_placeholder and trainer.trigger_mode != "trigger_phrase":
        raise InvalidInput(
            f"{with_placeholder} caption(s) in the zip use the {placeholder} placeholder, which only trainers with a "
            f"trigger_phrase replace; {trainer.endpoint} would learn the literal text. Write the trigger word "
            f"{trigger!r} into the captions (prepare_dataset does), or use a trigger_phrase trainer such as "
            "flux-lora-portrait."
        )
    for token in [trigger, *extra]:
        hits = sum(token.lower() in text.lower() or placeholder in text for text in texts)
        if hits == 0 and extra:
            raise InvalidInput(
                f"Multi-concept training: no caption in the zip mentions {token!r}. Caption the images of each "
                "concept with its token, then prepare the dataset again."
            )
        if (
            token == trigger
            and hits < len(texts)
            and not extra
            and not style
            and trainer.trigger_mode != ("trigger_phrase")
        ):
            warnings.append(
                f"{len(texts) - hits} of {len(texts)} captions do not contain {trigger!r}; with captions present "
                f"{trainer.alias} does not add the trigger word itself ({trainer.caption_rule})."
            )
    return warnings
