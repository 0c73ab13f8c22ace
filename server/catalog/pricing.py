"""Cost of one call from fal's unit price and the units the request implies (steps, megapixels, images, seconds).

An unknown price, or a unit this module cannot count, is estimated at the per-call cap and labelled unknown:
never priced as a cheap image.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from server.catalog.service import CatalogEntry, UnitPrice

SIZE_PRESETS: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
MEGAPIXEL = 1024 * 1024
UNIT_RE = re.compile(r"^\s*(?:(?P<count>[\d.]+)\s*)?(?P<word>[a-z ]+?)s?\s*$")


@dataclass(frozen=True)
class Estimate:
    usd: float
    known: bool  # False: fal's price (or its unit) is unknown; usd is the per-call cap
    basis: str  # how the figure was reached, for the agent


def _unit(unit: str) -> tuple[float, str]:
    """'1000 steps' → (1000, 'step'); 'megapixels' → (1, 'megapixel')."""
    match = UNIT_RE.match(unit.lower().replace("-", " "))
    if not match:
        return 1.0, unit.lower()
    count = float(match["count"]) if match["count"] else 1.0
    return (count if count > 0 else 1.0), match["word"].strip()


def image_size(params: dict[str, Any], entry: CatalogEntry | None) -> tuple[int, int]:
    size = params.get("image_size")
    if size is None and entry is not None:
        size = entry.properties.get("image_size", {}).get("default")
    if isinstance(size, dict):
        width, height = size.get("width"), size.get("height")
        if isinstance(width, int) and isinstance(height, int):
            return width, height
    if isinstance(size, str) and size in SIZE_PRESETS:
        return SIZE_PRESETS[size]
    return 1024, 1024


def _count(params: dict[str, Any], entry: CatalogEntry | None) -> int:
    for name in ("num_images", "num_outputs"):
        value = params.get(name)
        if value is None and entry is not None:
            value = entry.properties.get(name, {}).get("default")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 1


def video_seconds(params: dict[str, Any], entry: CatalogEntry | None) -> float | None:
    props = entry.properties if entry is not None else {}
    duration = params.get("duration", props.get("duration", {}).get("default"))
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        return float(duration)
    if isinstance(duration, str):
        match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*s?\s*$", duration)
        if match:
            return float(match.group(1))
    frames = params.get("num_frames", props.get("num_frames", {}).get("default"))
    fps = params.get("frames_per_second", params.get("fps", props.get("frames_per_second", props.get("fps", {}))))
    fps = fps.get("default") if isinstance(fps, dict) else fps
    if isinstance(frames, int) and isinstance(fps, int | float) and fps > 0:
        return frames / fps
    return None


def unknown(cap: float, why: str) -> Estimate:
    return Estimate(round(cap, 4), False, f"price unknown ({why}): held at the per-call cap of ${cap:.2f}")


def estimate_inference(
    price: UnitPrice | None, params: dict[str, Any], entry: CatalogEntry | None, cap: float
) -> Estimate:
    if price is None:
        return unknown(cap, "fal's pricing API has no price for this endpoint")
    per, word = _unit(price.unit)
    count = _count(params, entry)
    units: float
    if word in ("megapixel", "mp"):
        width, height = image_size(params, entry)
        megapixels = max(math.ceil(width * height / MEGAPIXEL - 1e-9), 1)
        units, what = megapixels * count, f"{count} image(s) × {megapixels} MP"
    elif word == "image":
        units, what = count, f"{count} image(s)"
    elif word in ("second", "video second"):
        seconds = video_seconds(params, entry)
        if seconds is None:
            return unknown(cap, f"priced per {price.unit} and the request's duration is unknown")
        units, what = seconds, f"{seconds:g} s of video"
    elif word in ("video", "request", "call", "generation"):
        units, what = 1, f"1 {word}"
    elif word == "step":
        steps = params.get("num_inference_steps", (entry.properties if entry else {}).get("num_inference_steps", {}))
        steps = steps.get("default") if isinstance(steps, dict) else steps
        if not isinstance(steps, int):
            return unknown(cap, "priced per step and the step count is unknown")
        units, what = steps * count, f"{steps} step(s) × {count}"
    else:
        return unknown(cap, f"fal prices it per {price.unit!r}, which this server cannot count")
    usd = price.unit_price * units / per
    return Estimate(round(usd, 6), True, f"${price.unit_price:g} per {price.unit} × {what} ({price.age_note})")


def estimate_training(price: UnitPrice | None, steps: int, cap: float) -> Estimate:
    if price is None:
        return unknown(cap, "fal's pricing API has no price for this trainer")
    per, word = _unit(price.unit)
    if word == "step":
        usd = price.unit_price * steps / per
        basis = f"${price.unit_price:g} per {price.unit} × {steps} steps ({price.age_note})"
        return Estimate(round(usd, 4), True, basis)
    if word in ("run", "request", "training"):
        return Estimate(round(price.unit_price, 4), True, f"${price.unit_price:g} per {price.unit} ({price.age_note})")
    return unknown(cap, f"fal prices it per {price.unit!r}, which this server cannot count")
