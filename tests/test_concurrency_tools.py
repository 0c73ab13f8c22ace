"""20 concurrent, mixed, real tool calls on one server and one model: SQLite stays consistent, nothing is paid twice."""

from __future__ import annotations

import sqlite3
from typing import Any

import anyio
import pytest
from mcp import Client

from server.config import Settings
from tests.fake_fal import FakeFal
from tests.fake_fal.server import safetensors_bytes
from tests.helpers import call_ok
from tests.test_training import FAST, dataset_url

pytestmark = pytest.mark.anyio


async def test_twenty_concurrent_tool_calls_on_one_model(client: Client, settings: Settings, fake_fal: FakeFal) -> None:
    lora = fake_fal.add_file("sid.safetensors", safetensors_bytes("sid", 256))
    external = {"action": "register_external", "name": "sid", "trigger_word": "SIDAI", "lora_url": lora}
    await call_ok(client, "manage_model", external)
    fake_fal.script("fal-ai/flux-lora", queue_polls=1, run_polls=1)
    # The training stays on fal for the whole test: finishing early would register a fifth version of sid.
    fake_fal.script(FAST, queue_polls=10_000)
    training = {"dataset": dataset_url(fake_fal), "model_name": "sid", "trigger_word": "SIDAI", "steps": 1000}

    calls: list[tuple[str, dict[str, Any]]] = [
        *[
            ("execute_custom_model", {"endpoint": "sid", "input_params": {"prompt": "portrait", "seed": seed}})
            for seed in range(5)
        ],
        *[("start_training", training) for _ in range(4)],
        *[("manage_model", {**external, "notes": f"copy {n}"}) for n in range(3)],
        *[("training_status", {}) for _ in range(2)],
        *[
            ("prompt_library", {"action": "save", "name": f"mine-{n}", "template": "photo of {trigger}, n" + str(n)})
            for n in range(2)
        ],
        ("quality_matrix", {"action": "record", "model": "sid@v1", "scores": [{"scenario": "headshot", "quality": 8}]}),
        ("quality_matrix", {"action": "record", "model": "sid@v1", "scores": [{"scenario": "outdoor", "quality": 6}]}),
        ("cost_report", {}),
        ("list_models", {"name": "sid"}),
    ]
    assert len(calls) == 20
    results: list[Any] = [None] * len(calls)

    async def one(index: int, tool: str, args: dict[str, Any]) -> None:
        results[index] = await client.call_tool(tool, args)

    async with anyio.create_task_group() as group:
        for index, (tool, args) in enumerate(calls):
            group.start_soon(one, index, tool, args)

    for (tool, _), result in zip(calls, results, strict=True):
        text = " ".join(getattr(block, "text", "") for block in result.content)
        assert not result.is_error, f"{tool}: {text}"

    trainings = {results[i].structured_content["training"]["id"] for i in range(5, 9)}
    assert len(trainings) == 1, "identical concurrent starts must share one run"
    assert len(fake_fal.submissions(FAST)) == 1, "only one paid training submission"
    models = await call_ok(client, "list_models", {"name": "sid"})
    assert sorted(v["version"] for v in models["versions"]) == [1, 2, 3, 4]

    db = sqlite3.connect(settings.db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        generations = db.execute("SELECT status, files_json FROM generations").fetchall()
        assert len(generations) == 5 and all(status == "completed" for status, _ in generations)
        ledger = dict(db.execute("SELECT kind, COUNT(*) FROM cost_ledger GROUP BY kind").fetchall())
        assert ledger == {"generation": 5, "training": 1}
        assert db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == 2
        assert db.execute("SELECT COUNT(*) FROM prompts").fetchone()[0] == 2
    finally:
        db.close()
