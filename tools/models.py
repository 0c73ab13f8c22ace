"""Model management tools: list/show models, set default, alias, rename, register external LoRAs, delete."""

from __future__ import annotations

from mcp.server import MCPServer

POLLERS: tuple = ()


def register(server: MCPServer) -> None:
    """Model management tools are added by issue 4."""
