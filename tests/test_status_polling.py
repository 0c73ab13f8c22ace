"""Cheap polling through the MCP client against the fake fal: read-only status tools, a running training's answer in
a few lines with an ETA from the first poll, and completion registered by the job engine while the agent only waits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from tests.fake_fal import FakeFal
from tests.helpers import call_ok
from tests.test_training import FAST, dataset_url

pytestmark = pytest.mark.anyio

RUNNING_ANSWER_TOKENS = 300


@pytest.fixture
async def quiet_client(make_settings: Callable[..., Settings]) -> Any:
    """The background poller's own schedule is 30-60 s: within a test, fal is checked only when a status call asks."""
    async with Client(create_server(make_settings(poll_min_seconds=30.0, poll_max_seconds=60.0)), mode="legacy") as c:
        yield c


def answer_tokens(raw: Any) -> float:
    """What the agent reads of one answer, structured part and text part together: bytes ÷ 4."""
    text = "".join(getattr(block, "text", "") for block in raw.content)
    return (len(json.dumps(raw.structured_content, separators=(",", ":")).encode()) + len(text.encode())) / 4


async def test_status_tools_are_read_only(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in ("training_status", "generation_status"):
        annotations = tools[name].annotations
        assert annotations is not None and annotations.read_only_hint is True, name
        assert annotations.destructive_hint is False, name


async def test_running_answer_is_a_few_lines_with_an_eta_from_the_first_poll(
    quiet_client: Client, fake_fal: FakeFal
) -> None:
    # no step line yet on the first running poll, and fal echoes a very long log line
    fake_fal.script(FAST, queue_polls=1, run_polls=20, log_line="loading " + "y" * 50_000)
    args = {"dataset": dataset_url(fake_fal), "model_name": "brief", "trigger_word": "BRFX"}
    run = (await call_ok(quiet_client, "start_training", args))["training"]

    queued_raw = await quiet_client.call_tool("training_status", {"training_id": run["id"]})
    queued = queued_raw.structured_content["training"]
    assert queued["status"] == "queued" and queued["eta_seconds"] > 0 and "estimate" in queued["eta_basis"]
    assert answer_tokens(queued_raw) < RUNNING_ANSWER_TOKENS

    raw = await quiet_client.call_tool("training_status", {"training_id": run["id"]})
    running = raw.structured_content["training"]
    assert not raw.is_error and running["status"] == "running"
    # before fal's logs name a step: the steps asked for at the assumed rate, said to be an estimate
    assert running["total_steps"] == 1000 and running["eta_seconds"] == pytest.approx(1200)
    assert "estimate" in running["eta_basis"] and "1000 steps" in running["eta_basis"]
    assert running["last_logs"] and len(running["last_logs"][0]) <= 120
    assert "wait_seconds" in running["next_step"]
    assert answer_tokens(raw) < RUNNING_ANSWER_TOKENS, answer_tokens(raw)


async def test_eta_once_fal_logs_name_steps(quiet_client: Client, fake_fal: FakeFal) -> None:
    fake_fal.script(FAST, queue_polls=0, run_polls=4)
    args = {"dataset": dataset_url(fake_fal), "model_name": "stepper", "trigger_word": "STPX"}
    run = (await call_ok(quiet_client, "start_training", args))["training"]
    first = (await call_ok(quiet_client, "training_status", {"training_id": run["id"]}))["training"]
    assert (first["current_step"], first["total_steps"]) == (200, 1000)
    assert first["eta_seconds"] == pytest.approx(800 * 1.2) and "estimate: 800 steps" in first["eta_basis"]
    second = (await call_ok(quiet_client, "training_status", {"training_id": run["id"]}))["training"]
    assert second["current_step"] == 400 and second["eta_basis"] == "measured from fal's step logs"


async def test_completion_registers_v1_while_the_agent_only_waits(quiet_client: Client, fake_fal: FakeFal) -> None:
    fake_fal.script(FAST, queue_polls=1, run_polls=3)
    args = {"dataset": dataset_url(fake_fal), "model_name": "waited", "trigger_word": "WTDX"}
    run = (await call_ok(quiet_client, "start_training", args))["training"]
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    done = (
        await call_ok(
            quiet_client,
            "training_status",
            {"training_id": run["id"], "wait_seconds": 20},
            progress_callback=on_progress,
        )
    )["training"]
    assert done["status"] == "completed" and done["model_version"] == 1 and done["pending_work"] is False
    assert Path(done["lora_path"]).is_file()
    assert any("ETA" in (message or "") for _, message in seen)
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)
    (version,) = (await call_ok(quiet_client, "list_models", {"name": "waited"}))["versions"]
    assert version["version"] == 1 and version["lora_path"] == done["lora_path"]
    assert len(fake_fal.submissions(FAST)) == 1
