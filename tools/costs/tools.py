"""cost_report as an agent sees it: the estimated spend from the cost ledger (server/costs.py)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from server import costs
from tools.common import state_of, tool_meta


class CostReport(BaseModel):
    days: int
    totals: costs.CostTotals
    by_endpoint: dict[str, float] = Field(description="Estimated spend per fal endpoint in the window.")
    generations: int = Field(description="Generations recorded in the window.")
    note: str


def register(server: MCPServer) -> None:
    @server.tool(**tool_meta("Cost report", read_only=True, idempotent=True, open_world=False))
    async def cost_report(
        ctx: Context[Any],
        days: Annotated[int, Field(ge=1, le=3650)] = 30,
    ) -> CostReport:
        """Estimated fal spend per model, day and endpoint, against the budget caps."""
        state = state_of(ctx)
        window = (f"-{days} days",)
        rows = state.store.query(
            "SELECT endpoint, SUM(amount_usd) AS total FROM cost_ledger WHERE day >= date('now', ?) "
            "GROUP BY endpoint ORDER BY total DESC",
            window,
        )
        count = state.store.query_one(
            "SELECT COUNT(*) AS n FROM generations WHERE substr(created_at, 1, 10) >= date('now', ?)", window
        )
        return CostReport(
            days=days,
            totals=costs.totals(state.settings, state.store, days),
            by_endpoint={row["endpoint"]: round(row["total"], 4) for row in rows},
            generations=int(count["n"]) if count else 0,
            note="Estimates from the endpoint price table; check https://fal.ai/dashboard/usage for billed amounts.",
        )
