"""prompt_library: tested prompt templates and the quality-testing matrix."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from tools.common import not_available

POLLERS: tuple = ()


def register(server: MCPServer) -> None:
    @server.tool(
        title="Prompt library",
        annotations=ToolAnnotations(
            title="Prompt library", read_only_hint=False, destructive_hint=False, open_world_hint=True
        ),
    )
    async def prompt_library(
        action: Annotated[Literal["list", "get", "save", "delete", "render", "run"], Field(description="What to do.")],
        ctx: Context[Any],
        name: Annotated[str | None, Field(description="Template name.")] = None,
    ) -> dict[str, Any]:
        """Tested prompt templates rendered for a model's trigger word."""
        raise not_available("prompt_library", "issue 6")
