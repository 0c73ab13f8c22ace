"""A full disk, for real: the server runs as a subprocess whose writes the kernel refuses.

- tmpfs: a 256 KB tmpfs mounted (in a private mount namespace) over the output or datasets folder gives a real
  ENOSPC. Needs `unshare` with user namespaces; skipped where the platform does not allow it.
- rlimit: RLIMIT_FSIZE makes the kernel refuse any write past 2 MB in the server process (EFBIG); runs anywhere.
Nothing in the server is mocked: the answers must say what happened, in which folder, and the space left.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client, StdioServerParameters

from tests.conftest import TEST_KEY
from tests.fake_fal import FakeFal
from tests.helpers import call_ok
from tests.photos import real_photos
from tests.test_training import FAST, dataset_url

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
RLIMIT_BYTES = 2 * 1024 * 1024
RLIMITED = (
    "import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    f"resource.setrlimit(resource.RLIMIT_FSIZE, ({RLIMIT_BYTES}, {RLIMIT_BYTES})); "
    "os.execv(sys.executable, [sys.executable, '-m', 'server'])"
)
MOUNT_THEN_SERVE = 'mount -t tmpfs -o size=${TMPFS_SIZE:-256k} tmpfs "$0" && exec "$@"'


def _tmpfs_available(probe_dir: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", MOUNT_THEN_SERVE, str(probe_dir), "true"], capture_output=True, timeout=30
    )
    return done.returncode == 0


def _server(tmp_path: Path, fake: FakeFal, mechanism: str, full_dir: Path, size: str = "256k") -> StdioServerParameters:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAL")}
    env.update(
        {
            "FAL_KEY": TEST_KEY,
            "FAL_VIDEO_MCP_HOME": str(home),
            "FAL_VIDEO_MCP_FAL_BASE_URL": fake.base,
            "FAL_VIDEO_MCP_POLL_MIN_SECONDS": "0.2",
            "FAL_VIDEO_MCP_POLL_MAX_SECONDS": "1",
            "FAL_VIDEO_MCP_TOOL_WAIT_SECONDS": "20",
            "TMPFS_SIZE": size,
        }
    )
    if mechanism == "rlimit":
        return StdioServerParameters(command=sys.executable, args=["-c", RLIMITED], env=env, cwd=str(ROOT))
    if not _tmpfs_available(tmp_path / "probe"):
        pytest.skip("no private tmpfs here (needs `unshare -Urm` and user namespaces)")
    full_dir.mkdir(parents=True, exist_ok=True)
    args = ["-Urm", "sh", "-c", MOUNT_THEN_SERVE, str(full_dir), sys.executable, "-m", "server"]
    return StdioServerParameters(command="unshare", args=args, env=env, cwd=str(ROOT))


@pytest.mark.parametrize("mechanism", ["tmpfs", "rlimit"])
async def test_a_download_onto_a_full_disk_says_where_and_how_much_room_is_left(
    tmp_path: Path, fake_fal: FakeFal, mechanism: str
) -> None:
    outputs = tmp_path / "home" / "outputs"
    url = fake_fal.add_file("image.png", os.urandom(RLIMIT_BYTES + 512 * 1024), "image/png")
    fake_fal.script("fal-ai/flux/dev", result=lambda job: {"images": [{"url": url}], "seed": 5})
    async with Client(_server(tmp_path, fake_fal, mechanism, outputs)) as client:
        out = await call_ok(
            client,
            "execute_custom_model",
            {"endpoint": "fal-ai/flux/dev", "category_hint": "image", "input_params": {"prompt": "an apple"}},
        )
    (generation,) = out["generations"]
    error = generation["error"] or ""
    reason = "the disk is full" if mechanism == "tmpfs" else "refused a file this large"
    assert reason in error and str(outputs) in error and "free now" in error, error
    assert generation["files"][0]["path"] == "" and generation["files"][0]["url"] == url


async def test_a_dataset_written_onto_a_full_disk_says_where_and_how_much_room_is_left(
    tmp_path: Path, fake_fal: FakeFal
) -> None:
    photos = real_photos()
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "astronaut.png", "biden.jpg"):
        shutil.copy(photos[name], folder / name)
    datasets = tmp_path / "home" / "datasets"
    args: dict[str, Any] = {"folder": str(folder), "trigger_word": "SIDAI", "subject": "person", "upload": False}
    async with Client(_server(tmp_path, fake_fal, "tmpfs", datasets)) as client:
        result = await client.call_tool("prepare_dataset", args)
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error, text
    assert "the disk is full" in text and str(datasets) in text and "free now" in text, text
    assert "could not be processed" not in text, "a full disk is not blamed on the photos"
    assert all((folder / name).read_bytes() == photos[name].read_bytes() for name in ("obama.jpg", "biden.jpg"))


async def test_a_lora_file_refused_by_the_disk_keeps_the_model_and_says_why(tmp_path: Path, fake_fal: FakeFal) -> None:
    fake_fal.script(FAST, queue_polls=0, run_polls=1, lora_bytes=RLIMIT_BYTES + 512 * 1024)
    args = {"dataset": dataset_url(fake_fal), "model_name": "bigmodel", "trigger_word": "BIGMX"}
    async with Client(_server(tmp_path, fake_fal, "rlimit", tmp_path)) as client:
        run = (await call_ok(client, "start_training", args))["training"]
        done = await call_ok(client, "training_status", {"training_id": run["id"], "wait_seconds": 20})
    training = done["training"]
    loras = tmp_path / "home" / "loras" / "bigmodel"
    assert training["status"] == "completed" and training["model_version"] == 1
    assert "refused a file this large" in training["error"] and str(loras) in training["error"], training["error"]


async def test_a_database_write_onto_a_full_disk_says_where_and_that_nothing_is_half_written(
    tmp_path: Path, fake_fal: FakeFal
) -> None:
    home = tmp_path / "home"
    entries = {f"big-{i}": {"prompt": f"Photo of SIDAI, entry {i}, " + "very detailed " * 3000} for i in range(60)}
    async with Client(_server(tmp_path, fake_fal, "tmpfs", home, size="1m")) as client:
        result = await client.call_tool(
            "prompt_library", {"action": "import", "yaml_text": yaml.safe_dump(entries), "trigger_word": "SIDAI"}
        )
        listed = await call_ok(client, "prompt_library", {"action": "list"})
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error, text[:300]
    assert f"database {home / 'fal-video.sqlite3'} could not be written" in text and "free there" in text, text
    assert "nothing is half-written" in text
    assert not any(name.startswith("big-") for name in json.dumps(listed).split('"'))
