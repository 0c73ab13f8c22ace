"""cost_report as an agent sees it: the estimated spend from the cost ledger (server/costs.py)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from server import costs
from tools.common import state_of, tool_meta


def register(server: MCPServer) -> None:
    @server.tool(**tool_meta("Cost report", read_only=True, idempotent=True, open_world=False))
    async def cost_report(
        ctx: Context[Any],
        days: Annotated[int, Field(ge=1, le=3650, description="How many days back to count.")] = 30,
    ) -> costs.CostReport:
        """Estimated fal spend from the local ledger: totals per model, day, kind, endpoint and run outcome
        (completed, failed, cancelled, unknown), against the budget, and how much of it fal may not have charged.

        Figures are estimates from the endpoint price table (fal bills the real amount); raw endpoints count
        under '(none)' in by_model.
        """
        state = state_of(ctx)
        return costs.report(state.settings, state.store, days)
