"""Quality family: the scenario × version matrix, test suites, scores, likeness; MCP surface in tools.py."""
