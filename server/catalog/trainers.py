"""fal's trainers read from their schemas: what each one takes, how it reads captions, what it returns.

Everything comes from the trainer's catalogue entry (input and output schemas, pairing); `OVERRIDES` holds the
few facts a schema cannot say. Trainers that do not learn a person from a photo set are kept with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from server.catalog.service import CatalogEntry

TriggerMode = Literal["trigger_word", "trigger_phrase", "default_caption", "none"]
DATA_FIELDS = ("images_data_url", "image_data_url", "training_data_url")
STEPS_FIELDS = ("steps", "number_of_steps")
# Boolean options that help a person's likeness, set on for a person and off for a style.
FACE_FLAGS = ("create_masks", "face_crop", "subject_crop", "use_face_detection", "use_masks")
LIKENESS_FLAGS = (*FACE_FLAGS, "use_face_cropping", "multiresolution_training")
MIN_IMAGES = 4  # fal fails a training with fewer
FALLBACK_STEPS = 1000

# Old model_type names (kept working) → fal endpoint ids.
LEGACY_ALIASES = {
    "flux-lora": "fal-ai/flux-lora-fast-training",
    "flux-lora-portrait": "fal-ai/flux-lora-portrait-trainer",
    "flux-lora-turbo": "fal-ai/turbo-flux-trainer",
}
DEFAULT_TRAINER = "fal-ai/flux-lora-fast-training"

# What a schema cannot say. Keep this small.
OVERRIDES: dict[str, dict[str, Any]] = {
    # two LoRA files; the inference endpoint loads each into one transformer (fal's model page)
    "fal-ai/wan-22-image-trainer": {"lora_transformers": {"diffusers_lora_file": "low", "high_noise_lora": "high"}},
    # schemas without a steps default: fal's documented default
    "fal-ai/flux-lora-fast-training": {"steps_default": 1000},
    "fal-ai/flux-krea-trainer": {"steps_default": 1000},
}

# Video trainers: they fit a person when they learn from photos and their LoRA runs on a text-to-video endpoint.
_VIDEO = re.compile(r"video|v2v|wan-trainer|ltx|hunyuan")
TEXT_TO_VIDEO = "text-to-video"

# Why a trainer does not fit a person's photo set, recognised from its id, pairing and category.
_NOT_PERSON = (
    (re.compile(r"edit|kontext"), "an edit trainer: it learns an edit from before/after image pairs, not a person"),
    (re.compile(r"layered"), "learns to split images into layers, not a person"),
    (re.compile(r"create-style|recraft"), "style-only: it learns a visual style and returns a style id, no LoRA"),
    (re.compile(r"3d|mesh|trellis|hunyuan3d"), "a 3D trainer: it learns shapes, not a person from photos"),
    (re.compile(r"audio|speech|voice|tts|music"), "an audio trainer: it learns sound, not a person"),
)


@dataclass(frozen=True)
class TrainerProfile:
    endpoint: str
    alias: str
    title: str
    status: str
    fits: bool
    reason: str  # why it does not fit a person's photos ("" when it fits)
    data_field: str | None
    trigger_mode: TriggerMode
    trigger_field: str | None
    trigger_required: bool
    steps_field: str | None
    steps_default: int
    steps_range: tuple[int, int]
    learning_rate_default: float | None
    learning_rate_range: tuple[float, float] | None
    person_options: dict[str, Any]
    style_options: dict[str, Any] | None  # None: the trainer has no style switch
    likeness_options: tuple[str, ...]  # names of the likeness-oriented options it has
    lora_outputs: tuple[str, ...]  # result fields holding LoRA files, main one first
    lora_transformers: dict[str, str]  # LoRA field → `transformer` value at inference (Wan 2.2)
    inference_endpoints: tuple[str, ...]  # a video trainer's text-to-video endpoint first
    recommended_images: int
    min_images: int = MIN_IMAGES
    input_schema: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    makes: Literal["image", "video"] = "image"  # what its LoRA makes (a video LoRA runs through the video tool)

    @property
    def caption_rule(self) -> str:
        return {
            "trigger_word": f"{self.trigger_field} is used only for images without a caption: every caption must "
            "contain the trigger word itself",
            "trigger_phrase": f"{self.trigger_field} replaces a literal [trigger] in captions and captions images "
            "that have none",
            "default_caption": "no trigger field: captions carry the token; default_caption (sent with the token) "
            "covers images without a caption",
            "none": "no trigger or caption field: the captions in the zip are all it reads",
        }[self.trigger_mode]


def short_alias(endpoint: str) -> str:
    return endpoint.removeprefix("fal-ai/")


def _lora_outputs(entry: CatalogEntry) -> tuple[str, ...]:
    names = [
        name
        for name, schema in entry.output_properties.items()
        if "lora" in name and isinstance(schema, dict) and "url" in (schema.get("properties") or {})
    ]
    return tuple(sorted(names, key=lambda name: (name not in ("diffusers_lora_file", "lora_file"), name)))


def _range(schema: dict[str, Any], low: float, high: float) -> tuple[float, float]:
    return (
        float(schema.get("minimum", schema.get("exclusiveMinimum", low))),
        float(schema.get("maximum", schema.get("exclusiveMaximum", high))),
    )


def _not_person_reason(entry: CatalogEntry, inference: list[CatalogEntry | None]) -> str:
    text = f"{entry.endpoint_id} {entry.category}".lower()
    for pattern, reason in _NOT_PERSON:
        if pattern.search(text):
            return reason
    known = [item for item in inference if item is not None]
    if _VIDEO.search(text):
        return _video_reason(entry, known)
    if known and not any(item.category == "text-to-image" for item in known):
        return f"its LoRA runs on {', '.join(item.category for item in known)} endpoints, not text to image"
    return ""


def _video_reason(entry: CatalogEntry, paired: list[CatalogEntry]) -> str:
    """A video trainer fits a person's photo set when it learns from images and its LoRA runs from text."""
    data: dict[str, Any] = next((entry.properties[name] for name in DATA_FIELDS if name in entry.properties), {})
    if "image" not in str(data.get("description", "")).lower():
        return "a video trainer that learns from video clips, not photos"
    if not any(item.category == TEXT_TO_VIDEO for item in paired):
        runs_on = ", ".join(sorted({item.category for item in paired})) or "no known"
        return (
            f"a video trainer whose LoRA runs on {runs_on} endpoints; the video tool runs a person's video LoRA "
            "from text (wan-trainer/t2v-14b, ltx2-video-trainer, hunyuan-video-lora-training)"
        )
    return ""


def profile(entry: CatalogEntry, inference: list[CatalogEntry | None]) -> TrainerProfile:
    """The trainer `entry` as this server uses it; `inference` holds its paired endpoints' entries (None: unknown)."""
    props = entry.properties
    override = OVERRIDES.get(entry.endpoint_id, {})
    required = set((entry.input_schema or {}).get("required") or [])
    data_field = next((name for name in DATA_FIELDS if name in props), None)
    outputs = _lora_outputs(entry)
    reason = _not_person_reason(entry, inference)
    video = bool(_VIDEO.search(f"{entry.endpoint_id} {entry.category}".lower()))
    if not reason and data_field is None:
        reason = "its schema takes no zip of images"
    if not reason and not outputs:
        reason = "it returns no LoRA file"
    if "trigger_word" in props:
        mode: TriggerMode = "trigger_word"
    elif "trigger_phrase" in props:
        mode = "trigger_phrase"
    elif "default_caption" in props:
        mode = "default_caption"
    else:
        mode = "none"
    trigger_field = None if mode in ("default_caption", "none") else mode
    steps_field = next((name for name in STEPS_FIELDS if name in props), None)
    steps_schema = props.get(steps_field, {}) if steps_field else {}
    low, high = _range(steps_schema, 1, 10000)
    default = override.get("steps_default", steps_schema.get("default", FALLBACK_STEPS))
    default = int(min(max(default, low), high))
    rate_schema = props.get("learning_rate")
    rate_default = float(rate_schema["default"]) if rate_schema and "default" in rate_schema else None
    rate_range = _range(rate_schema, 1e-7, 1.0) if rate_schema else None
    person: dict[str, Any] = {name: True for name in FACE_FLAGS if props.get(name, {}).get("type") == "boolean"}
    if "multiresolution_training" in props:
        person["multiresolution_training"] = True
    style: dict[str, Any] | None = None
    if props.get("is_style", {}).get("type") == "boolean":
        person["is_style"], style = False, {"is_style": True}
    elif "subject" in (props.get("training_style", {}).get("enum") or []):
        person["training_style"], style = "subject", {"training_style": "style"}
    elif "content" in (props.get("training_type", {}).get("enum") or []):
        person["training_type"], style = "content", {"training_type": "style"}
    if style is not None:
        style.update({name: False for name in FACE_FLAGS if name in person})
    description = str(props.get(data_field, {}).get("description", "")) if data_field else ""
    advised = re.search(r"at least (\d+) images", description)
    return TrainerProfile(
        endpoint=entry.endpoint_id,
        alias=short_alias(entry.endpoint_id),
        title=entry.display_name or entry.endpoint_id,
        status=entry.status,
        fits=not reason,
        reason=reason,
        data_field=data_field,
        trigger_mode=mode,
        trigger_field=trigger_field,
        trigger_required=bool(trigger_field and trigger_field in required),
        steps_field=steps_field,
        steps_default=default,
        steps_range=(int(low), int(high)),
        learning_rate_default=rate_default,
        learning_rate_range=rate_range,
        person_options=person,
        style_options=style,
        likeness_options=tuple(name for name in LIKENESS_FLAGS if name in props),
        lora_outputs=outputs,
        lora_transformers=dict(override.get("lora_transformers", {})),
        inference_endpoints=_text_to_video_first(entry.inference_endpoint_ids, inference)
        if video
        else entry.inference_endpoint_ids,
        recommended_images=max(int(advised.group(1)) if advised else 10, MIN_IMAGES),
        input_schema=entry.input_schema,
        makes="video" if video else "image",
    )


def _text_to_video_first(endpoints: tuple[str, ...], inference: list[CatalogEntry | None]) -> tuple[str, ...]:
    text_first = {item.endpoint_id for item in inference if item is not None and item.category == TEXT_TO_VIDEO}
    return tuple(sorted(endpoints, key=lambda endpoint: endpoint not in text_first))
