"""start_training / training_status / cancel_training."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from tools.common import not_available

POLLERS: tuple = ()


def register(server: MCPServer) -> None:
    @server.tool(
        title="Start a LoRA training",
        annotations=ToolAnnotations(
            title="Start a LoRA training",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=True,
        ),
    )
    async def start_training(
        dataset: Annotated[str, Field(description="Dataset id from prepare_dataset, or a fal URL of a zip.")],
        model_name: Annotated[str, Field(description="Name to register the result under, e.g. sid-custom-model.")],
        ctx: Context[Any],
    ) -> dict[str, Any]:
        """Start a LoRA training on fal and return its id at once."""
        raise not_available("start_training", "issue 4")

    @server.tool(
        title="Training status",
        annotations=ToolAnnotations(
            title="Training status", read_only_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def training_status(
        ctx: Context[Any],
        training_id: Annotated[str | None, Field(description="Training id from start_training.")] = None,
    ) -> dict[str, Any]:
        """Poll a training: queue position, progress, ETA, errors; registers the model when done."""
        raise not_available("training_status", "issue 4")
