"""What tools/list publishes of a tool, compacted (see tools/surface.py): no pydantic `title` noise, optional
arguments without their `anyOf [..., null]` wrappers, descriptions on one line per paragraph, and output schemas
cut to their top level."""

from __future__ import annotations

import enum
import re
import types
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

# Where a tool registered through AgentServer carries its compact output schema until tools/list publishes it.
OUTPUT_KEY = "fal-video/outputSchema"


def model_output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's top level as a JSON schema: each field's type (see `_annotation_shape`) and the required ones."""
    properties = {name: _annotation_shape(field.annotation) for name, field in model.model_fields.items()}
    required = [name for name, field in model.model_fields.items() if field.is_required()]
    return {"type": "object", "properties": properties, **({"required": required} if required else {})}


_SCALARS: tuple[tuple[type, str], ...] = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


def _annotation_shape(annotation: Any) -> dict[str, Any]:
    """`{"type": ...}` for a field annotation, a list when nullable or a union; the enum for a Literal or Enum."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _annotation_shape(get_args(annotation)[0])
    if origin is Literal:
        return {"enum": list(get_args(annotation))}
    if origin in (Union, types.UnionType):
        return _union([_annotation_shape(arg) for arg in get_args(annotation)])
    if annotation is None or annotation is type(None):
        return {"type": "null"}
    kind = origin or annotation
    if isinstance(kind, type):
        if issubclass(kind, enum.Enum):
            return {"enum": [member.value for member in kind]}
        for python, json_type in _SCALARS:
            if issubclass(kind, python):
                return {"type": json_type}
        if issubclass(kind, PurePath):
            return {"type": "string"}
        if issubclass(kind, (list, tuple, set, frozenset)) or kind is Sequence:
            return {"type": "array"}
        if issubclass(kind, (dict, BaseModel)) or kind is Mapping:
            return {"type": "object"}
    return {}


def compact_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """One tools/list entry (wire form), compacted as the module docstring says."""
    tool = dict(tool)
    if isinstance(tool.get("description"), str):
        tool["description"] = _one_line_paragraphs(tool["description"])
    if isinstance(tool.get("inputSchema"), dict):
        tool["inputSchema"] = _compact_input(tool["inputSchema"])
    if isinstance(tool.get("outputSchema"), dict):  # a tool registered with the plain MCPServer.add_tool
        tool["outputSchema"] = _top_level(tool["outputSchema"])
    meta = tool.get("_meta")
    if isinstance(meta, dict) and OUTPUT_KEY in meta:
        tool["outputSchema"] = meta[OUTPUT_KEY]
        rest = {k: v for k, v in meta.items() if k != OUTPUT_KEY}
        if rest:
            tool["_meta"] = rest
        else:
            del tool["_meta"]
    annotations = tool.get("annotations")
    if isinstance(annotations, dict) and annotations.get("title") == tool.get("title"):
        tool["annotations"] = {k: v for k, v in annotations.items() if k != "title"}
    return tool


def _one_line_paragraphs(text: str) -> str:
    return "\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()))


def _compact_input(node: Any, keyword_level: bool = True) -> Any:
    """Drop `title`, unwrap `anyOf [X, null]` (an omitted argument is the null); drop what goes without saying:
    a default of null, false or "", and `additionalProperties: true`."""
    if isinstance(node, list):
        return [_compact_input(item) for item in node]
    if not isinstance(node, dict):
        return node
    if not keyword_level:  # a `properties` / `$defs` map: its keys are names, not keywords
        return {key: _compact_input(value) for key, value in node.items()}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if (
            key == "title"
            or (key == "default" and (value is None or value is False or value == ""))
            or (key == "additionalProperties" and value is True)
        ):
            continue
        if key == "description" and isinstance(value, str):
            value = _one_line_paragraphs(value)
        out[key] = _compact_input(value, keyword_level=key not in ("properties", "$defs"))
    options = out.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1 and len(kept) < len(options):
            del out["anyOf"]
            out = {**kept[0], **out}
    return out


def _top_level(schema: dict[str, Any]) -> dict[str, Any]:
    """The output schema's own properties, each reduced to its type (see _shape); `required` kept."""
    defs = schema.get("$defs", {})
    out: dict[str, Any] = {"type": "object"}
    properties = schema.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {name: _shape(prop, defs) for name, prop in properties.items()}
    if schema.get("required"):
        out["required"] = schema["required"]
    return out


def _shape(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`{"type": ...}` (a list when nullable or a union), or the enum; `{}` when anything goes."""
    node = resolve_ref(node, defs)
    if "enum" in node:
        return {"enum": node["enum"]}
    if "const" in node:
        return {"const": node["const"]}
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list):
        return _union([_shape(option, defs) for option in options])
    kind = node.get("type")
    if kind is None and ("properties" in node or "additionalProperties" in node):
        kind = "object"
    return {"type": kind} if kind is not None else {}


def _union(shapes: list[dict[str, Any]]) -> dict[str, Any]:
    """One shape for alternatives: their types as a list; an enum made nullable; `{}` when it cannot be said."""
    if any(not shape for shape in shapes):
        return {}
    enums = [shape["enum"] for shape in shapes if "enum" in shape]
    kinds = list(dict.fromkeys(t for shape in shapes if "type" in shape for t in _as_list(shape["type"])))
    if enums:
        return {"enum": [*enums[0], *([None] if kinds else [])]} if len(enums) == 1 and kinds in ([], ["null"]) else {}
    return {"type": kinds[0] if len(kinds) == 1 else kinds} if kinds else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resolve_ref(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return defs.get(ref.rsplit("/", 1)[-1], schema) if ref.startswith("#/$defs/") else schema
