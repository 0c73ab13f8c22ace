"""prepare_dataset as start → run id → poll: a run that outlasts its call goes on in the background.

A host cancels a tool call after ~60 s; a big folder or a slow upload can take longer. These tests shrink the wait
instead of growing the work: the same code path answers 'running' and dataset_status delivers the result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from server.storage import Store
from tests.fake_fal import FakeFal
from tests.helpers import call_error, call_ok
from tests.photos import real_photos
from tests.test_dataset import UPLOADS, _build_folder

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real photos plus generated variations that test_dataset checks verdict by verdict."""
    root = tmp_path_factory.mktemp("photos") / "jane"
    _build_folder(root, real_photos())
    return root


def _args(folder: Path, **extra: Any) -> dict[str, Any]:
    return {"folder": str(folder), "trigger_word": "SIDAI", "subject": "man", "resolution": 512, **extra}


async def test_a_slow_upload_answers_running_and_dataset_status_delivers_the_result(
    client: Client, photo_folder: Path, fake_fal: FakeFal
) -> None:
    fake_fal.inject(UPLOADS, "delay", method="POST", delay=4.0)
    started = await call_ok(client, "prepare_dataset", _args(photo_folder, wait_seconds=0.5))
    assert started["status"] == "running" and started["dataset_id"] is None and started["report"] is None
    run_id = started["run_id"]
    assert run_id.startswith("dsrun_") and f"dataset_status(run_id={run_id!r})" in started["message"]
    assert started["name"] == "jane" and started["trigger_word"] == "SIDAI"
    # The same arguments join the run in progress: no second analysis, no second upload.
    joined = await call_ok(client, "prepare_dataset", _args(photo_folder, wait_seconds=0))
    assert joined["run_id"] == run_id and joined["status"] == "running"

    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    done = await client.call_tool("dataset_status", {"run_id": run_id}, progress_callback=on_progress)
    assert not done.is_error, done.content
    result = done.structured_content
    assert result is not None
    assert result["status"] == "uploaded" and result["uploaded_now"] and result["run_id"] == run_id
    assert result["dataset_id"].startswith("ds_") and result["image_count"] == 5 and result["report"]["kept"] == 5
    assert any(block.type == "image" for block in done.content)  # the contact-sheet preview
    assert fake_fal.count("POST", UPLOADS) == 1
    assert any(message and message.startswith("uploading the zip") for _, message in progress)
    values = [v for v, _ in progress]
    assert values == sorted(values) and values[-1] == 100
    # A finished run can be asked again; a new call on the unchanged folder finds the stored version.
    again = await call_ok(client, "dataset_status", {"run_id": run_id, "wait_seconds": 0})
    assert again["dataset_id"] == result["dataset_id"]
    repeat = await call_ok(client, "prepare_dataset", _args(photo_folder))
    assert repeat["run_id"] != run_id and repeat["reused_existing"] and repeat["dataset_id"] == result["dataset_id"]
    assert fake_fal.count("POST", UPLOADS) == 1


async def test_a_finished_dry_run_is_answered_again_until_the_folder_changes(
    client: Client, photo_folder: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "jane"
    folder.mkdir()
    for path in sorted((photo_folder / "professional").iterdir()):
        (folder / path.name).write_bytes(path.read_bytes())
    first = await call_ok(client, "prepare_dataset", _args(folder, dry_run=True))
    assert first["status"] == "dry-run" and first["report"] is not None
    same = await call_ok(client, "prepare_dataset", _args(folder, dry_run=True))
    assert same["run_id"] == first["run_id"] and same["images"] == first["images"]
    other_options = await call_ok(client, "prepare_dataset", _args(folder, dry_run=True, resolution=768))
    assert other_options["run_id"] != first["run_id"]
    photo = next(folder.iterdir())
    os.utime(photo, ns=(photo.stat().st_atime_ns, photo.stat().st_mtime_ns + 10**9))  # an edited photo
    changed = await call_ok(client, "prepare_dataset", _args(folder, dry_run=True))
    assert changed["run_id"] not in (first["run_id"], other_options["run_id"])


async def test_a_failed_run_gives_its_error_and_the_next_call_starts_afresh(
    client: Client, photo_folder: Path, fake_fal: FakeFal, settings: Settings
) -> None:
    for path in (UPLOADS, r"^/rest/storage/upload/initiate"):  # fal-client falls back from one to the other
        fake_fal.inject(path, "status", method="POST", status=403, times=50, body="Forbidden: key lacks storage scope")
    text = await call_error(client, "prepare_dataset", _args(photo_folder))
    assert "403" in text or "forbidden" in text.lower(), text
    assert fake_fal.count("POST", UPLOADS) >= 1
    fake_fal.faults.clear()
    # The prepared version was kept (status prepared); the new run finds it and uploads it.
    retried = await call_ok(client, "prepare_dataset", _args(photo_folder))
    assert retried["status"] == "uploaded" and retried["version"] == 1 and retried["uploaded_now"]
    store = Store(settings.db_path)
    try:
        assert store.query_one("SELECT COUNT(*) AS n FROM datasets")["n"] == 1  # type: ignore[index]
    finally:
        store.close()


async def test_unknown_run_ids_get_a_next_step(client: Client) -> None:
    text = await call_error(client, "dataset_status", {"run_id": "dsrun_0123456789ab"})
    assert "No prepare_dataset run" in text and "call prepare_dataset again" in text
    assert "trn_" not in text
    text = await call_error(client, "dataset_status", {"run_id": "dsrun_x", "wait_seconds": 99})
    assert "wait_seconds" in text


async def test_a_server_stopping_mid_run_stops_the_run_and_leaves_nothing_half_written(
    settings: Settings, photo_folder: Path, fake_fal: FakeFal
) -> None:
    async with Client(create_server(settings), mode="legacy") as client:
        status = await call_ok(client, "prepare_dataset", _args(photo_folder, wait_seconds=0))
        while status["status"] == "running" and status["progress"] == 0:  # until the first photo is checked
            status = await call_ok(client, "dataset_status", {"run_id": status["run_id"], "wait_seconds": 0.1})
        assert status["status"] == "running" and 0 < status["progress"] < 85, status  # mid-analysis
    # The worker gave up at its next photo and cleaned its staging folder; no version was recorded.
    leftovers = [p.name for p in settings.datasets_dir.rglob("*")]
    assert not any(name.startswith(".staging-") or name.startswith("v") for name in leftovers), leftovers
    assert fake_fal.count("POST", UPLOADS) == 0
    store = Store(settings.db_path)
    try:
        assert store.query_one("SELECT COUNT(*) AS n FROM datasets")["n"] == 0  # type: ignore[index]
    finally:
        store.close()
    # A new server on the same data dir prepares the folder normally.
    async with Client(create_server(settings), mode="legacy") as client:
        done = await call_ok(client, "prepare_dataset", _args(photo_folder))
        assert done["status"] == "uploaded" and done["version"] == 1


async def test_a_call_the_host_gives_up_on_leaves_its_run_going(
    client: Client, photo_folder: Path, fake_fal: FakeFal
) -> None:
    """What a host does at ~60 s, shrunk to 1 s: the call ends, the run goes on, the same call joins it."""
    fake_fal.inject(UPLOADS, "delay", method="POST", delay=3.0)
    with pytest.raises(Exception) as gave_up:
        await client.call_tool("prepare_dataset", _args(photo_folder), read_timeout_seconds=1.0)
    assert "timed out" in str(gave_up.value).lower(), gave_up.value
    again = await call_ok(client, "prepare_dataset", _args(photo_folder))
    assert again["status"] == "uploaded" and again["version"] == 1 and not again["reused_existing"]
    assert fake_fal.count("POST", UPLOADS) == 1
