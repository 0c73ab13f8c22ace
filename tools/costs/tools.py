"""cost_report as an agent sees it: the estimated spend from the cost ledger (server/costs.py), and fal's trainer
guide and catalogue refresh from the catalogue."""

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from server import costs
from tools.common import state_of, tool_meta
from tools.result_model import ResultModel
from tools.training.results import TrainerGuide


class CatalogRefresh(ResultModel):
    ok: bool
    note: str
    added: list[str]
    changed: list[str] = Field(description="Schema, status or pairing differs from before.")
    removed: list[str] = Field(description="No longer listed by fal (kept, marked by their age).")
    prices_changed: list[str]


class CostReport(costs.CostReport):
    trainers: TrainerGuide | None = None
    catalog_refresh: CatalogRefresh | None = None


def register(server: MCPServer) -> None:
    @server.tool(**tool_meta("Cost report", read_only=True, idempotent=True, open_world=False))
    async def cost_report(
        ctx: Context[Any],
        days: Annotated[int, Field(ge=1, le=3650)] = 30,
        catalog: Annotated[
            Literal["trainers", "refresh"] | None,
            Field(description="trainers: ranked trainers with prices; refresh: re-read fal's catalogue now"),
        ] = None,
    ) -> CostReport:
        """Estimated fal spend per model, day, endpoint and run outcome (completed, failed, cancelled, unknown:
        how much fal may not have charged), against the budget caps; also fal's trainer guide."""
        from tools.training import trainers

        state = state_of(ctx)
        guide = refresh = None
        if catalog == "refresh":
            found = await state.catalog.refresh()
            refresh = CatalogRefresh(
                ok=found.ok,
                note=found.note,
                added=found.added[:50],
                changed=found.changed[:50],
                removed=found.removed[:50],
                prices_changed=found.prices_changed[:50],
            )
        if catalog in ("trainers", "refresh"):
            guide = await trainers.guide(state.catalog, state.settings.max_cost_per_call_usd)
        report = costs.report(state.settings, state.store, days)
        return CostReport(**report.model_dump(), trainers=guide, catalog_refresh=refresh)
