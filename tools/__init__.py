"""Tool families: each module defines its MCP tools in `register(server)` and its background pollers in `POLLERS`."""
