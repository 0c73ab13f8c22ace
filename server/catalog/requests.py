"""An inference request checked against the endpoint's own schema, before anything is paid for.

Guide-style names are mapped to the endpoint's names (steps → num_inference_steps, aspect_ratio → image_size...),
then fal's schema decides: wrong types, ranges and enums are refused with the allowed values; fields the
schema does not name are sent as given with a warning (never dropped silently); values far from the schema's
default for guidance or steps are flagged with that default.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from server.catalog import validate
from server.catalog.pricing import SIZE_PRESETS
from server.catalog.service import CatalogEntry
from server.errors import InvalidInput

Kind = Literal["image", "video", "audio"]
MAX_TEXT_CHARS = 10_000  # prompts longer than this are a mistake: text encoders read far fewer tokens
ALIASES = {
    "steps": "num_inference_steps",
    "num_steps": "num_inference_steps",
    "inference_steps": "num_inference_steps",
    "cfg_scale": "guidance_scale",
    "cfg": "guidance_scale",
    "guidance": "guidance_scale",
    "num_outputs": "num_images",
    "batch_size": "num_images",
    "safety_checker": "enable_safety_checker",
    "size": "image_size",
}
FORMAT_NAMES = ("output_format", "image_format", "format")
ASPECT_RATIOS = {
    "1:1": "square_hd",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
}
# Sent explicitly from the schema's defaults, so a recorded request reproduces even if fal changes a default.
PINNED_DEFAULTS = ("num_inference_steps", "guidance_scale", "num_images", "image_size", "output_format", "image_format")
# (field, how far above the default counts as a value meant for another model family)
GUIDE_STYLE = (("guidance_scale", 1.8), ("num_inference_steps", 2.0))
MEDIA_FIELD = re.compile(r"(?:^|_)(image|video|audio)(?:_url|_urls|s)?$")
MAX_SEED = 2**32 - 1


@dataclass
class CheckedRequest:
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def output_kind(entry: CatalogEntry) -> Kind:
    names = set(entry.output_properties)
    if names & {"video", "videos"}:
        return "video"
    if any(name.startswith("audio") for name in names) and not names & {"images", "image"}:
        return "audio"
    return "image"


def accepts_loras(entry: CatalogEntry) -> bool:
    return "loras" in entry.properties


def lora_item_properties(entry: CatalogEntry) -> dict[str, Any]:
    items = entry.properties.get("loras", {}).get("items") or {}
    return dict(items.get("properties") or {})


def output_fields(entry: CatalogEntry) -> list[str]:
    """Result fields holding files (a File object or a list of them), in the schema's order."""
    out = []
    for name, schema in entry.output_properties.items():
        item = schema.get("items", {}) if schema.get("type") == "array" else schema
        if isinstance(item, dict) and "url" in (item.get("properties") or {}):
            out.append(name)
    return out


def media_kind(entry: CatalogEntry | None, name: str) -> str | None:
    """'image' | 'video' | 'audio' when the schema's field `name` takes such a file by URL, else None."""
    if entry is None or name not in entry.properties:
        return None
    schema = entry.properties[name]
    kinds = {schema.get("type")} | {
        option.get("type") for option in schema.get("anyOf", []) if isinstance(option, dict)
    }
    if not kinds & {"string", "array"}:
        return None
    match = MEDIA_FIELD.search(name)
    return match.group(1) if match else None


def _rename(
    params: dict[str, Any], old: str, new: str, entry: CatalogEntry, notes: list[str], errors: list[str]
) -> None:
    if old not in params or old in entry.properties:
        return
    value = params.pop(old)
    if new in params and params[new] != value:
        errors.append(f"{old}={value!r} and {new}={params[new]!r} both given; keep only {new}")
        return
    params[new] = value
    notes.append(f"'{old}' was sent as '{new}' (the name {entry.endpoint_id} uses).")


def _map_size(params: dict[str, Any], notes: list[str], errors: list[str]) -> None:
    width, height = params.pop("width", None), params.pop("height", None)
    if width is not None or height is not None:
        if "image_size" in params:
            errors.append("give either image_size or width/height, not both")
        elif width is None or height is None:
            errors.append("width and height must be given together (or use image_size)")
        else:
            params["image_size"] = {"width": width, "height": height}
            notes.append(f"width/height were sent as image_size={{width: {width}, height: {height}}}.")
    ratio = params.pop("aspect_ratio", None)
    if ratio is None:
        return
    if "image_size" in params:
        notes.append(f"aspect_ratio={ratio!r} was not sent: image_size is given and takes precedence.")
    elif ratio in ASPECT_RATIOS:
        params["image_size"] = ASPECT_RATIOS[ratio]
        notes.append(f"aspect_ratio={ratio!r} was sent as image_size={ASPECT_RATIOS[ratio]!r}.")
    else:
        errors.append(f"aspect_ratio={ratio!r}: must be one of {', '.join(ASPECT_RATIOS)} (or use image_size)")


def _default_note(entry: CatalogEntry, name: str) -> str:
    default = entry.properties.get(name, {}).get("default")
    return f" (default {default!r})" if default is not None else ""


def guide_style_flags(entry: CatalogEntry, given: dict[str, Any]) -> list[str]:
    flags = []
    for name, factor in GUIDE_STYLE:
        value, default = given.get(name), entry.properties.get(name, {}).get("default")
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if isinstance(default, int | float) and default > 0 and value >= default * factor:
            allowed = validate.describe(entry.properties[name])
            flags.append(
                f"{name}={value:g} looks like a value for another model family: {entry.endpoint_id}'s default is "
                f"{default:g} ({allowed}). Sent as given; {default:g} is what fal tunes this model for."
            )
    return flags


def check_inference(entry: CatalogEntry, raw: dict[str, Any], *, fill_defaults: bool = True) -> CheckedRequest:
    """Map, check and complete `raw` for `entry`. Raises InvalidInput listing every refused field."""
    params = dict(raw)
    notes: list[str] = []
    errors: list[str] = []
    props = entry.properties
    for old, new in ALIASES.items():
        if new in props:
            _rename(params, old, new, entry, notes, errors)
    format_field = next((name for name in FORMAT_NAMES if name in props), None)
    if format_field:
        for old in FORMAT_NAMES:
            if old != format_field:
                _rename(params, old, format_field, entry, notes, errors)
    if "image_size" in props and "aspect_ratio" not in props:
        _map_size(params, notes, errors)
    prompt = params.get("prompt")
    if isinstance(prompt, str) and len(prompt) > MAX_TEXT_CHARS:
        errors.append(f"prompt has {len(prompt):,} characters; at most {MAX_TEXT_CHARS:,} are accepted")
    seed = params.get("seed")
    if "seed" in props and seed is not None and not (isinstance(seed, int) and 0 <= seed <= MAX_SEED):
        errors.append(f"seed={seed!r} is not accepted: it must be an integer from 0 to {MAX_SEED}")  # fal's seeds
    for problem in validate.problems(entry.input_schema, params):
        errors.append(problem.message.rstrip(".") + _default_note(entry, str(problem.loc[0]) if problem.loc else ""))
    if errors:
        renamed = f" ({' '.join(notes)})" if notes else ""
        raise InvalidInput(
            f"Invalid input for {entry.endpoint_id} (checked against fal's schema, {entry.age_note}): "
            + "; ".join(errors)
            + f". Fix these fields and call again.{renamed}"
        )
    notes += guide_style_flags(entry, params)
    unknown = validate.unknown_fields(entry.input_schema, params)
    if unknown:
        notes.append(
            f"{', '.join(repr(name) for name in unknown)} {'is' if len(unknown) == 1 else 'are'} not in "
            f"{entry.endpoint_id}'s input schema: sent as given, and fal ignores fields it does not know."
        )
    if fill_defaults:
        for name in PINNED_DEFAULTS:
            default = props.get(name, {}).get("default")
            if name not in params and default is not None and not (name == "image_size" and params.get("image_url")):
                params[name] = default
        if "seed" in props and params.get("seed") is None:
            params["seed"] = random.randint(0, 2**31 - 1)
    if params.get("sync_mode"):
        notes.append("sync_mode=true: fal returns the files inline and keeps no copy in its history.")
    return CheckedRequest(params, notes)


__all__ = ["SIZE_PRESETS", "CheckedRequest", "accepts_loras", "check_inference", "media_kind", "output_kind"]
