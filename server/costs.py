"""Cost ledger and budget: every paid call is estimated, checked against the caps, and recorded.

Prices themselves live with the things they price (trainer presets, endpoint table); this module only
adds them up and enforces `max_cost_per_call_usd` and `daily_budget_usd` from the settings.
"""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from server.config import ENV_DAILY_BUDGET, ENV_MAX_COST, Settings
from server.storage import Store, new_id, utc_now, utc_today


class CostTotals(BaseModel):
    total_usd: float
    today_usd: float
    daily_budget_usd: float
    max_cost_per_call_usd: float
    by_model: dict[str, float] = Field(description="Estimated spend per model name ('(none)' for raw endpoints).")
    by_day: dict[str, float] = Field(description="Estimated spend per UTC day, newest first.")
    by_kind: dict[str, float] = Field(description="training / generation.")


def spent_today(store: Store) -> float:
    row = store.query_one("SELECT COALESCE(SUM(amount_usd), 0) AS total FROM cost_ledger WHERE day = ?", (utc_today(),))
    return float(row["total"]) if row else 0.0


def check_budget(settings: Settings, store: Store, estimate_usd: float, what: str) -> None:
    """Refuse, with the figures, a paid call that would break a cap. Nothing is spent or recorded."""
    if estimate_usd > settings.max_cost_per_call_usd:
        raise ToolError(
            f"{what} is estimated at ${estimate_usd:.2f}, over the per-call cap of "
            f"${settings.max_cost_per_call_usd:.2f}. Lower the cost (fewer steps or images) or raise the cap with "
            f"{ENV_MAX_COST} in the server's environment."
        )
    today = spent_today(store)
    if today + estimate_usd > settings.daily_budget_usd:
        raise ToolError(
            f"{what} is estimated at ${estimate_usd:.2f}; with ${today:.2f} already spent today (UTC) that exceeds "
            f"the daily budget of ${settings.daily_budget_usd:.2f}. Wait until tomorrow or raise {ENV_DAILY_BUDGET}."
        )


def record_cost(
    store: Store,
    *,
    kind: str,
    ref_id: str,
    endpoint: str,
    amount_usd: float,
    model_name: str | None = None,
    estimated: bool = True,
) -> None:
    store.insert(
        "cost_ledger",
        {
            "id": new_id("cost"),
            "kind": kind,
            "ref_id": ref_id,
            "endpoint": endpoint,
            "model_name": model_name,
            "amount_usd": round(amount_usd, 6),
            "estimated": int(estimated),
            "created_at": utc_now(),
            "day": utc_today(),
        },
    )


def totals(settings: Settings, store: Store, days: int = 30) -> CostTotals:
    def grouped(column: str, order: str) -> dict[str, float]:
        rows = store.query(
            f"SELECT COALESCE({column}, '(none)') AS key, SUM(amount_usd) AS total FROM cost_ledger "
            f"WHERE day >= date('now', ?) GROUP BY key ORDER BY {order}",
            (f"-{days} days",),
        )
        return {row["key"]: round(row["total"], 4) for row in rows}

    total = store.query_one(
        "SELECT COALESCE(SUM(amount_usd), 0) AS total FROM cost_ledger WHERE day >= date('now', ?)", (f"-{days} days",)
    )
    return CostTotals(
        total_usd=round(float(total["total"]) if total else 0.0, 4),
        today_usd=round(spent_today(store), 4),
        daily_budget_usd=settings.daily_budget_usd,
        max_cost_per_call_usd=settings.max_cost_per_call_usd,
        by_model=grouped("model_name", "total DESC"),
        by_day=grouped("day", "key DESC"),
        by_kind=grouped("kind", "total DESC"),
    )
