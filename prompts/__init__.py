"""Prompt data shipped with the server: built-in templates (templates/*.yaml, prompts/loader.py) and the MCP
workflow prompts (prompts/workflows.py)."""
