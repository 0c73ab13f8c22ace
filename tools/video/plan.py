"""The request for one clip, built from an endpoint's facts and what the person asked (pure functions).

Everything here is decided before any money is spent: the body for the video endpoint, the still to make (its
prompt and size) when a model is named, and the refusals for what the endpoint does not offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.catalog.pricing import SIZE_PRESETS
from server.errors import InvalidInput
from tools.video.facts import (
    SIZE_PRESET_FOR_ASPECT,
    VideoFacts,
    aspect_fields,
    check_still,
    duration_fields,
    resolution_fields,
)

DEFAULT_STILL_SIZE = "landscape_16_9"
STILL_SIZES = SIZE_PRESETS  # fal's image-size presets in px (what fal-ai/flux-lora makes for each)
STILL_PROMPT = "photo of {trigger}, {motion}, natural light, sharp focus, high quality"
ASPECT_TOLERANCE = 0.03  # a still within 3 % of the asked shape counts as that shape
MAX_PROMPT_CHARS = 2000


@dataclass(frozen=True)
class VideoAsk:
    """What the person asked for the clip."""

    prompt: str  # the motion
    duration_seconds: float | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    input_params: dict[str, Any] = field(default_factory=dict)  # more of the endpoint's own inputs (seed …)


def check_ask(ask: VideoAsk) -> None:
    text = ask.prompt.strip()
    if not text:
        raise InvalidInput("prompt is empty: describe the motion, e.g. 'waves hello at the camera, then smiles'")
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInput(f"prompt is {len(text)} characters: keep the motion prompt under {MAX_PROMPT_CHARS}")


def video_body(
    facts: VideoFacts,
    ask: VideoAsk,
    *,
    image_url: str | None,
    loras: list[dict[str, Any]] | None = None,
    still_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The body for the video endpoint. `still_size` (w, h) is the start image's, for the shape check."""
    if facts.prompt_field is None:
        raise InvalidInput(f"{facts.endpoint} takes no prompt: choose an endpoint that takes a motion prompt")
    owned = {facts.prompt_field, facts.start_image_field, facts.lora_field, "aspect_ratio", "resolution"}
    owned |= {facts.duration.field} if facts.duration else set()
    clashes = sorted(name for name in ask.input_params if name in owned)
    if clashes:
        raise InvalidInput(
            f"input_params sets {', '.join(clashes)}, which this tool fills from its own arguments (prompt, "
            "duration_seconds, aspect_ratio, resolution, the still, the model's LoRA): pass them there instead"
        )
    body: dict[str, Any] = dict(ask.input_params)
    body[facts.prompt_field] = ask.prompt.strip()
    if image_url is not None:
        if facts.start_image_field is None:
            raise InvalidInput(f"{facts.endpoint} takes no start image: choose an image-to-video endpoint")
        body[facts.start_image_field] = image_url
    body |= duration_fields(facts, ask.duration_seconds)
    body |= resolution_fields(facts, ask.resolution)
    if facts.aspect_ratios or image_url is None:
        body |= aspect_fields(facts, ask.aspect_ratio)
    elif ask.aspect_ratio is not None and still_size is not None:
        _check_still_shape(facts, ask.aspect_ratio, still_size)
    if loras:
        if facts.lora_field is None:
            raise InvalidInput(f"{facts.endpoint} takes no LoRA: choose an endpoint whose schema has 'loras'")
        body[facts.lora_field] = loras
    return body


def still_size_for(ask: VideoAsk, facts: VideoFacts, template_size: str | None = None) -> str:
    """The image-size preset of the still to make: the asked shape, else the scenario's, else landscape 16:9."""
    if ask.aspect_ratio is not None:
        preset = SIZE_PRESET_FOR_ASPECT.get(ask.aspect_ratio)
        if preset is None:
            offered = ", ".join(SIZE_PRESET_FOR_ASPECT)
            raise InvalidInput(
                f"a still can be made at aspect_ratio {offered}, not {ask.aspect_ratio!r}: pass one of those"
            )
        size = preset
    else:
        size = template_size if template_size in STILL_SIZES else DEFAULT_STILL_SIZE
    width, height = STILL_SIZES[size]
    check_still(facts, width, height, 0)  # file size is checked again on the real still
    return size


def still_prompt(trigger_word: str, motion: str, given: str | None = None) -> str:
    """The still's prompt: the one given, else the motion as a photo of the person (trigger word first)."""
    if given and given.strip():
        return given.strip()
    return STILL_PROMPT.format(trigger=trigger_word, motion=motion.strip().rstrip("."))


def _check_still_shape(facts: VideoFacts, aspect_ratio: str, still_size: tuple[int, int]) -> None:
    width, height = still_size
    across, _, down = aspect_ratio.partition(":")
    try:
        wanted = float(across) / float(down)
    except (ValueError, ZeroDivisionError):
        raise InvalidInput(f"aspect_ratio {aspect_ratio!r} is not W:H, e.g. 9:16") from None
    actual = width / height if height else 0.0
    if abs(actual - wanted) > ASPECT_TOLERANCE * wanted:
        raise InvalidInput(
            f"{facts.endpoint} has no aspect-ratio setting: the clip takes the still's shape, {width}×{height} px, "
            f"not {aspect_ratio}. Crop the still to {aspect_ratio}, leave aspect_ratio out, or choose an endpoint "
            "with an aspect_ratio setting"
        )
