"""Results shaped by an endpoint's own output schema: `images[]`, `image`, `video`, `audio`, LoRA files ...

Every required field is filled (plus seed, timings, prompt and NSFW flags when the schema names them); file
fields get real files in the fake's storage, of the kind the field name and schema say.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

OPTIONAL_KEPT = ("seed", "timings", "has_nsfw_concepts", "prompt")
LORA_NAMES = ("lora", "safetensors", "weights")

# (name, bytes, content type) → public URL in the fake's storage
AddFile = Callable[[str, bytes, str], str]


def is_file_schema(schema: dict[str, Any]) -> bool:
    return isinstance(schema, dict) and "url" in (schema.get("properties") or {})


def build_result(
    output_schema: dict[str, Any],
    body: dict[str, Any],
    *,
    add_file: AddFile,
    picture: Callable[[int, int, int, str], bytes],
    video: Callable[[], bytes],
    audio: Callable[[], bytes],
    lora: Callable[[str], bytes],
    size: tuple[int, int],
    request_id: str,
) -> dict[str, Any]:
    given_seed, given_count = body.get("seed"), body.get("num_images")
    seed = given_seed if isinstance(given_seed, int) else random.Random(request_id).randint(0, 2**31 - 1)
    fmt = str(body.get("output_format") or body.get("image_format") or "jpeg")
    count = given_count if isinstance(given_count, int) else 1
    width, height = size

    def file_for(name: str, index: int = 0) -> dict[str, Any]:
        lowered = name.lower()
        if "config" in lowered:
            data = json.dumps({"trained_with": body}).encode()
            return _file(add_file, "config.json", data, "application/json")
        if any(word in lowered for word in LORA_NAMES):
            return _file(add_file, "pytorch_lora_weights.safetensors", lora(f"{request_id}-{name}"),
                         "application/octet-stream")  # fmt: skip
        if "video" in lowered:
            return _file(add_file, "output.mp4", video(), "video/mp4")
        if "audio" in lowered:
            return _file(add_file, "output.wav", audio(), "audio/wav")
        extension, content_type = {"png": ("png", "image/png"), "webp": ("webp", "image/webp")}.get(
            fmt, ("jpg", "image/jpeg")
        )
        raw = picture(width, height, seed + index, fmt)
        described = _file(add_file, f"image_{index}.{extension}", raw, content_type)
        return {**described, "width": width, "height": height}

    def value_for(name: str, schema: dict[str, Any]) -> Any:
        if is_file_schema(schema):
            return file_for(name)
        kind = schema.get("type")
        if kind == "array" and is_file_schema(schema.get("items") or {}):
            return [file_for(name, index) for index in range(count)]
        if name == "seed":
            return seed
        if name == "has_nsfw_concepts":
            return [False] * count
        if name == "prompt":
            return str(body.get("prompt", ""))
        if name == "timings":
            return {"inference": 0.42}
        if "default" in schema:
            return schema["default"]
        if "enum" in schema:
            return schema["enum"][0]
        options = schema.get("anyOf") or []
        if options:
            return value_for(name, next((o for o in options if o.get("type") != "null"), options[0]))
        return {"integer": 0, "number": 0.0, "boolean": False, "string": "", "array": [], "object": {}}.get(str(kind))

    properties = output_schema.get("properties") or {}
    wanted = set(output_schema.get("required") or []) | {name for name in OPTIONAL_KEPT if name in properties}
    return {name: value_for(name, properties[name]) for name in properties if name in wanted}


def _file(add_file: AddFile, name: str, data: bytes, content_type: str) -> dict[str, Any]:
    url = add_file(name, data, content_type)
    return {"url": url, "content_type": content_type, "file_name": name, "file_size": len(data)}
