"""Costs family: the MCP surface of the cost ledger (server/costs.py): cost_report."""
