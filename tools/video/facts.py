"""What a fal video endpoint accepts, read from its published OpenAPI input schema (pure functions, no I/O).

fal's 255 video endpoints spell the same ideas differently: the start image is `image_url`, `start_image_url` or
`first_image_url`; the length is a `duration` enum of strings ("5", "8s") or integers, or a `num_frames` range with
an fps field beside it; the shape is an `aspect_ratio` enum or `video_size` presets. `video_facts` reads one
schema into one shape, and the checks refuse what the endpoint does not offer, naming what it does.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from server.catalog.requests import ASPECT_RATIOS
from server.catalog.service import CatalogEntry
from server.errors import InvalidInput

START_IMAGE_FIELDS = ("image_url", "start_image_url", "first_image_url", "input_image_url", "source_image_url")
PROMPT_FIELDS = ("prompt",)
FPS_FIELDS = ("frames_per_second", "fps", "frame_rate")
# aspect ratio → fal's size preset, for endpoints that take `video_size` instead of `aspect_ratio`
SIZE_PRESET_FOR_ASPECT = ASPECT_RATIOS
LIMIT_PATTERNS = {  # fal's limit_description / field description wording → ImageLimits field
    "max_file_size": r"Max file size:\s*([\d.]+)\s*MB",
    "max_width": r"Max width:\s*(\d+)\s*px",
    "max_height": r"Max height:\s*(\d+)\s*px",
    "min_width": r"Min width:\s*(\d+)\s*px",
    "min_height": r"Min height:\s*(\d+)\s*px",
    "min_aspect_ratio": r"Min aspect ratio:\s*([\d.]+)",
    "max_aspect_ratio": r"Max aspect ratio:\s*([\d.]+)",
}
MB = 1024 * 1024


@dataclass(frozen=True)
class DurationRule:
    """How an endpoint is told the clip length. `choices` are the schema's own values ("5", "8s", 6 …)."""

    field: str
    kind: Literal["choices", "seconds_range", "frames"]
    choices: tuple[Any, ...] = ()
    low: float | None = None  # seconds (seconds_range) or frames (frames)
    high: float | None = None
    default: Any = None
    fps_field: str | None = None
    default_fps: float | None = None  # frames: the fps the frame count is played at

    def offered(self) -> str:
        """The lengths on offer, for messages: '5 or 10 s', '1.1–10.1 s (17–161 frames at 16 fps)'."""
        if self.kind == "choices":
            seconds = [_format_seconds(_seconds_of_choice(choice)) for choice in self.choices]
            return (" or ".join([", ".join(seconds[:-1]), seconds[-1]]) if len(seconds) > 1 else seconds[0]) + " s"
        if self.kind == "frames" and self.default_fps:
            fps = self.default_fps
            return (
                f"{_format_seconds((self._low() - 1) / fps)}–{_format_seconds((self._high() - 1) / fps)} s "
                f"({self._low():g}–{self._high():g} frames at {fps:g} fps)"
            )
        unit = " frames" if self.kind == "frames" else " s"
        return f"{self._low():g}–{self._high():g}{unit}"

    def value_for(self, seconds: float) -> Any:
        """The body value for a clip of `seconds`; InvalidInput when the endpoint does not offer it."""
        if self.kind == "choices":
            for choice in self.choices:
                if math.isclose(_seconds_of_choice(choice), seconds, abs_tol=1e-6):
                    return choice
            raise InvalidInput(f"offers {self.offered()}, not {_format_seconds(seconds)} s")
        if self.kind == "seconds_range":
            if not self._low() <= seconds <= self._high():
                raise InvalidInput(f"offers {self.offered()}, not {_format_seconds(seconds)} s")
            return int(seconds) if float(seconds).is_integer() else seconds
        if not self.default_fps:
            raise InvalidInput(f"is told its length in frames without a known fps ({self.offered()})")
        frames = round(seconds * self.default_fps) + 1  # n frames span n - 1 intervals
        if not self._low() <= frames <= self._high():
            raise InvalidInput(f"offers {self.offered()}, not {_format_seconds(seconds)} s")
        return frames

    def default_seconds(self) -> float | None:
        """The length the endpoint makes when not told, if the schema says."""
        if self.default is None:
            return None
        if self.kind == "frames":
            return (float(self.default) - 1) / self.default_fps if self.default_fps else None  # n frames, n - 1 gaps
        return _seconds_of_choice(self.default)

    def longest_seconds(self) -> float | None:
        """The longest clip on offer, for a conservative cost estimate; None when the schema cannot tell."""
        if self.kind == "choices":
            return max(_seconds_of_choice(choice) for choice in self.choices)
        if self.kind == "frames":
            return (self._high() - 1) / self.default_fps if self.default_fps else None
        return self._high()

    def _low(self) -> float:
        return self.low if self.low is not None else 1.0

    def _high(self) -> float:
        return self.high if self.high is not None else self._low()


@dataclass(frozen=True)
class ImageLimits:
    """What the endpoint accepts as a start image, when fal states it (None: not stated)."""

    max_file_bytes: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    min_width: int | None = None
    min_height: int | None = None
    min_aspect_ratio: float | None = None  # width / height
    max_aspect_ratio: float | None = None

    def problem(self, width: int, height: int, size_bytes: int) -> str | None:
        """Why a still of this size is refused, with the fix; None when it fits."""
        if self.max_file_bytes is not None and size_bytes > self.max_file_bytes:
            return (
                f"the still is {size_bytes / MB:.1f} MB and the endpoint takes at most "
                f"{self.max_file_bytes / MB:.1f} MB: save it as a JPEG or make it smaller"
            )
        too_wide = self.max_width is not None and width > self.max_width
        too_tall = self.max_height is not None and height > self.max_height
        if too_wide or too_tall:
            return (
                f"the still is {width}×{height} px and the endpoint takes at most "
                f"{self.max_width or '∞'}×{self.max_height or '∞'} px: resize it to fit"
            )
        if (self.min_width is not None and width < self.min_width) or (
            self.min_height is not None and height < self.min_height
        ):
            return (
                f"the still is {width}×{height} px and the endpoint needs at least "
                f"{self.min_width or 0}×{self.min_height or 0} px: use a larger still"
            )
        ratio = width / height if height else 0.0
        if (self.min_aspect_ratio is not None and ratio < self.min_aspect_ratio) or (
            self.max_aspect_ratio is not None and ratio > self.max_aspect_ratio
        ):
            return (
                f"the still's aspect ratio {ratio:.2f} (width/height) is outside the endpoint's "
                f"{self.min_aspect_ratio or 0:.2f}–{self.max_aspect_ratio or 0:.2f}: crop it"
            )
        return None


@dataclass(frozen=True)
class VideoFacts:
    endpoint: str
    properties: frozenset[str]
    required: tuple[str, ...]
    prompt_field: str | None
    start_image_field: str | None
    duration: DurationRule | None
    aspect_field: str | None  # aspect_ratio (values as given) or video_size (preset names)
    aspect_ratios: tuple[str, ...]  # as the person says them: "16:9", "9:16", "1:1", "auto" …
    resolutions: tuple[str, ...]
    image_limits: ImageLimits | None
    lora_field: str | None
    lora_item_fields: frozenset[str]

    @property
    def takes_start_image(self) -> bool:
        return self.start_image_field is not None

    def unfilled_required(self, *, with_lora: bool = False) -> list[str]:
        """Required inputs this server does not fill (an audio track, a driving video, an effect name …)."""
        filled = {self.prompt_field, self.start_image_field, self.lora_field if with_lora else None}
        return [name for name in self.required if name not in filled]


def video_facts(endpoint: str, schema: dict[str, Any]) -> VideoFacts:
    """Read an endpoint's input schema (`$ref`s inlined, as the catalogue keeps it) into VideoFacts."""
    props: dict[str, dict[str, Any]] = {
        name: spec for name, spec in (schema.get("properties") or {}).items() if isinstance(spec, dict)
    }
    start = next((name for name in START_IMAGE_FIELDS if name in props), None)
    aspect_field, aspects = _aspects(props)
    lora_field = "loras" if props.get("loras", {}).get("type") == "array" else None
    lora_items = (props["loras"].get("items") or {}) if lora_field else {}
    return VideoFacts(
        endpoint=endpoint,
        properties=frozenset(props),
        required=tuple(schema.get("required") or ()),
        prompt_field=next((name for name in PROMPT_FIELDS if name in props), None),
        start_image_field=start,
        duration=_duration(props),
        aspect_field=aspect_field,
        aspect_ratios=aspects,
        resolutions=_enum(props.get("resolution")),
        image_limits=_image_limits(props[start]) if start else None,
        lora_field=lora_field,
        lora_item_fields=frozenset((lora_items.get("properties") or {}).keys()),
    )


def facts_of(entry: CatalogEntry) -> VideoFacts:
    """The facts of a catalogue entry (an endpoint without a published schema has none to offer)."""
    return video_facts(entry.endpoint_id, entry.input_schema or {})


# -- checks: each returns the body fields to send, or refuses naming what the endpoint offers --------------


def duration_fields(facts: VideoFacts, seconds: float | None) -> dict[str, Any]:
    if seconds is None:
        return {}
    if facts.duration is None:
        raise InvalidInput(
            f"{facts.endpoint} has no length setting (it makes clips of its own fixed length): leave "
            "duration_seconds out, or choose an endpoint that takes one"
        )
    try:
        value = facts.duration.value_for(seconds)
    except InvalidInput as refused:
        raise InvalidInput(
            f"{facts.endpoint} {refused.message}: pass duration_seconds as one of those, or choose another endpoint"
        ) from None
    return {facts.duration.field: value}


def aspect_fields(facts: VideoFacts, aspect_ratio: str | None) -> dict[str, Any]:
    if aspect_ratio is None:
        return {}
    if not facts.aspect_ratios:
        raise InvalidInput(
            f"{facts.endpoint} has no aspect-ratio setting (the clip follows the still's shape): leave "
            "aspect_ratio out and crop the still instead, or choose another endpoint"
        )
    if aspect_ratio not in facts.aspect_ratios:
        raise InvalidInput(
            f"{facts.endpoint} offers aspect_ratio {_listing(facts.aspect_ratios)}, not {aspect_ratio!r}: "
            "pass one of those, or choose another endpoint"
        )
    if facts.aspect_field == "video_size":
        return {"video_size": SIZE_PRESET_FOR_ASPECT[aspect_ratio]}
    return {"aspect_ratio": aspect_ratio}


def resolution_fields(facts: VideoFacts, resolution: str | None) -> dict[str, Any]:
    if resolution is None:
        return {}
    if not facts.resolutions:
        raise InvalidInput(
            f"{facts.endpoint} has no resolution setting: leave resolution out, or choose another endpoint"
        )
    if resolution not in facts.resolutions:
        raise InvalidInput(
            f"{facts.endpoint} offers resolution {_listing(facts.resolutions)}, not {resolution!r}: "
            "pass one of those, or choose another endpoint"
        )
    return {"resolution": resolution}


def check_still(facts: VideoFacts, width: int, height: int, size_bytes: int) -> None:
    """Refuse a start image the endpoint states it does not accept."""
    if facts.image_limits is None:
        return
    problem = facts.image_limits.problem(width, height, size_bytes)
    if problem:
        raise InvalidInput(f"{facts.endpoint}: {problem}")


def clip_seconds(facts: VideoFacts, seconds: float | None) -> float | None:
    """The length the clip will have: asked, else the endpoint's default, else None (not stated)."""
    if seconds is not None:
        return seconds
    return facts.duration.default_seconds() if facts.duration else None


# -- reading the schema -------------------------------------------------------------------------------------


def _duration(props: dict[str, dict[str, Any]]) -> DurationRule | None:
    spec = props.get("duration")
    if spec is not None:
        choices = _enum(spec, keep_types=True)
        if choices:
            return DurationRule("duration", "choices", choices=choices, default=spec.get("default"))
        low, high = spec.get("minimum"), spec.get("maximum")
        if isinstance(low, int | float) or isinstance(high, int | float):
            return DurationRule("duration", "seconds_range", low=low, high=high, default=spec.get("default"))
        default = spec.get("default")
        if isinstance(default, int | float):  # a free integer: only its default is known to work
            return DurationRule("duration", "choices", choices=(default,), default=default)
        return None
    spec = props.get("num_frames")
    if spec is None:
        return None
    frame_choices = [float(value) for value in _enum(spec) if re.fullmatch(r"\d+", value)]
    fps_field = next((name for name in FPS_FIELDS if name in props), None)
    fps_default = props[fps_field].get("default") if fps_field else None
    return DurationRule(
        "num_frames",
        "frames",
        low=min(frame_choices) if frame_choices else spec.get("minimum"),
        high=max(frame_choices) if frame_choices else spec.get("maximum"),
        default=spec.get("default"),
        fps_field=fps_field,
        default_fps=float(fps_default) if isinstance(fps_default, int | float) else None,
    )


def _aspects(props: dict[str, dict[str, Any]]) -> tuple[str | None, tuple[str, ...]]:
    ratios = _enum(props.get("aspect_ratio"))
    if ratios:
        return "aspect_ratio", ratios
    size = props.get("video_size")
    if size is None:
        return None, ()
    presets: set[str] = set()
    for option in [size, *(size.get("anyOf") or ())]:
        presets.update(_enum(option))
    offered = tuple(aspect for aspect, preset in SIZE_PRESET_FOR_ASPECT.items() if preset in presets)
    return ("video_size", offered) if offered else (None, ())


def _image_limits(spec: dict[str, Any]) -> ImageLimits | None:
    stated: dict[str, Any] = spec["x-fal"] if isinstance(spec.get("x-fal"), dict) else {}
    text = f"{spec.get('limit_description') or ''} {spec.get('description') or ''}"
    values: dict[str, Any] = {}
    for name, pattern in LIMIT_PATTERNS.items():
        value = stated.get(name)
        if value is None:
            match = re.search(pattern, text)
            value = float(match.group(1)) * (MB if name == "max_file_size" else 1) if match else None
        if value is not None:
            values[name] = value
    if not values:
        return None
    return ImageLimits(
        max_file_bytes=_int(values.get("max_file_size")),
        max_width=_int(values.get("max_width")),
        max_height=_int(values.get("max_height")),
        min_width=_int(values.get("min_width")),
        min_height=_int(values.get("min_height")),
        min_aspect_ratio=values.get("min_aspect_ratio"),
        max_aspect_ratio=values.get("max_aspect_ratio"),
    )


def _enum(spec: dict[str, Any] | None, *, keep_types: bool = False) -> tuple[Any, ...]:
    if not spec or not isinstance(spec.get("enum"), list):
        return ()
    return tuple(value if keep_types else str(value) for value in spec["enum"])


def _seconds_of_choice(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = re.match(r"^\s*(\d+(?:\.\d+)?)", str(value))
    return float(match.group(1)) if match else math.nan


def _format_seconds(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _listing(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None
