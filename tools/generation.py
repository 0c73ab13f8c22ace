"""execute_custom_model: run any fal endpoint or a registered custom model."""

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
        title="Run a custom model",
        annotations=ToolAnnotations(
            title="Run a custom model",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
    async def execute_custom_model(
        endpoint: Annotated[str, Field(description="Registered model name or fal endpoint id.")],
        ctx: Context[Any],
        input_params: Annotated[dict[str, Any] | None, Field(description="Endpoint input.")] = None,
        category_hint: Annotated[Literal["image", "video", "audio"] | None, Field(description="Output kind.")] = None,
    ) -> dict[str, Any]:
        """Generate with a registered LoRA model or any fal endpoint."""
        raise not_available("execute_custom_model", "issue 5")
