"""fal's `/v1/models` answer → the trimmed entries this server keeps: ids, pairing, input and output schemas.

Only what the server reads survives: `$ref`s are inlined (a recursive one becomes `{}`), titles, examples and
fal's UI hints are dropped, descriptions are shortened. Every string copied from fal is capped.
"""

from __future__ import annotations

from typing import Any

SCHEMA_KEYS = frozenset(
    {
        "type", "enum", "const", "default", "format", "nullable",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minLength", "maxLength", "minItems", "maxItems", "items", "properties", "required",
        "additionalProperties", "anyOf", "oneOf", "allOf", "description", "x-fal",
    }
)  # fmt: skip
# fal's stated limits on an input file (`x-fal` on image fields), e.g. the largest start image a video endpoint takes
FILE_LIMITS = frozenset(
    {"max_file_size", "max_width", "max_height", "min_width", "min_height", "min_aspect_ratio", "max_aspect_ratio"}
)
DESCRIPTION_CHARS = 240
TEXT_CHARS = 300
MAX_IDS = 20
MAX_DEPTH = 12


def _text(value: Any, limit: int = TEXT_CHARS) -> str:
    return " ".join(str(value or "").split())[:limit]


def _ids(value: Any) -> list[str]:
    return [_text(item, 200) for item in value[:MAX_IDS]] if isinstance(value, list) else []


def resolve(node: Any, schemas: dict[str, Any], seen: tuple[str, ...] = (), depth: int = 0) -> Any:
    """Inline `#/components/schemas/X` references and keep only validation-relevant keys."""
    if depth > MAX_DEPTH:
        return {}
    if isinstance(node, list):
        return [resolve(item, schemas, seen, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen or name not in schemas:
            return {}
        return resolve(schemas[name], schemas, (*seen, name), depth + 1)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in SCHEMA_KEYS:
            continue
        if key == "description":
            if value:
                out[key] = _text(value, DESCRIPTION_CHARS)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: resolve(sub, schemas, seen, depth + 1) for name, sub in value.items()}
        elif key == "x-fal":
            stated = value if isinstance(value, dict) else {}
            limits = {k: v for k, v in stated.items() if k in FILE_LIMITS and isinstance(v, int | float)}
            if limits:
                out[key] = limits
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
            out[key] = resolve(value, schemas, seen, depth + 1)
        else:
            out[key] = value
    # pydantic writes `allOf: [{$ref}]` for a single referenced model: flatten it
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        merged = {**all_of[0], **{k: v for k, v in out.items() if k != "allOf"}}
        out = merged
    return out


def _operation_schema(openapi: dict[str, Any], path: str, method: str) -> dict[str, Any] | None:
    operation = (openapi.get("paths") or {}).get(path, {}).get(method) or {}
    if method == "post":
        content = (operation.get("requestBody") or {}).get("content") or {}
    else:
        content = ((operation.get("responses") or {}).get("200") or {}).get("content") or {}
    schema = (content.get("application/json") or {}).get("schema")
    return schema if isinstance(schema, dict) else None


def trim_model(model: dict[str, Any]) -> dict[str, Any] | None:
    """One entry of fal's `models` list → our entry, or None when it has no endpoint id."""
    endpoint_id = model.get("endpoint_id")
    if not isinstance(endpoint_id, str) or not endpoint_id:
        return None
    meta = model.get("metadata") or {}
    entry: dict[str, Any] = {
        "endpoint_id": _text(endpoint_id, 200),
        "category": _text(meta.get("category"), 60),
        "kind": _text(meta.get("kind"), 20) or "inference",
        "status": _text(meta.get("status"), 20) or "active",
        "display_name": _text(meta.get("display_name"), 120),
        "description": _text(meta.get("description")),
        "updated_at": _text(meta.get("updated_at"), 40),
        "inference_endpoint_ids": _ids(meta.get("inference_endpoint_ids")),
        "training_endpoint_ids": _ids(meta.get("training_endpoint_ids")),
        "input": None,
        "output": None,
    }
    openapi = model.get("openapi")
    if isinstance(openapi, dict) and "paths" in openapi:
        schemas = (openapi.get("components") or {}).get("schemas") or {}
        request = _operation_schema(openapi, f"/{endpoint_id}", "post")
        response = _operation_schema(openapi, f"/{endpoint_id}/requests/{{request_id}}", "get")
        entry["input"] = resolve(request, schemas) if request else None
        entry["output"] = resolve(response, schemas) if response else None
    elif isinstance(openapi, dict) and "error" in openapi:
        entry["schema_error"] = _text((openapi.get("error") or {}).get("message"), 200)
    return entry


def trim_price(price: dict[str, Any]) -> dict[str, Any] | None:
    """One entry of fal's `/v1/models/pricing` answer, checked and capped."""
    endpoint_id = price.get("endpoint_id")
    unit_price = price.get("unit_price")
    if not isinstance(endpoint_id, str) or not isinstance(unit_price, int | float) or isinstance(unit_price, bool):
        return None
    if unit_price < 0:
        return None
    return {
        "endpoint_id": _text(endpoint_id, 200),
        "unit_price": float(unit_price),
        "unit": _text(price.get("unit"), 60) or "unknown",
        "currency": _text(price.get("currency"), 8) or "USD",
    }
