"""A paid training survives a server restart: real server processes over stdio, one data dir."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.fake_fal import FakeFal
from tests.helpers import call_ok
from tests.test_server import _stdio_params
from tests.test_training import FAST, dataset_url

pytestmark = pytest.mark.anyio


def _server(home: Path, fake_fal: FakeFal, poll_min: float) -> Client:
    params = _stdio_params(home)
    params.env = {
        **(params.env or {}),
        "FAL_VIDEO_MCP_FAL_BASE_URL": fake_fal.base,
        "FAL_VIDEO_MCP_POLL_MIN_SECONDS": str(poll_min),
        "FAL_VIDEO_MCP_POLL_MAX_SECONDS": str(max(poll_min, 1.0)),
    }
    return Client(params)


async def test_training_survives_a_restart(tmp_path: Path, fake_fal: FakeFal) -> None:
    home = tmp_path / "home"
    fake_fal.script(FAST, queue_polls=1, run_polls=1)
    args = {"dataset": dataset_url(fake_fal), "model_name": "restarted", "trigger_word": "RSTRX"}
    # first process: a slow watcher, so the job is still unfinished when the process stops
    async with _server(home, fake_fal, poll_min=60) as first:
        started = await call_ok(first, "start_training", args)
        training_id = started["training"]["id"]
        assert started["training"]["status"] == "queued"
    assert fake_fal.count("GET", r"/status$") == 0

    # second process on the same data dir: its watcher resumes the run without being asked
    async with _server(home, fake_fal, poll_min=0.2) as second:
        with anyio.fail_after(30):
            while not (await call_ok(second, "list_models", {}))["models"]:
                await anyio.sleep(0.2)
        done = (await call_ok(second, "training_status", {"training_id": training_id, "wait_seconds": 10}))["training"]
        assert done["status"] == "completed" and done["model_version"] == 1
        assert Path(done["lora_path"]).is_file()
        assert Path(done["lora_path"]).is_relative_to(home / "loras")
        again = await call_ok(second, "start_training", args)
        assert again["reused"] is True and again["training"]["id"] == training_id
    assert len(fake_fal.submissions(FAST)) == 1


async def test_status_call_after_restart_completes_the_run(tmp_path: Path, fake_fal: FakeFal) -> None:
    home = tmp_path / "home"
    args = {"dataset": dataset_url(fake_fal), "model_name": "asked", "trigger_word": "ASKDX"}
    async with _server(home, fake_fal, poll_min=60) as first:
        training_id = (await call_ok(first, "start_training", args))["training"]["id"]
    fake_fal.finish(fake_fal.submissions(FAST)[0].request_id)
    async with _server(home, fake_fal, poll_min=60) as second:
        done = (await call_ok(second, "training_status", {"training_id": training_id}))["training"]
        assert done["status"] == "completed" and done["model_version"] == 1 and done["lora_path"]
