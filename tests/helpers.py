"""Helpers for calling tools through the MCP client the way an agent does."""

from __future__ import annotations

from typing import Any

from mcp import Client


async def call_ok(client: Client, tool: str, arguments: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Call a tool like an agent would and return its structured result; fail loudly on an error result."""
    result = await client.call_tool(tool, arguments, **kwargs)
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert not result.is_error, f"{tool} failed: {text}"
    assert result.structured_content is not None
    return result.structured_content


async def call_error(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """Call a tool that must fail; return the error text the model would read."""
    result = await client.call_tool(tool, arguments)
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error, f"{tool} unexpectedly succeeded: {text[:500]}"
    return text
