"""Every conversation pays for tools/list: the budget, and the compaction that keeps every tool (ours or added
later) inside it."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pytest
from mcp import Client
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from server.app import create_server
from server.config import Settings
from tools.surface import AgentServer

pytestmark = pytest.mark.anyio

MODEL_FACING_TOKENS = 4_000  # name + description + inputSchema of every tool, bytes ÷ 4
FULL_TOKENS = 10_000  # the whole tools/list answer


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _keywords(schema: Any) -> list[str]:
    """Every JSON-schema keyword used in `schema` (property names are not keywords)."""
    found: list[str] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.append(key)
            if key in ("properties", "$defs") and isinstance(value, dict):
                for sub in value.values():
                    found += _keywords(sub)
            else:
                found += _keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            found += _keywords(item)
    return found


async def _listed(client: Client) -> list[dict[str, Any]]:
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in (await client.list_tools()).tools]


async def test_the_tool_list_fits_the_token_budget(settings: Settings) -> None:
    async with Client(create_server(settings), mode="legacy") as client:
        tools = await _listed(client)
    facing = _size([{k: t[k] for k in ("name", "description", "inputSchema")} for t in tools]) // 4
    full = _size({"tools": tools}) // 4
    assert facing <= MODEL_FACING_TOKENS, f"model-facing part of tools/list: {facing} tokens"
    assert full <= FULL_TOKENS, f"full tools/list: {full} tokens"
    for tool in tools:
        schemas = [tool["inputSchema"], tool.get("outputSchema", {})]
        assert "title" not in _keywords(schemas), tool["name"]
        assert {"type": "null"} not in tool["inputSchema"].get("properties", {}).values(), tool["name"]
        assert '"type":"null"' not in json.dumps(tool["inputSchema"], separators=(",", ":")), tool["name"]
        assert "$defs" not in tool.get("outputSchema", {}), tool["name"]
        assert "\n " not in tool["description"], tool["name"]


class Part(BaseModel):
    label: str
    size: int | None = None


class Answer(BaseModel):
    status: Literal["done", "running"]
    parts: list[Part]
    best: Part | None = None
    note: str | None = Field(default=None, description="free text")


async def test_a_tool_added_by_any_family_is_compacted_and_still_structured() -> None:
    server = AgentServer("probe")

    @server.tool(title="Probe")
    async def probe(
        count: Annotated[int, Field(ge=1, description="How many.")],
        label: Annotated[str | None, Field(description="Optional label.")] = None,
    ) -> Answer:
        """Answer with parts."""
        return Answer(status="done", parts=[Part(label=label or "x", size=count)], best=None)

    @server.tool(title="Probe with previews")
    async def probe_previews() -> Annotated[CallToolResult, Answer]:
        """The CallToolResult form."""
        answer = Answer(status="running", parts=[])
        return CallToolResult(content=[], structured_content=answer.model_dump(mode="json"))

    async with Client(server, mode="legacy") as client:
        tools = {t["name"]: t for t in await _listed(client)}
        result = await client.call_tool("probe", {"count": 2})
        other = await client.call_tool("probe_previews", {})
    assert tools["probe"]["inputSchema"]["properties"]["label"] == {"description": "Optional label.", "type": "string"}
    assert tools["probe"]["outputSchema"] == {
        "type": "object",
        "properties": {
            "status": {"enum": ["done", "running"]},
            "parts": {"type": "array"},
            "best": {"type": ["object", "null"]},
            "note": {"type": ["string", "null"]},
        },
        "required": ["status", "parts"],
    }
    assert "_meta" not in tools["probe"]
    assert tools["probe_previews"]["outputSchema"]["required"] == ["status", "parts"]
    assert not result.is_error and result.structured_content == {
        "status": "done",
        "parts": [{"label": "x", "size": 2}],
        "best": None,
        "note": None,
    }
    assert not other.is_error and other.structured_content["status"] == "running"


async def test_tools_listed_before_their_first_call_show_the_sdk_schema_and_then_run() -> None:
    """Tools are listed from their signatures and registered with the SDK on first call: the listing is the one
    the SDK would give, tool for tool, and a deferred tool runs (and validates) like any other."""
    from server.app import REGISTRATIONS
    from tools.common import ToolServer
    from tools.compact_schema import compact_tool

    ours, reference = ToolServer("ours"), ToolServer("reference", defer_tools=False)
    for surface in REGISTRATIONS:
        surface.register(ours)
        surface.register(reference)
    listed = [
        compact_tool(t.model_dump(mode="json", by_alias=True, exclude_none=True)) for t in await ours.list_tools()
    ]
    expected = [
        compact_tool(t.model_dump(mode="json", by_alias=True, exclude_none=True)) for t in await reference.list_tools()
    ]
    assert [t["name"] for t in listed] == [t["name"] for t in expected]
    for got, want in zip(listed, expected, strict=True):
        assert got == want, got["name"]
    deferred = [name for name in ours._deferred]  # listed from the signature, not yet built by the SDK
    assert len(deferred) >= len(listed) - 1, deferred  # quality_matrix takes a list of models: the SDK builds it

    server = AgentServer("t")

    @server.tool()
    async def scale(
        factor: Annotated[float, Field(ge=0, le=4, description="How much.")],
        mode: Literal["up", "down"] = "up",
        tags: list[str] | None = None,
    ) -> str:
        """Scale."""
        return f"{factor} {mode} {tags}"

    async with Client(server) as client:
        listing = (await client.list_tools()).tools[0].input_schema
        assert listing["properties"]["factor"] == {
            "type": "number",
            "minimum": 0,
            "maximum": 4,
            "description": "How much.",
        }
        assert listing["required"] == ["factor"]
        ran = await client.call_tool("scale", {"factor": 2, "tags": ["a"]})
        assert ran.content[0].text == "2.0 up ['a']"
        refused = await client.call_tool("scale", {"factor": 9})
        assert refused.is_error and "factor" in refused.content[0].text
