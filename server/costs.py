"""Cost ledger and budget: every paid call is estimated, reserved against the caps, then settled.

Prices themselves live with the things they price (trainer presets, endpoint table); this module adds them up and
enforces `max_cost_per_call_usd` and `daily_budget_usd`. A job's estimate is reserved in the same IMMEDIATE
transaction that writes its row, before fal is called, so concurrent calls cannot all slip under the cap. Each
ledger row then follows its job's outcome:

    reserved → submitted → completed | failed | cancelled     (fal has the job; counted)
    reserved → unknown                                        (the answer was lost: fal may have it; counted)
    reserved → (deleted)                                      (fal answered and refused: nothing was charged)
"""

from __future__ import annotations

import sqlite3
from typing import Literal

from pydantic import BaseModel, Field

from server.config import ENV_DAILY_BUDGET, ENV_MAX_COST, Settings
from server.errors import BudgetExceeded
from server.storage import Store, new_id, utc_now, utc_today

Outcome = Literal["reserved", "submitted", "completed", "failed", "cancelled", "unknown", "recorded"]
# Estimates fal may not have billed: a lost submission (fal may never have received it), a failed or cancelled run.
MAYBE_NOT_CHARGED: tuple[Outcome, ...] = ("unknown", "failed", "cancelled")


class CostTotals(BaseModel):
    total_usd: float
    today_usd: float
    daily_budget_usd: float
    max_cost_per_call_usd: float
    by_model: dict[str, float] = Field(description="Estimated spend per model name ('(none)' for raw endpoints).")
    by_day: dict[str, float] = Field(description="Estimated spend per UTC day, newest first.")
    by_kind: dict[str, float] = Field(description="training / generation.")


class CostReport(BaseModel):
    days: int
    totals: CostTotals
    by_endpoint: dict[str, float] = Field(description="Estimated spend per fal endpoint in the window.")
    by_outcome: dict[str, float] = Field(
        description="Estimated spend per run outcome: completed, failed, cancelled, unknown (answer lost), "
        "submitted (still running), recorded (before outcomes were kept)."
    )
    maybe_not_charged_usd: float = Field(
        description="Estimates fal may not have billed: lost submissions, failed and cancelled runs."
    )
    generations: int = Field(description="Generations recorded in the window.")
    note: str


def spent_today(store: Store) -> float:
    row = store.query_one(
        "SELECT COALESCE(SUM(amount_usd), 0) AS total FROM cost_ledger WHERE day = ?",
        (utc_today(),),
    )
    return float(row["total"]) if row else 0.0


def check_budget(settings: Settings, store: Store, estimate_usd: float, what: str) -> None:
    """Refuse, with the figures, a paid call that would break a cap. Nothing is spent or recorded."""
    _check(settings, estimate_usd, spent_today(store), what)


def _check(settings: Settings, estimate_usd: float, today: float, what: str) -> None:
    if estimate_usd > settings.max_cost_per_call_usd:
        raise BudgetExceeded(
            f"{what} is estimated at ${estimate_usd:.2f}, over the per-call cap of "
            f"${settings.max_cost_per_call_usd:.2f}. Lower the cost (fewer steps or images) or raise the cap with "
            f"{ENV_MAX_COST} in the server's environment."
        )
    if today + estimate_usd > settings.daily_budget_usd:
        raise BudgetExceeded(
            f"{what} is estimated at ${estimate_usd:.2f}; with ${today:.2f} already spent or reserved today (UTC) "
            f"that exceeds the daily budget of ${settings.daily_budget_usd:.2f}. Wait until tomorrow or raise "
            f"{ENV_DAILY_BUDGET}."
        )


def reserve(
    conn: sqlite3.Connection,
    settings: Settings,
    items: list[tuple[str, str, str, float, str | None]],
    what: str,
) -> None:
    """Inside the caller's IMMEDIATE transaction: check the caps and reserve (kind, ref_id, endpoint, usd, model)."""
    today = utc_today()
    row = conn.execute("SELECT COALESCE(SUM(amount_usd), 0) FROM cost_ledger WHERE day = ?", (today,)).fetchone()
    _check(settings, sum(item[3] for item in items), float(row[0]), what)  # a batch is one call
    now = utc_now()
    for kind, ref_id, endpoint, amount, model_name in items:
        conn.execute(
            "INSERT INTO cost_ledger (id, kind, ref_id, endpoint, model_name, amount_usd, estimated, created_at, day, "
            "outcome) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, 'reserved')",
            (new_id("cost"), kind, ref_id, endpoint, model_name, round(amount, 6), now, today),
        )


def settle(store: Store, ref_id: str, outcome: Outcome) -> None:
    """Move a job's ledger row to its outcome."""
    store.execute("UPDATE cost_ledger SET outcome = ? WHERE ref_id = ?", (outcome, ref_id))


def release(store: Store, ref_id: str) -> None:
    """fal refused the submission: nothing was charged, so the reservation goes."""
    store.execute("DELETE FROM cost_ledger WHERE ref_id = ?", (ref_id,))


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
    """A cost known after the fact (not a reserved job): counted at once."""
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
            "outcome": "recorded",
        },
    )


def _grouped(store: Store, column: str, order: str, days: int) -> dict[str, float]:
    rows = store.query(
        f"SELECT COALESCE({column}, '(none)') AS key, SUM(amount_usd) AS total FROM cost_ledger "
        f"WHERE day >= date('now', ?) GROUP BY key ORDER BY {order}",
        (f"-{days} days",),
    )
    return {row["key"]: round(row["total"], 4) for row in rows}


def totals(settings: Settings, store: Store, days: int = 30) -> CostTotals:
    total = store.query_one(
        "SELECT COALESCE(SUM(amount_usd), 0) AS total FROM cost_ledger WHERE day >= date('now', ?)",
        (f"-{days} days",),
    )
    return CostTotals(
        total_usd=round(float(total["total"]) if total else 0.0, 4),
        today_usd=round(spent_today(store), 4),
        daily_budget_usd=settings.daily_budget_usd,
        max_cost_per_call_usd=settings.max_cost_per_call_usd,
        by_model=_grouped(store, "model_name", "total DESC", days),
        by_day=_grouped(store, "day", "key DESC", days),
        by_kind=_grouped(store, "kind", "total DESC", days),
    )


def report(settings: Settings, store: Store, days: int = 30) -> CostReport:
    window = (f"-{days} days",)
    by_outcome = _grouped(store, "outcome", "total DESC", days)
    count = store.query_one(
        "SELECT COUNT(*) AS n FROM generations WHERE substr(created_at, 1, 10) >= date('now', ?)", window
    )
    maybe = sum(by_outcome.get(outcome, 0.0) for outcome in MAYBE_NOT_CHARGED)
    return CostReport(
        days=days,
        totals=totals(settings, store, days),
        by_endpoint=_grouped(store, "endpoint", "total DESC", days),
        by_outcome=by_outcome,
        maybe_not_charged_usd=round(maybe, 4),
        generations=int(count["n"]) if count else 0,
        note="Estimates from fal's unit prices; check https://fal.ai/dashboard/usage for billed amounts. "
        "'unknown' runs stay counted until you know whether fal received them.",
    )
