"""Generation family: planning a fal request (endpoints, LoRAs), running it, saving outputs; MCP surface in tools.py."""
