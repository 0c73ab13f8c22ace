"""Check a request body against an endpoint's OpenAPI 3.0 input schema, the way fal's 422 would.

fal's documents are OpenAPI 3.0 flavoured JSON Schema: `nullable`, boolean `exclusiveMinimum`, pydantic's
`anyOf [.., {type: null}]`. `to_json_schema` turns them into Draft 2020-12 for the `jsonschema` validator;
`problems` lists what is wrong with the allowed values spelled out from the schema. Used by the server before
anything is paid for and by the test fake fal for every submission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MAX_PROBLEMS = 20
MAX_ALLOWED_CHARS = 300


@dataclass(frozen=True)
class Problem:
    loc: tuple[str | int, ...]  # path inside the body, e.g. ("loras", 0, "scale")
    kind: str  # missing | type | range | enum | other
    message: str  # a sentence naming the field and what it accepts
    allowed: str = ""  # what the schema accepts there, e.g. "an integer from 1 to 4"

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.loc) or "(body)"

    def as_fal_detail(self) -> dict[str, Any]:
        """fal's 422 entry: `{loc: ["body", ...], msg, type}`."""
        kinds = {"missing": "missing", "type": "type_error", "range": "value_error", "enum": "enum"}
        msg = "Field required" if self.kind == "missing" else f"Input should be {self.allowed}"
        return {"loc": ["body", *self.loc], "msg": msg, "type": kinds.get(self.kind, "value_error")}


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema → Draft 2020-12 (nullable and boolean exclusive bounds rewritten)."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_json_schema(value) for key, value in node.items() if key not in ("nullable", "format")}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if out.get(bound) is True and limit in out:
            out[bound] = out.pop(limit)
        elif isinstance(out.get(bound), bool):
            out.pop(bound)
    if "properties" in node and isinstance(node["properties"], dict):
        out["properties"] = {name: to_json_schema(sub) for name, sub in node["properties"].items()}
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif "anyOf" in out or "enum" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    # imported on first check, not at server start (≈75 ms of cold start)
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    return Draft202012Validator(to_json_schema(json.loads(schema_json)))


def validator_for(schema: dict[str, Any]) -> Any:
    return _validator(json.dumps(schema, sort_keys=True))


def describe(schema: Any) -> str:
    """What a schema accepts, in a few words: 'one of jpeg, png', 'an integer from 1 to 4', ..."""
    text = _describe(schema, 0)
    return text if len(text) <= MAX_ALLOWED_CHARS else text[: MAX_ALLOWED_CHARS - 1] + "…"


def _describe(schema: Any, depth: int) -> str:
    if not isinstance(schema, dict) or depth > 3:
        return "any value"
    if "enum" in schema:
        return "one of " + ", ".join(str(value) for value in schema["enum"])
    if "const" in schema:
        return f"exactly {schema['const']!r}"
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        parts = [_describe(option, depth + 1) for option in options if option.get("type") != "null"]
        text = " or ".join(dict.fromkeys(parts))
        return text + (" (or null)" if any(option.get("type") == "null" for option in options) else "")
    kind = schema.get("type")
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        noun = "an integer" if kind == "integer" else "a number"
        low_text = f" above {low:g}" if "exclusiveMinimum" in schema and "minimum" not in schema else None
        if low is not None and high is not None:
            return f"{noun} from {low:g} to {high:g}" if low_text is None else f"{noun}{low_text} up to {high:g}"
        if low is not None:
            return f"{noun}{low_text or f' ≥ {low:g}'}"
        if high is not None:
            return f"{noun} ≤ {high:g}"
        return noun
    if kind == "string":
        limit = schema.get("maxLength")
        return "a string" + (f" of at most {limit} characters" if limit else "")
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        limit = schema.get("maxItems")
        return f"a list{f' of at most {limit}' if limit else ''} of {_describe(schema.get('items'), depth + 1)}"
    if kind == "object" or "properties" in schema:
        names = list((schema.get("properties") or {}).keys())
        required = schema.get("required") or []
        shown = ", ".join(f"{name}{'' if name in required else '?'}" for name in names[:8])
        return f"an object {{{shown}}}" if names else "an object"
    return "any value"


def _sub_schema(root: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    node: Any = root
    for part in path:
        if not isinstance(node, dict):
            return {}
        node = node.get("items", {}) if isinstance(part, int) else (node.get("properties") or {}).get(part, {})
    return node if isinstance(node, dict) else {}


def problems(schema: dict[str, Any] | None, body: dict[str, Any]) -> list[Problem]:
    """Everything fal's schema refuses in `body` (unknown fields are not refused: see `unknown_fields`)."""
    if not schema:
        return []
    found: list[Problem] = []
    errors = sorted(validator_for(schema).iter_errors(body), key=lambda error: list(map(str, error.absolute_path)))
    for error in errors[:MAX_PROBLEMS]:
        loc = tuple(error.absolute_path)
        if error.validator == "required":
            name = str(error.message).split("'")[1] if "'" in error.message else str(error.message)
            field_loc = (*loc, name)
            allowed = describe(_sub_schema(schema, field_loc))
            where = ".".join(map(str, field_loc))
            found.append(Problem(field_loc, "missing", f"{where} is required: {allowed}.", allowed))
            continue
        target = _sub_schema(schema, loc)
        where = ".".join(map(str, loc)) or "(body)"
        shown = _short(error.instance)
        if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "maxLength",
                               "minLength", "maxItems", "minItems", "multipleOf"):  # fmt: skip
            kind = "range"
        elif error.validator in ("enum", "const"):
            kind = "enum"
        elif error.validator in ("type", "anyOf", "oneOf"):
            kind = "type"
        else:
            kind = "other"
        allowed = describe(target)
        found.append(Problem(loc, kind, f"{where}={shown} is not accepted: it must be {allowed}.", allowed))
    return found


def unknown_fields(schema: dict[str, Any] | None, body: dict[str, Any]) -> list[str]:
    """Top-level fields the endpoint's schema does not name (fal ignores them; we say so)."""
    if not schema or not isinstance(schema.get("properties"), dict):
        return []
    return [name for name in body if name not in schema["properties"]]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
