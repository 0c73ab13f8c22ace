"""A server process SIGKILLed mid-training, and mid-LoRA-download, loses nothing: the next process on the same data
dir finishes the run, downloads the LoRA and registers the model exactly once, with no second paid submission."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.fake_fal import FakeFal
from tests.helpers import call_ok
from tests.test_server import _stdio_params
from tests.test_training import FAST, dataset_url

pytestmark = pytest.mark.anyio


def _killable_server(home: Path, fake_fal: FakeFal, pid_file: Path, poll_min: float) -> Client:
    """The real console script over stdio, started through a shell that records its pid first."""
    params = _stdio_params(home)
    command = " ".join([params.command, *params.args])
    params.args = ["-c", f'echo $$ > "{pid_file}"; exec {command}']
    params.command = "/bin/sh"
    params.env = {
        **(params.env or {}),
        "FAL_VIDEO_MCP_FAL_BASE_URL": fake_fal.base,
        "FAL_VIDEO_MCP_POLL_MIN_SECONDS": str(poll_min),
        "FAL_VIDEO_MCP_POLL_MAX_SECONDS": str(max(poll_min, 1.0)),
    }
    return Client(params)


async def _kill(pid_file: Path) -> None:
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGKILL)
    with anyio.fail_after(10):
        while Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid):
            await anyio.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "gone"


async def _wait_for_model(client: Client, name: str) -> dict:
    with anyio.fail_after(30):
        while True:
            models = (await call_ok(client, "list_models", {}))["models"]
            found = [m for m in models if m["name"] == name]
            if found:
                return found[0]
            await anyio.sleep(0.2)


@pytest.mark.parametrize("moment", ["mid-training", "mid-lora-download"])
async def test_killed_server_loses_no_training_and_no_lora(tmp_path: Path, fake_fal: FakeFal, moment: str) -> None:
    home, pid_file = tmp_path / "home", tmp_path / "server.pid"
    args = {"dataset": dataset_url(fake_fal), "model_name": "survivor", "trigger_word": "SRVVX"}
    if moment == "mid-training":
        fake_fal.script(FAST, queue_polls=1, run_polls=50, total_steps=1000)
    else:
        fake_fal.script(FAST, queue_polls=0, run_polls=0, lora_bytes=1 << 20)
        fake_fal.inject(r"^/files/.*\.safetensors$", "delay", delay=30, times=1)

    with contextlib.suppress(Exception):  # the session breaks when its server dies; that is the point
        async with _killable_server(home, fake_fal, pid_file, poll_min=0.2) as first:
            training_id = (await call_ok(first, "start_training", args))["training"]["id"]
            with anyio.fail_after(20):
                if moment == "mid-training":
                    while (await call_ok(first, "training_status", {"training_id": training_id}))["training"][
                        "status"
                    ] != "running":
                        await anyio.sleep(0.1)
                else:
                    while not fake_fal.count("GET", r"^/files/.*\.safetensors$"):
                        await anyio.sleep(0.05)
            await _kill(pid_file)
    assert training_id
    assert len(fake_fal.submissions(FAST)) == 1

    fake_fal.finish(fake_fal.submissions(FAST)[0].request_id)
    async with _killable_server(home, fake_fal, pid_file, poll_min=0.2) as second:
        model = await _wait_for_model(second, "survivor")
        done = (await call_ok(second, "training_status", {"training_id": training_id, "wait_seconds": 15}))["training"]
        again = await call_ok(second, "start_training", args)
    assert model["versions"] == [1]
    assert done["status"] == "completed" and done["model_version"] == 1
    lora = Path(done["lora_path"])
    assert lora.is_file() and lora.is_relative_to(home / "loras")
    assert not list(lora.parent.glob("*.part")), "a killed download must not leave a partial file as the LoRA"
    assert again["reused"] is True and again["training"]["id"] == training_id
    assert len(fake_fal.submissions(FAST)) == 1, "no second paid submission after the kill"
