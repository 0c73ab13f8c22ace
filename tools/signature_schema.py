"""A tool's input JSON schema read straight from its signature, as pydantic would write it (titles aside).

The SDK builds a pydantic model per tool at registration to get this schema, the largest part of a cold start
after importing the SDK itself. Arguments of the kinds tools here take (str, int, float, bool, Literal, optional,
lists, dicts, unions of those, with `Field` descriptions, defaults and bounds) are written here directly, and a
pydantic model argument under `$defs`, from its fields; any other kind (an Enum...) gives None, and that tool is
registered the SDK's way. A test checks that this schema and the SDK's are the same once compacted, for every
tool.
"""

import inspect
import types
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from mcp.server.mcpserver import Context
from pydantic import BaseModel
from pydantic.fields import FieldInfo

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


class _Unsupported(Exception):
    """An annotation this module does not write; the SDK's own schema is used for the tool."""


def signature_schema(fn: Callable[..., Any]) -> dict[str, Any] | None:
    """`{"type": "object", "properties": ..., "required": ...}` for `fn`'s arguments (its Context one left out)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    defs: dict[str, Any] = {}
    try:
        for name, parameter in inspect.signature(fn).parameters.items():
            annotation = parameter.annotation
            if _is_context(annotation):
                continue
            if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) or isinstance(
                annotation, str
            ):
                return None
            prop = _field(annotation, defs)
            if parameter.default is inspect.Parameter.empty:
                required.append(name)
            else:
                prop["default"] = _json_default(parameter.default)
            properties[name] = prop
    except _Unsupported:
        return None
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if defs:
        schema["$defs"] = dict(sorted(defs.items()))
    return schema


def _is_context(annotation: Any) -> bool:
    kind = get_origin(annotation) or annotation
    return isinstance(kind, type) and issubclass(kind, Context)


def _field(annotation: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """A parameter's property: its type, with what an `Annotated[..., Field(...)]` adds."""
    info = FieldInfo()
    if get_origin(annotation) is Annotated:
        annotation, *extras = get_args(annotation)
        infos = [extra for extra in extras if isinstance(extra, FieldInfo)]
        if len(infos) != len(extras) or len(infos) > 1:
            raise _Unsupported(annotation)
        if infos:
            info = infos[0]
    if not info.is_required():
        raise _Unsupported(info)  # a default set in Field(...) rather than in the signature
    return _property(annotation, info, defs)


def _property(annotation: Any, info: FieldInfo, defs: dict[str, Any]) -> dict[str, Any]:
    """The type's schema, with the `Field` bounds on the non-null branch and its description outside."""
    if info.alias or info.title or info.examples or info.json_schema_extra or info.discriminator:
        raise _Unsupported(info)  # a renamed or titled field, examples, extra schema
    bounds = _bounds(info)
    options = _options(annotation)
    if bounds:
        non_null = [option for option in options if option is not type(None)]
        if len(non_null) != 1:
            raise _Unsupported(annotation)
        schemas = [
            _type(option, defs) | bounds if option is not type(None) else _type(option, defs) for option in options
        ]
    else:
        schemas = [_type(option, defs) for option in options]
    prop: dict[str, Any] = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    if info.description:
        prop["description"] = info.description
    return prop


def _bounds(info: FieldInfo) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    for item in info.metadata:
        known = [key for key in _BOUNDS if getattr(item, key, None) is not None]
        if len(known) != 1 or type(item).__name__.lower() != known[0]:
            raise _Unsupported(item)
        bounds[_BOUNDS[known[0]]] = getattr(item, known[0])
    return bounds


def _options(annotation: Any) -> list[Any]:
    """The members of a union (`X | None`, `Optional[X]`), or the annotation alone."""
    if get_origin(annotation) in (Union, types.UnionType):
        return list(get_args(annotation))
    return [annotation]


def _type(annotation: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model(annotation, defs)
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return _literal(args)
    if origin in (Union, types.UnionType):
        return {"anyOf": [_type(arg, defs) for arg in args]}
    if origin is list and len(args) == 1:
        return {"items": _type(args[0], defs), "type": "array"}
    if origin is dict and len(args) == 2 and args[0] is str:
        values: Any = True if args[1] is Any else _type(args[1], defs)
        return {"additionalProperties": values, "type": "object"}
    raise _Unsupported(annotation)


def _model(model: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    """A `$ref` to the model's schema, kept in `defs` with the models it nests (pydantic's layout), written from
    its fields: asking pydantic would build the model, which result models leave to their first use."""
    name = model.__name__
    if name not in defs:
        defs[name] = {}  # taken, for a model that nests itself
        defs[name] = _model_schema(model, defs)
    elif defs[name] and defs[name] != _model_schema(model, dict(defs)):
        raise _Unsupported(model)  # two models of one name: pydantic would rename them
    return {"$ref": f"#/$defs/{name}"}


def _model_schema(model: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    if (
        model.model_config.get("extra")
        or model.model_config.get("title")
        or model.model_config.get("json_schema_extra")
    ):
        raise _Unsupported(model)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            raise _Unsupported(field)
        properties[name] = _property(field.annotation, field, defs)
        if field.is_required():
            required.append(name)
        else:
            properties[name]["default"] = _json_default(field.default)
    schema: dict[str, Any] = {"properties": properties, "title": model.__name__, "type": "object"}
    if required:
        schema["required"] = required
    if model.__doc__ and "__doc__" in vars(model):
        schema["description"] = inspect.cleandoc(model.__doc__)
    return schema


def _literal(values: tuple[Any, ...]) -> dict[str, Any]:
    kinds = {_SCALARS.get(type(value)) for value in values}
    if None in kinds or "boolean" in kinds:
        raise _Unsupported(values)
    kind = {"type": kinds.pop()} if len(kinds) == 1 else {}
    return {"const": values[0], **kind} if len(values) == 1 else {"enum": list(values), **kind}


def _json_default(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise _Unsupported(value)
