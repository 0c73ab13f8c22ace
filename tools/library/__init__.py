"""Library family: the prompt template store; MCP surface (prompt_library) in tools.py."""
