"""The one table of known fal inference endpoints: parameter rules, defaults, LoRA support, output kind, price.

It drives input checking (`normalize`), cost estimates (`estimate_cost`) and the docs (`markdown_table`).
Endpoints not in the table run as given: their input passes through untouched and their cost is a rough
per-output estimate. Sources: fal-api.md §6; entries marked `price_estimated` are not verified.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp.server.mcpserver.exceptions import ToolError

Kind = Literal["image", "video", "audio"]
MAX_TEXT_CHARS = 10_000  # prompts longer than this are a mistake: FLUX's T5 encoder reads ~512 tokens
ParamType = Literal["int", "float", "bool", "str", "choice", "size", "seed", "loras", "url", "prompt"]

SIZE_PRESETS: dict[str, tuple[int, int]] = {  # pixel sizes are (unverified) per fal-api.md §6.1
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
ASPECT_RATIOS = {
    "1:1": "square_hd",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
}
# Rough cost per output for endpoints we do not know, so the budget still guards them (estimates).
FALLBACK_PRICE_PER_OUTPUT: dict[str, float] = {"image": 0.05, "video": 0.50, "audio": 0.10}
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Param:
    type: ParamType
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    default: Any = None
    required: bool = False
    max_items: int = 0  # loras: how many may be stacked

    def allowed(self) -> str:
        if self.type == "choice":
            return "one of " + ", ".join(self.choices)
        if self.type == "size":
            return f"a preset ({', '.join(SIZE_PRESETS)}) or {{width, height}} with sides {self.low:g}-{self.high:g} px"
        if self.type in ("int", "float"):
            return f"a{'n integer' if self.type == 'int' else ' number'} from {self.low:g} to {self.high:g}"
        if self.type == "seed":
            return f"an integer from 0 to {MAX_SEED}"
        if self.type == "bool":
            return "true or false"
        if self.type == "loras":
            return f"a list of {{path, scale}} with scale {self.low:g}-{self.high:g}, at most {self.max_items} items"
        if self.type in ("prompt", "url", "str"):
            return "a non-empty string" + (" (http(s) or data: URL)" if self.type == "url" else "")
        return self.type


@dataclass(frozen=True)
class EndpointSpec:
    id: str
    title: str
    kind: Kind
    accepts_lora: bool
    params: dict[str, Param]
    format_field: str | None = "output_format"  # fal-ai/lora calls it image_format
    price_per_mp: float | None = None  # USD per megapixel (1024×1024 px), rounded up per image
    price_per_image: float | None = None
    price_estimated: bool = False
    price_note: str = ""
    ignored: dict[str, str] = field(default_factory=dict)  # params the model ignores → why (dropped with a warning)
    size_multiple: int = 1
    image_variant: str | None = None  # the image-to-image sibling used when an image_url is given

    def estimate(self, params: dict[str, Any]) -> float:
        count = int(params.get("num_images") or 1)
        if self.price_per_mp is not None:
            width, height = image_dimensions(params.get("image_size"), self.params.get("image_size"))
            megapixels = math.ceil(width * height / (1024 * 1024) - 1e-9)
            return round(self.price_per_mp * max(megapixels, 1) * count, 6)
        return round((self.price_per_image or 0.0) * count, 6)


def _flux_params(*, steps_default: int, steps_high: int, guidance_default: float, with_loras: bool) -> dict[str, Param]:
    params = {
        "prompt": Param("prompt", required=True),
        "image_size": Param("size", low=64, high=4096, default="landscape_4_3"),
        "num_inference_steps": Param("int", low=1, high=steps_high, default=steps_default),
        "guidance_scale": Param("float", low=0, high=35, default=guidance_default),
        "num_images": Param("int", low=1, high=4, default=1),
        "seed": Param("seed"),
        "enable_safety_checker": Param("bool", default=True),
        "output_format": Param("choice", choices=("jpeg", "png"), default="jpeg"),
        "sync_mode": Param("bool"),
        "acceleration": Param("choice", choices=("none", "regular", "high")),
    }
    if with_loras:
        params["loras"] = Param("loras", low=0, high=4, max_items=5)
    return params


_FLUX_IGNORES = {
    "negative_prompt": "FLUX models have no negative prompt; describe what you want instead",
    "scheduler": "FLUX endpoints have no scheduler choice",
    "clip_skip": "FLUX endpoints have no clip_skip",
}


def _image_to_image(spec_params: dict[str, Param]) -> dict[str, Param]:
    params = dict(spec_params)
    params["image_url"] = Param("url", required=True)
    params["strength"] = Param("float", low=0.01, high=1, default=0.85)
    params["image_size"] = Param("size", low=64, high=4096)  # no default: follows the input image
    return params


_FLUX_LORA = _flux_params(steps_default=28, steps_high=50, guidance_default=3.5, with_loras=True)

ENDPOINTS: dict[str, EndpointSpec] = {
    spec.id: spec
    for spec in (
        EndpointSpec(
            "fal-ai/flux-lora",
            "FLUX.1 [dev] with LoRAs",
            "image",
            accepts_lora=True,
            params=_FLUX_LORA,
            price_per_mp=0.035,
            ignored=_FLUX_IGNORES,
            image_variant="fal-ai/flux-lora/image-to-image",
        ),
        EndpointSpec(
            "fal-ai/flux-lora/image-to-image",
            "FLUX.1 [dev] with LoRAs, image to image",
            "image",
            accepts_lora=True,
            params=_image_to_image(_FLUX_LORA),
            price_per_mp=0.035,
            ignored=_FLUX_IGNORES,
        ),
        EndpointSpec(
            "fal-ai/flux-krea-lora",
            "FLUX.1 Krea [dev] with LoRAs",
            "image",
            accepts_lora=True,
            params=_flux_params(steps_default=28, steps_high=50, guidance_default=4.5, with_loras=True),
            price_per_mp=0.035,
            price_estimated=True,
            ignored=_FLUX_IGNORES,
        ),
        EndpointSpec(
            "fal-ai/flux/dev",
            "FLUX.1 [dev] (no LoRA support)",
            "image",
            accepts_lora=False,
            params=_flux_params(steps_default=28, steps_high=50, guidance_default=3.5, with_loras=False),
            price_per_mp=0.025,
            price_estimated=True,
            ignored={**_FLUX_IGNORES, "loras": "fal-ai/flux/dev ignores LoRAs; use fal-ai/flux-lora"},
        ),
        EndpointSpec(
            "fal-ai/flux/schnell",
            "FLUX.1 [schnell] (no LoRA support)",
            "image",
            accepts_lora=False,
            params=_flux_params(steps_default=4, steps_high=12, guidance_default=3.5, with_loras=False),
            price_per_mp=0.003,
            price_estimated=True,
            ignored={**_FLUX_IGNORES, "loras": "fal-ai/flux/schnell ignores LoRAs; use fal-ai/flux-lora"},
        ),
        EndpointSpec(
            "fal-ai/lora",
            "Stable Diffusion 1.5 / SDXL with LoRAs",
            "image",
            accepts_lora=True,
            params={
                "model_name": Param("str", required=True),
                "prompt": Param("prompt", required=True),
                "negative_prompt": Param("str", default=""),
                "loras": Param("loras", low=0, high=4, max_items=3),
                "image_size": Param("size", low=64, high=4096, default="square_hd"),
                "num_inference_steps": Param("int", low=1, high=150, default=30),
                "guidance_scale": Param("float", low=0, high=20, default=7.5),
                "num_images": Param("int", low=1, high=8, default=1),
                "seed": Param("seed"),
                "scheduler": Param("str"),
                "clip_skip": Param("int", low=0, high=2),
                "enable_safety_checker": Param("bool", default=False),
                "image_format": Param("choice", choices=("jpeg", "png"), default="jpeg"),
            },
            format_field="image_format",
            price_per_image=0.03,
            price_estimated=True,
            price_note="billed by GPU time; per-image figure is an estimate",
            size_multiple=8,
        ),
    )
}

# Guide-style names → this endpoint's names. Only applied when the endpoint does not itself use the name.
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
LORA_SCALE_NAMES = ("lora_scale", "scale", "lora_strength")


def get(endpoint: str) -> EndpointSpec | None:
    return ENDPOINTS.get(endpoint.strip().strip("/"))


def image_dimensions(size: Any, rule: Param | None = None) -> tuple[int, int]:
    if isinstance(size, dict):
        return int(size.get("width") or 1024), int(size.get("height") or 1024)
    if isinstance(size, str) and size in SIZE_PRESETS:
        return SIZE_PRESETS[size]
    default = rule.default if rule is not None else None
    return SIZE_PRESETS.get(default if isinstance(default, str) else "square_hd", (1024, 1024))


def estimate_cost(spec: EndpointSpec | None, params: dict[str, Any], kind: str) -> tuple[float, bool]:
    """(USD, is_estimate) for one call."""
    if spec is not None:
        return spec.estimate(params), spec.price_estimated
    count = params.get("num_images") or params.get("num_outputs") or 1
    count = count if isinstance(count, int) and count > 0 else 1
    return round(FALLBACK_PRICE_PER_OUTPUT.get(kind, 0.05) * count, 6), True


def normalize(
    spec: EndpointSpec, raw: dict[str, Any], *, fill_defaults: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """Map guide-style names, drop what the model ignores (with a warning), check every field.

    Returns (params to send, warnings). Raises one ToolError listing every bad field with its allowed range.
    Keys the table does not know are passed through with a warning: our copy of fal's schema may lag
    behind fal, and fal ignores fields it does not know (so sending them costs nothing).
    """
    params = dict(raw)
    warnings: list[str] = []
    errors: list[str] = []

    def rename(old: str, new: str) -> None:
        if old not in params or old in spec.params:
            return
        value = params.pop(old)
        if new in params and params[new] != value:
            errors.append(f"{old}={value!r} and {new}={params[new]!r} both given; keep only {new}")
            return
        params[new] = value
        warnings.append(f"'{old}' was sent as '{new}' (the name {spec.id} uses).")

    for old, new in ALIASES.items():
        if new in spec.params:
            rename(old, new)
    if spec.format_field:
        for old in FORMAT_NAMES:
            if old != spec.format_field:
                rename(old, spec.format_field)
    if "image_size" in spec.params:
        _map_size(params, warnings, errors)
    for name, why in spec.ignored.items():
        if name in params and name not in spec.params:
            value = params.pop(name)
            warnings.append(f"'{name}' ({_short(value)}) was not sent: {why}.")
    for name, rule in spec.params.items():
        if name in params:
            problem = _check(rule, params[name], spec)
            if problem is not None:
                errors.append(f"{name}={_short(params[name])}: must be {problem}")
        elif rule.required:
            errors.append(f"{name} is required ({rule.allowed()})")
    if errors:
        raise ToolError(f"Invalid input for {spec.id}: " + "; ".join(errors) + ". Fix these fields and call again.")
    for name in params:
        if name not in spec.params:
            warnings.append(f"'{name}' is not a known input of {spec.id}; it was sent as given and fal may ignore it.")
    if fill_defaults:  # explicit defaults make the recorded request reproducible even if fal changes them
        for name, rule in spec.params.items():
            if name not in params and rule.default is not None and not rule.required:
                params[name] = rule.default
        if "seed" in spec.params and params.get("seed") is None:
            params["seed"] = random.randint(0, 2**31 - 1)
    if params.get("sync_mode"):
        warnings.append("sync_mode=true: fal returns the images inline and keeps no copy in its history.")
    return params, warnings


def _map_size(params: dict[str, Any], warnings: list[str], errors: list[str]) -> None:
    width, height = params.pop("width", None), params.pop("height", None)
    if width is not None or height is not None:
        if "image_size" in params:
            errors.append("give either image_size or width/height, not both")
        elif width is None or height is None:
            errors.append("width and height must be given together (or use image_size)")
        else:
            params["image_size"] = {"width": width, "height": height}
            warnings.append(f"width/height were sent as image_size={{width: {width}, height: {height}}}.")
    ratio = params.pop("aspect_ratio", None)
    if ratio is not None:
        if "image_size" in params:
            warnings.append(f"aspect_ratio={ratio!r} was not sent: image_size is given and takes precedence.")
        elif ratio in ASPECT_RATIOS:
            params["image_size"] = ASPECT_RATIOS[ratio]
            warnings.append(f"aspect_ratio={ratio!r} was sent as image_size={ASPECT_RATIOS[ratio]!r}.")
        else:
            errors.append(f"aspect_ratio={ratio!r}: must be one of {', '.join(ASPECT_RATIOS)} (or use image_size)")


def _check(rule: Param, value: Any, spec: EndpointSpec) -> str | None:
    """None when `value` is fine, else the allowed range."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if rule.type == "int" or rule.type == "seed":
        high = MAX_SEED if rule.type == "seed" else rule.high
        low = 0 if rule.type == "seed" else rule.low
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high  # type: ignore[operator]
        return None if ok else rule.allowed()
    if rule.type == "float":
        ok = is_number and rule.low <= value <= rule.high  # type: ignore[operator]
        return None if ok else rule.allowed()
    if rule.type == "bool":
        return None if isinstance(value, bool) else rule.allowed()
    if rule.type == "choice":
        return None if value in rule.choices else rule.allowed()
    if rule.type in ("prompt", "str"):
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            return f"at most {MAX_TEXT_CHARS:,} characters (got {len(value):,}; the text encoder reads far fewer)"
        return None if isinstance(value, str) and (value.strip() or rule.type == "str") else rule.allowed()
    if rule.type == "url":
        ok = isinstance(value, str) and value.startswith(("http://", "https://", "data:"))
        return None if ok else rule.allowed()
    if rule.type == "size":
        if isinstance(value, str) and value in SIZE_PRESETS:
            return None
        if isinstance(value, dict) and set(value) == {"width", "height"}:
            sides = [value["width"], value["height"]]
            if all(
                isinstance(s, int) and not isinstance(s, bool) and rule.low <= s <= rule.high  # type: ignore[operator]
                for s in sides
            ) and all(s % spec.size_multiple == 0 for s in sides):
                return None
        extra = f", multiples of {spec.size_multiple}" if spec.size_multiple > 1 else ""
        return rule.allowed() + extra
    if rule.type == "loras":
        if not isinstance(value, list) or len(value) > rule.max_items:
            return rule.allowed()
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"]:
                return rule.allowed()
            scale = item.get("scale", 1.0)
            if not (isinstance(scale, int | float) and rule.low <= scale <= rule.high):  # type: ignore[operator]
                return rule.allowed()
        return None
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def markdown_table() -> str:
    """The table as documentation (served as a resource, quoted in the README)."""
    lines = [
        "| Endpoint | Kind | LoRA | Price | Parameters (default, range) |",
        "|---|---|---|---|---|",
    ]
    for spec in ENDPOINTS.values():
        per_mp = spec.price_per_mp is not None
        price = f"${spec.price_per_mp}/MP" if per_mp else f"${spec.price_per_image}/image"
        if spec.price_estimated:
            price += " (estimate)"
        if spec.price_note:
            price += f"; {spec.price_note}"
        described = []
        for name, rule in spec.params.items():
            default = f" = {rule.default!r}" if rule.default is not None else ""
            req = " (required)" if rule.required else ""
            described.append(f"`{name}`{default}{req}: {rule.allowed()}")
        ignored = [f"`{name}` dropped: {why}" for name, why in spec.ignored.items()]
        lines.append(
            f"| `{spec.id}` | {spec.kind} | {'yes' if spec.accepts_lora else 'no'} | {price} | "
            + "<br>".join(described + ignored)
            + " |"
        )
    fallback = ", ".join(f"{kind} ${usd}" for kind, usd in FALLBACK_PRICE_PER_OUTPUT.items())
    lines.append("")
    lines.append(
        f"Other endpoint ids run as given, unchecked; their cost is estimated per output ({fallback}). "
        "A megapixel is 1024×1024 px, rounded up per image (unverified)."
    )
    return "\n".join(lines)
