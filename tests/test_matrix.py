"""quality_matrix through the MCP client: scores recorded per scenario × version, shown and compared."""

from __future__ import annotations

import pytest
from mcp import Client

from server.config import Settings
from server.storage import Store
from tests.helpers import call_error, call_ok
from tests.test_library import register_model
from tools.models import registry

pytestmark = pytest.mark.anyio


async def test_scores_recorded_shown_and_versions_compared(client: Client, settings: Settings) -> None:
    register_model(settings, versions=2)
    scores = [
        ("sid@v1", "professional-headshot", 6, 5),
        ("sid@v1", "professional-headshot", 7, 6),
        ("sid@v1", "youtube_thumbnail", 8, 7),
        ("sid@v2", "professional-headshot", 8, 9),
        ("sid@v2", "youtube-thumbnail", 8, 8),
        ("sid@2", "casual-outdoor", 7, None),
    ]
    by_version: dict[str, list[dict[str, object]]] = {}
    for model, scenario, quality, likeness in scores:
        entry: dict[str, object] = {"scenario": scenario, "quality": quality, "notes": "ok"}
        if likeness is not None:
            entry["likeness"] = likeness
        by_version.setdefault(model, []).append(entry)
    for model, entries in by_version.items():
        recorded = await call_ok(client, "quality_matrix", {"action": "record", "model": model, "scores": entries})
        assert [e["likeness_method"] for e in recorded["evaluations"]] == [
            "manual" if e.get("likeness") else None for e in entries
        ]

    shown = await call_ok(client, "quality_matrix", {"action": "show", "model": "sid"})
    rows = {row["scenario"]: row["versions"] for row in shown["rows"]}
    assert rows["professional-headshot"]["v1"] == {"quality": 6.5, "likeness": 5.5, "n": 2}
    assert rows["youtube-thumbnail"]["v2"] == {"quality": 8.0, "likeness": 8.0, "n": 1}
    assert set(rows["casual-outdoor"]) == {"v2"}
    assert "| professional-headshot | 6.5 / 5.5 (2) | 8 / 9 (1) |" in shown["table"]
    assert shown["table"].startswith("Each cell: mean quality / mean likeness (number of scores)")

    compared = await call_ok(client, "quality_matrix", {"action": "compare", "model": "sid"})
    comparison = compared["comparison"]
    by_scenario = {c["scenario"]: c for c in comparison["scenarios"]}
    assert by_scenario["professional-headshot"]["delta"] == 2.5
    assert by_scenario["professional-headshot"]["winner"] == "v2"
    assert by_scenario["youtube-thumbnail"]["winner"] == "v2"
    assert by_scenario["casual-outdoor"]["winner"] is None  # only v2 was scored there: no vote
    assert comparison["overall_a"] == 6.75 and comparison["overall_b"] == 8.25 and comparison["winner"] == 2
    assert compared["default_version"] == 2 and compared["pinned"] is False
    assert "Nothing pinned: the default is v2 (the newest, none pinned)" in compared["message"]

    pinned = await call_ok(
        client, "quality_matrix", {"action": "compare", "model": "sid", "versions": [2, 1], "make_default": True}
    )
    assert pinned["comparison"]["winner"] == 2 and pinned["pinned"] is True
    assert "Pinned v2 as the default of sid" in pinned["message"]
    again = await call_ok(client, "quality_matrix", {"action": "compare", "model": "sid"})
    assert again["pinned"] is False and "the default is v2 (pinned)" in again["message"]
    store = Store(settings.db_path)
    try:
        assert store.query_one("SELECT default_version FROM models WHERE name = 'sid'")["default_version"] == 2
        assert registry.effective_default(store, "sid") == 2
    finally:
        store.close()


async def test_matrix_errors_are_actionable(client: Client, settings: Settings) -> None:
    register_model(settings, versions=1)

    def record(*entries: dict[str, object], model: str = "sid") -> dict[str, object]:
        return {"action": "record", "model": model, "scores": list(entries)}

    assert "quality and/or likeness" in await call_error(client, "quality_matrix", record({"scenario": "x"}))
    assert "No registered model" in await call_error(
        client, "quality_matrix", record({"scenario": "x", "quality": 5}, model="nobody")
    )
    assert "quality" in await call_error(client, "quality_matrix", record({"scenario": "x", "quality": 11}))
    half_bad = await call_error(client, "quality_matrix", record({"scenario": "x", "quality": 5}, {"quality": 5}))
    assert "Nothing was recorded" in half_bad and "scores[1]" in half_bad and "scenario" in half_bad
    await call_ok(client, "quality_matrix", record({"scenario": "x", "quality": 5}))
    shown = await call_ok(client, "quality_matrix", {"action": "show", "model": "sid"})
    assert shown["rows"][0]["versions"]["v1"]["n"] == 1
    assert "compare needs two" in await call_error(client, "quality_matrix", {"action": "compare", "model": "sid"})
    empty = await call_ok(client, "quality_matrix", {"action": "show", "model": "sid", "versions": [3]})
    assert empty["rows"] == []
    assert "No test suite" in await call_error(client, "quality_matrix", {"action": "suite_status", "suite_id": "x"})
