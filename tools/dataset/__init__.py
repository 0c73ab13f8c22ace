"""prepare_dataset: local photo folder → checked, fixed, captioned, zipped, uploaded training set."""

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
        title="Prepare a training dataset",
        annotations=ToolAnnotations(
            title="Prepare a training dataset",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=True,
        ),
    )
    async def prepare_dataset(
        folder: Annotated[str, Field(description="Absolute path of a local folder of photos of one person.")],
        trigger_word: Annotated[str, Field(description="Unique token for the person, e.g. SIDAI.")],
        ctx: Context[Any],
    ) -> dict[str, Any]:
        """Check, fix, caption, zip and upload a folder of photos for LoRA training."""
        raise not_available("prepare_dataset", "issue 3")
