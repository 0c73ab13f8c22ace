"""Training family: trainer presets, requests, progress from fal's logs, the training job; MCP surface in tools.py."""
