"""What the agent sees of every tool, applied once for all of them as MCP middleware.

- Registration: a tool whose arguments `tools.signature_schema` can write is listed from that schema and handed to
  the SDK (which builds a pydantic model for it) only on its first call, so a start does not build them all.
- Resources are handed to the SDK (a pydantic model each for templates) at the first resources request.
- `tools/list`: every tool is paid for in every conversation, so the answer is compacted once
  (tools/compact_schema.py): no pydantic `title` noise, optional arguments without their `anyOf [..., null]`
  wrappers, descriptions on one line per paragraph, no annotation title repeating the tool's, and output schemas
  cut to their top level (each field's type; nested objects as plain objects, so no model is repeated
  wholesale). The result content still carries every field; the schema only promises the shape.
- `tools/call`: unknown argument names are refused with the valid ones listed (the SDK would drop them
  silently), and the SDK's argument-validation errors are rewritten from pydantic's text (internal model
  names, error codes, links) into one line per argument saying what to give instead.
- `resources/list`: collections served by query templates (`fal-video://models{?limit}`) are also listed
  under their bare URI, because many hosts show only listed resources.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

import anyio
from mcp.server import MCPServer
from mcp.types import CallToolResult, Icon, Resource, TextContent, ToolAnnotations
from mcp.types import Tool as MCPTool
from pydantic import BaseModel

from tools.compact_schema import OUTPUT_KEY, compact_tool, model_output_schema, resolve_ref
from tools.signature_schema import signature_schema

Handler = Callable[[Any], Awaitable[Any]]

# One error block of pydantic's ValidationError text: the location line, then the message line.
_PYDANTIC_ERROR = re.compile(
    r"^(?P<loc>\S[^\n]*)\n  (?P<msg>[^\n]*?)(?: \[type=[^\n]*?(?:input_value=(?P<value>.*?), input_type=[^\n]*)?\])?$",
    re.MULTILINE,
)
_VALIDATION_HEADER = re.compile(r"\d+ validation errors? for \S+")
_TYPE_SEGMENT = re.compile(r"[\[\]()]|^(str|int|float|bool|list|dict|none|null)$|^[A-Z]")


class AgentServer(MCPServer):
    """MCPServer whose tools publish compact output schemas, with the AgentSurface middleware installed.

    A tool returning a pydantic model (or `Annotated[CallToolResult, Model]`) is registered unstructured and
    wrapped so a returned model becomes a structured result; its output schema is the model's top level, read
    from its fields. This skips the SDK's full output-schema generation per tool: most of the cost of
    registering a tool, and a schema the listing would cut down anyway.
    """

    def __init__(
        self, *args: Any, collections: Sequence[ListedCollection] = (), defer_tools: bool = True, **kwargs: Any
    ) -> None:
        """`defer_tools=False` registers every tool the SDK's way at once (what tests compare the listing with)."""
        super().__init__(*args, **kwargs)
        self._defer_tools = defer_tools
        self._surface = AgentSurface(self, collections)
        self.middleware.append(self._surface)
        self._tool_order: list[str] = []
        self._deferred: dict[str, _DeferredTool] = {}
        self._pending_resources: list[tuple[str, dict[str, Any], Callable[..., Any]]] = []

    async def handshake_done(self, timeout: float) -> None:
        """Return once the host has listed the tools or called one, or after `timeout` seconds."""
        with anyio.move_on_after(timeout):
            await self._surface.handshake().wait()

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        model = None if structured_output is False else _result_model(fn)
        if model is not None:
            fn, structured_output = _structured(fn), False
            meta = {**(meta or {}), OUTPUT_KEY: model_output_schema(model)}
        schema = signature_schema(fn) if self._defer_tools else None
        tool = _DeferredTool(
            fn, name or fn.__name__, title, description, annotations, icons, meta, structured_output, schema
        )
        self._tool_order.append(tool.name)
        if schema is None:
            self._register(tool)
        else:
            self._deferred[tool.name] = tool

    def _register(self, tool: _DeferredTool) -> None:
        super().add_tool(
            tool.fn,
            tool.name,
            tool.title,
            tool.description,
            tool.annotations,
            tool.icons,
            tool.meta,
            tool.structured_output,
        )

    async def list_tools(self) -> list[MCPTool]:
        registered = {tool.name: tool for tool in await super().list_tools()}
        listed = []
        for name in self._tool_order:
            deferred = self._deferred.get(name)
            listed.append(deferred.listing() if deferred is not None else registered.pop(name))
        return [*listed, *registered.values()]

    def resource(self, uri: str, **kwargs: Any) -> Callable[[Any], Any]:
        def defer(fn: Any) -> Any:
            self._pending_resources.append((uri, kwargs, fn))
            return fn

        return defer

    def _register_resources(self) -> None:
        while self._pending_resources:
            uri, kwargs, fn = self._pending_resources.pop(0)
            super().resource(uri, **kwargs)(fn)

    async def list_resources(self) -> list[Any]:
        self._register_resources()
        return await super().list_resources()

    async def list_resource_templates(self) -> list[Any]:
        self._register_resources()
        return await super().list_resource_templates()

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        self._register_resources()
        return await super().read_resource(uri, context)

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        deferred = self._deferred.pop(name, None)
        if deferred is not None:
            self._register(deferred)
        return await super().call_tool(name, arguments, context)


@dataclass(frozen=True)
class _DeferredTool:
    """A tool's registration as given to `add_tool`, held until its first call; listed from `schema` meanwhile."""

    fn: Callable[..., Any]
    name: str
    title: str | None
    description: str | None
    annotations: ToolAnnotations | None
    icons: list[Icon] | None
    meta: dict[str, Any] | None
    structured_output: bool | None
    schema: dict[str, Any] | None  # None: registered with the SDK at once

    def listing(self) -> MCPTool:
        """What the SDK would list for this tool (the description as `Tool.from_function` takes it)."""
        return MCPTool(
            name=self.name,
            title=self.title,
            description=self.description or self.fn.__doc__ or "",
            input_schema=self.schema or {},
            annotations=self.annotations,
            icons=self.icons,
            _meta=self.meta,
        )


def _result_model(fn: Callable[..., Any]) -> type[BaseModel] | None:
    """The pydantic model a tool's return annotation names: `Model` or `Annotated[CallToolResult, Model]`."""
    returned = typing.get_type_hints(fn, include_extras=True).get("return")
    if get_origin(returned) is Annotated:
        returned = get_args(returned)[1] if get_args(returned)[0] is CallToolResult else get_args(returned)[0]
    return returned if isinstance(returned, type) and issubclass(returned, BaseModel) else None


def _structured(fn: Callable[..., Any]) -> Callable[..., Any]:
    def result(value: Any) -> Any:
        if isinstance(value, CallToolResult) or not isinstance(value, BaseModel):
            return value
        data = value.model_dump(mode="json")
        return CallToolResult(content=[TextContent(type="text", text=value.model_dump_json())], structured_content=data)

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            return result(await fn(*args, **kwargs))

        return call_async

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return result(fn(*args, **kwargs))

    return call


class ListedCollection:
    """A resource listed under a bare URI whose reads the matching query template serves."""

    def __init__(self, uri: str, name: str, title: str, description: str, mime_type: str = "application/json"):
        self.resource = Resource(uri=uri, name=name, title=title, description=description, mime_type=mime_type)


class AgentSurface:
    """The middleware; build it with the server (for its tool schemas) and the collections to list.

    Handlers hand middleware their results in wire form (dicts with camelCase keys).
    """

    def __init__(self, server: MCPServer, collections: Sequence[ListedCollection] = ()) -> None:
        self._server = server
        self._collections = [c.resource for c in collections]
        self._inputs: dict[str, dict[str, Any]] | None = None
        self._listed: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None
        self._handshake: anyio.Event | None = None

    def handshake(self) -> anyio.Event:
        """Set when the first tools/list has been answered or the first tools/call arrives."""
        if self._handshake is None:
            self._handshake = anyio.Event()
        return self._handshake

    async def __call__(self, ctx: Any, call_next: Handler) -> Any:
        if ctx.method == "tools/list":
            result = await call_next(ctx)
            if isinstance(result, dict) and isinstance(result.get("tools"), list):
                result["tools"] = self._compact(result["tools"])
            self.handshake().set()
            return result
        if ctx.method == "tools/call" and isinstance(ctx.params, dict):
            self.handshake().set()
            refusal = await self._refuse_unknown(ctx.params)
            if refusal is not None:
                return refusal
            return self._explain(ctx.params, await call_next(ctx))
        result = await call_next(ctx)
        if ctx.method == "resources/list" and isinstance(result, dict) and isinstance(result.get("resources"), list):
            listed = {r.get("uri") for r in result["resources"]}
            result["resources"] += [
                r.model_dump(mode="json", by_alias=True, exclude_none=True)
                for r in self._collections
                if str(r.uri) not in listed
            ]
        return result

    def _compact(self, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = tuple(tool.get("name") for tool in tools)
        if self._listed is None or self._listed[0] != names:  # the same tools every time: compact them once
            self._listed = (names, [compact_tool(tool) for tool in tools])
        return self._listed[1]

    async def _input_schemas(self) -> dict[str, dict[str, Any]]:
        if self._inputs is None:  # tools are all registered before the first call
            self._inputs = {tool.name: tool.input_schema for tool in await self._server.list_tools()}
        return self._inputs

    async def _refuse_unknown(self, params: dict[str, Any]) -> CallToolResult | None:
        name = params.get("name")
        arguments = params.get("arguments") or {}
        schemas = await self._input_schemas()
        if name not in schemas:
            return _error(f"Unknown tool: {name}. The tools are: {', '.join(sorted(schemas))}.")
        if not isinstance(arguments, dict):
            return None
        schema = schemas[name]
        found: list[tuple[list[str | int], str, list[str]]] = []
        _unknown_keys(schema, arguments, schema.get("$defs", {}), [], found)
        if not found:
            return None
        hints = []
        for path, key, valid in found:
            close = difflib.get_close_matches(key, valid, n=1)
            where = f" in {_path(path)}" if path else ""
            hints.append(f"{key!r}{where}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        valid_here = found[0][2]
        scope = f"in {_path(found[0][0])}" if found[0][0] else "arguments"
        return _error(
            f"Error executing tool {name}: unknown argument(s) {', '.join(hints)}; nothing was done. "
            f"Valid {scope}: {', '.join(valid_here)}."
        )

    def _explain(self, params: dict[str, Any], result: Any) -> Any:
        """Rewrite the SDK's argument-validation error (the handler's wire-form dict) into plain advice."""
        if not isinstance(result, dict) or not result.get("isError") or not result.get("content"):
            return result
        text = result["content"][0].get("text") or ""
        if not _VALIDATION_HEADER.search(text):
            return result
        problems = [_problem(m.group("loc"), m.group("msg"), m.group("value")) for m in _PYDANTIC_ERROR.finditer(text)]
        if not problems:
            return result
        name = params.get("name")
        return _error(
            f"Error executing tool {name}: invalid arguments, nothing was done: {'; '.join(problems)}. "
            "Fix them and call again."
        )


def _unknown_keys(
    schema: dict[str, Any],
    value: Any,
    defs: dict[str, Any],
    path: list[str | int],
    found: list[tuple[list[str | int], str, list[str]]],
) -> None:
    """Keys of `value` that its object schema does not declare, at any depth (objects, arrays, nullable)."""
    schema = resolve_ref(schema, defs)
    options = [resolve_ref(option, defs) for option in schema.get("anyOf", [])] or [schema]
    if isinstance(value, dict):
        shaped = [o for o in options if "properties" in o and not o.get("additionalProperties")]
        if len(shaped) != 1:
            return
        properties = shaped[0]["properties"]
        found += [(path, key, list(properties)) for key in value if key not in properties]
        for key, item in value.items():
            if key in properties:
                _unknown_keys(properties[key], item, defs, [*path, key], found)
    elif isinstance(value, list):
        items = [o["items"] for o in options if isinstance(o.get("items"), dict)]
        if len(items) == 1:
            for index, item in enumerate(value):
                _unknown_keys(items[0], item, defs, [*path, index], found)


def _problem(loc: str, message: str, value: str | None) -> str:
    path = _path([part for part in loc.split(".") if not _TYPE_SEGMENT.search(part)] or [loc])
    message = message.replace("Input should be", "should be").replace("Field required", "is required")
    got = f" (got {value[:60]})" if value and message != "is required" else ""
    return (f"{path} {message}" if message.startswith(("should", "is ")) else f"{path}: {message}") + got


def _path(parts: Sequence[str | int]) -> str:
    path = str(parts[0])
    for part in parts[1:]:
        path += f"[{part}]" if isinstance(part, int) or part.isdigit() else f".{part}"
    return path


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
