"""Models family: the registry of trained models and versions; MCP surface in tools.py."""
