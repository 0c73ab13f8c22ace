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
    for model, scenario, quality, likeness in scores:
        args = {"action": "record", "model": model, "scenario": scenario, "quality": quality, "notes": "ok"}
        if likeness is not None:
            args["likeness_score"] = likeness
        recorded = await call_ok(client, "quality_matrix", args)
        assert recorded["evaluation"]["likeness_method"] == ("manual" if likeness else None)

    shown = await call_ok(client, "quality_matrix", {"action": "show", "model": "sid"})
    rows = {row["scenario"]: row["versions"] for row in shown["rows"]}
    assert rows["professional-headshot"]["v1"] == {"quality": 6.5, "likeness": 5.5, "n": 2}
    assert rows["youtube-thumbnail"]["v2"] == {"quality": 8.0, "likeness": 8.0, "n": 1}
    assert set(rows["casual-outdoor"]) == {"v2"}
    assert "| professional-headshot | 6.5 / 5.5 (2) | 8 / 9 (1) |" in shown["table"]

    compared = await call_ok(client, "quality_matrix", {"action": "compare", "model": "sid"})
    comparison = compared["comparison"]
    by_scenario = {c["scenario"]: c for c in comparison["scenarios"]}
    assert by_scenario["professional-headshot"]["delta"] == 2.5
    assert by_scenario["professional-headshot"]["winner"] == "v2"
    assert by_scenario["youtube-thumbnail"]["winner"] == "v2"
    assert by_scenario["casual-outdoor"]["winner"] is None  # only v2 was scored there: no vote
    assert comparison["overall_a"] == 6.75 and comparison["overall_b"] == 8.25 and comparison["winner"] == 2
    assert compared["default_version"] == 2  # the newest is the default until one is pinned

    pinned = await call_ok(
        client, "quality_matrix", {"action": "compare", "model": "sid", "versions": [2, 1], "make_default": True}
    )
    assert pinned["comparison"]["winner"] == 2 and "now the default" in pinned["message"]
    store = Store(settings.db_path)
    try:
        assert store.query_one("SELECT default_version FROM models WHERE name = 'sid'")["default_version"] == 2
        assert registry.effective_default(store, "sid") == 2
    finally:
        store.close()


async def test_matrix_errors_are_actionable(client: Client, settings: Settings) -> None:
    register_model(settings, versions=1)
    assert "quality and/or likeness" in await call_error(
        client, "quality_matrix", {"action": "record", "model": "sid", "scenario": "x"}
    )
    assert "No registered model" in await call_error(
        client, "quality_matrix", {"action": "record", "model": "nobody", "scenario": "x", "quality": 5}
    )
    assert "validation error" in await call_error(
        client, "quality_matrix", {"action": "record", "model": "sid", "scenario": "x", "quality": 11}
    )
    await call_ok(client, "quality_matrix", {"action": "record", "model": "sid", "scenario": "x", "quality": 5})
    assert "compare needs two" in await call_error(client, "quality_matrix", {"action": "compare", "model": "sid"})
    empty = await call_ok(client, "quality_matrix", {"action": "show", "model": "sid", "versions": [3]})
    assert empty["rows"] == []
    assert "No test suite" in await call_error(client, "quality_matrix", {"action": "suite_status", "suite_id": "x"})
