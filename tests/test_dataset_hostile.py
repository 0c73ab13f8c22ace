"""Hostile folders and races for prepare_dataset, through real MCP clients (in memory and real server processes).

Odd directory entries cost one row each, never the run; datasets whose names share a folder, or that several server
processes prepare at once on one data dir, never share or overwrite a version; a killed run's staging folder is
cleaned at the next start while a live run's is kept; decompression bombs are refused or read reduced with the
server's peak memory bounded; a training zip whose caption inflates to hundreds of MB is read with a cap.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from bench.memory import bomb_png
from server.config import Settings
from server.storage import Store
from tests.fake_fal import FakeFal
from tests.helpers import call_ok
from tests.photos import real_photos
from tests.test_dataset import _save_exif_rotated
from tests.test_server import _stdio_params

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]


def _usable_photos(root: Path) -> None:
    """Five real portraits of three people that pass every check but the same-person one (off in `_args`)."""
    photos = real_photos()
    root.mkdir(parents=True, exist_ok=True)
    for name in ("obama.jpg", "obama3.jpg", "obama2.jpg", "astronaut.png"):
        (root / name).write_bytes(photos[name].read_bytes())
    _save_exif_rotated(photos["biden.jpg"], root / "rotated.jpg")


@pytest.fixture(scope="module")
def usable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("usable") / "me"
    _usable_photos(root)
    return root


def _args(folder: Path, trigger: str = "SIDAI", **extra: Any) -> dict[str, Any]:
    # These folders mix people (only three photos of one person ship in packages): the same-person check is off.
    base = {"folder": str(folder), "trigger_word": trigger, "resolution": 512, "upload": False}
    return {**base, "same_person_check": False, **extra}


def _rows(settings: Settings) -> list[dict[str, Any]]:
    store = Store(settings.db_path)
    try:
        return store.query("SELECT * FROM datasets ORDER BY name, version")
    finally:
        store.close()


def _assert_intact(row: dict[str, Any], trigger: str) -> None:
    """The row's zip is the one it recorded, and holds its own captions, in a folder no other row uses."""
    zip_path = Path(row["zip_path"])
    assert zip_path.is_relative_to(row["dir"]), row
    assert hashlib.sha256(zip_path.read_bytes()).hexdigest() == row["zip_sha256"], f"{zip_path} was replaced"
    with zipfile.ZipFile(zip_path) as archive:
        captions = [archive.read(n).decode() for n in archive.namelist() if n.endswith(".txt")]
    assert captions and all(trigger in caption for caption in captions), (trigger, captions)
    on_disk = sorted(p.read_text() for p in (Path(row["dir"]) / "images").glob("*.txt"))
    assert on_disk == sorted(captions)


# -- odd directory entries --------------------------------------------------------------------------------------


async def test_odd_entries_cost_one_row_each_and_the_run_goes_on(client: Client, tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    _usable_photos(folder)
    (folder / "loop-a.jpg").symlink_to(folder / "loop-b.jpg")
    (folder / "loop-b.jpg").symlink_to(folder / "loop-a.jpg")
    (folder / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    os.mkfifo(folder / "pipe.jpg")  # opening it would block the reader forever
    raw = os.fsencode(folder)
    (Path(os.fsdecode(raw + b"/caf\xe9.jpg"))).write_bytes((folder / "obama.jpg").read_bytes())  # Latin-1 name
    Path(os.fsdecode(raw + b"/notes-\xff.txt")).write_text("an ignored file with a non-UTF-8 name")
    odd_dir = Path(os.fsdecode(raw + b"/album-\xfe"))
    odd_dir.mkdir()
    (odd_dir / "x.jpg").write_bytes((folder / "obama3.jpg").read_bytes())

    for dry_run in (True, False):
        result = await call_ok(client, "prepare_dataset", _args(folder, dry_run=dry_run))
        rows = {row["file"]: row for row in result["images"]}
        assert result["image_count"] == 5, result["images"]
        reasons = {name: rows[name]["reasons"][0] for name in rows if rows[name]["verdict"] == "reject"}
        assert "looping symlink" in reasons["loop-a.jpg"] and "looping symlink" in reasons["loop-b.jpg"]
        assert "broken or looping symlink" in reasons["dangling.jpg"]
        assert "not a regular file" in reasons["pipe.jpg"]
        assert "not valid UTF-8" in reasons["caf\\xe9.jpg"]
        assert "not valid UTF-8" in reasons["album-\\xfe/x.jpg"]
        assert "notes-\\xff.txt" in result["ignored_files"]
    assert result["status"] == "prepared" and result["version"] == 1


# -- one folder per version -------------------------------------------------------------------------------------


async def test_names_differing_in_case_never_share_a_version_folder(
    client: Client, settings: Settings, usable: Path
) -> None:
    upper = await call_ok(client, "prepare_dataset", _args(usable, "MEUPX", name="Me"))
    lower = await call_ok(client, "prepare_dataset", _args(usable, "MELOX", name="me"))
    assert (upper["name"], upper["version"], lower["name"], lower["version"]) == ("Me", 1, "me", 1)
    assert upper["paths"]["zip"] != lower["paths"]["zip"]
    rows = {row["name"]: row for row in _rows(settings)}
    assert rows["Me"]["dir"] != rows["me"]["dir"]
    _assert_intact(rows["Me"], "MEUPX")
    _assert_intact(rows["me"], "MELOX")
    # Each is found again as it was, and a leftover folder where a version would go is never written into.
    again = await call_ok(client, "prepare_dataset", _args(usable, "MEUPX", name="Me"))
    assert again["reused_existing"] is True and again["dataset_id"] == upper["dataset_id"]
    squatter = Path(rows["Me"]["dir"]).parent / "v2"
    squatter.mkdir()
    (squatter / "keep.txt").write_text("not ours")
    third = await call_ok(client, "prepare_dataset", _args(usable, "METHX", name="Me"))
    assert third["version"] == 2 and (squatter / "keep.txt").read_text() == "not ours"
    assert not Path(third["paths"]["zip"]).is_relative_to(squatter)
    _assert_intact({r["id"]: r for r in _rows(settings)}[third["dataset_id"]], "METHX")


def _server(home: Path, pid_file: Path | None = None, fake_fal: FakeFal | None = None) -> Client:
    """The real console script over stdio (through a shell that records its pid when asked)."""
    params = _stdio_params(home)
    if fake_fal is not None:
        params.env = {**(params.env or {}), "FAL_VIDEO_MCP_FAL_BASE_URL": fake_fal.base}
    if pid_file is not None:
        command = " ".join([params.command, *params.args])
        params.args = ["-c", f'echo $$ > "{pid_file}"; exec {command}']
        params.command = "/bin/sh"
    return Client(params)


async def test_server_processes_preparing_one_name_at_once_get_distinct_versions(tmp_path: Path, usable: Path) -> None:
    """Three server processes on one data dir prepare the name "shared" at once (the last with the first's content).

    To make them meet, the test holds SQLite's write lock (as another process writing would) until all three have
    checked their photos and are writing; then lets go."""
    import sqlite3

    home = tmp_path / "home"
    triggers = ["PRCAX", "PRCBX", "PRCAX"]
    Store(Settings(home=home).db_path).close()  # the schema, so the lock below can be taken
    blocker = sqlite3.connect(Settings(home=home).db_path, isolation_level=None)
    results: list[dict[str, Any]] = [{} for _ in triggers]
    started, writing = [anyio.Event() for _ in triggers], [anyio.Event() for _ in triggers]
    go = anyio.Event()

    async def prepare(index: int) -> None:
        async with _server(home) as client:
            # Up, with its models loaded, before the lock is taken: the three runs then take about as long.
            await call_ok(client, "prepare_dataset", _args(usable, triggers[index], dry_run=True))
            started[index].set()
            await go.wait()
            status = await call_ok(
                client, "prepare_dataset", _args(usable, triggers[index], name="shared", wait_seconds=0)
            )
            while status["status"] == "running":
                if "writing" in (status["message"] or ""):
                    writing[index].set()
                status = await call_ok(client, "dataset_status", {"run_id": status["run_id"], "wait_seconds": 0.2})
            writing[index].set()
            results[index] = status

    try:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                for index in range(len(triggers)):
                    group.start_soon(prepare, index)
                for event in started:
                    await event.wait()
                blocker.execute("BEGIN IMMEDIATE")
                go.set()
                for event in writing:
                    await event.wait()
                await anyio.sleep(0.5)
                blocker.execute("ROLLBACK")
    finally:
        blocker.close()

    rows = _rows(Settings(home=home))
    assert sorted(row["version"] for row in rows) == [1, 2], rows
    assert len({row["dir"] for row in rows}) == 2
    for row in rows:
        _assert_intact(row, row["trigger_word"])
    assert [r["status"] for r in results] == ["prepared"] * 3, results
    assert {r["dataset_id"] for r in results} == {row["id"] for row in rows}
    assert results[0]["dataset_id"] == results[2]["dataset_id"]  # same content: one version, reused
    assert sum(r["reused_existing"] for r in results) == 1
    assert not list((home / "datasets").rglob(".staging-*"))


# -- staging folders after a kill -------------------------------------------------------------------------------


def _hold_staging(base: Path, ready: Path) -> subprocess.Popen[bytes]:
    """Another process with a live run: it holds a staging folder the way prepare_dataset does."""
    code = (
        "import sys, time; from pathlib import Path; from tools.dataset.staging import Staging\n"
        "with Staging(Path(sys.argv[1])) as folder:\n"
        "    (folder / 'work.jpg').write_bytes(b'x'); Path(sys.argv[2]).write_text(str(folder)); time.sleep(600)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, str(base), str(ready)], cwd=ROOT)


async def _wait_for(condition: Any, seconds: float = 30) -> None:
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.05)


async def test_a_killed_run_leaves_staging_that_the_next_start_cleans_but_a_live_one_stays(
    tmp_path: Path, usable: Path
) -> None:
    home, pid_file, ready = tmp_path / "home", tmp_path / "server.pid", tmp_path / "held"
    base = home / "datasets" / "me"
    with contextlib.suppress(Exception):  # the session breaks when its server dies; that is the point
        async with _server(home, pid_file) as doomed:
            started = await call_ok(doomed, "prepare_dataset", _args(usable, wait_seconds=0))
            await _wait_for(lambda: any(p.is_dir() for p in base.glob(".staging-*")))
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
            assert started["status"] == "running"
    await _wait_for(lambda: not Path(f"/proc/{pid_file.read_text().strip()}").exists() or _zombie(pid_file))
    killed = [p for p in base.glob(".staging-*") if p.is_dir()]
    assert killed, "the kill left no staging folder: nothing was tested"
    holder = _hold_staging(base, ready)
    try:
        await _wait_for(ready.exists)
        live = Path(ready.read_text())
        async with _server(home) as client:
            await client.list_tools()
            await _wait_for(lambda: not any(p.exists() for p in killed), 10)  # the server's start cleans it
            done = await call_ok(client, "prepare_dataset", _args(usable))
            assert done["status"] == "prepared" and done["version"] == 1
            assert (live / "work.jpg").exists(), "another process's live run lost its staging folder"
            holder.send_signal(signal.SIGKILL)  # now that run is dead too
            holder.wait()
            await call_ok(client, "prepare_dataset", _args(usable, "SIDBX"))
    finally:
        holder.kill()
        holder.wait()
    assert not live.exists()
    assert sorted(p.name for p in base.iterdir()) == ["v1", "v2"]


def _zombie(pid_file: Path) -> bool:
    try:
        return "zombie" in Path(f"/proc/{pid_file.read_text().strip()}/status").read_text().lower()
    except OSError:
        return True


# -- memory bombs -----------------------------------------------------------------------------------------------


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_decompression_bombs_are_refused_or_read_reduced_within_bounded_memory(
    tmp_path: Path, usable: Path
) -> None:
    folder = tmp_path / "bombs"
    _usable_photos(folder)
    bomb_png(folder / "bomb-1.png", 9000, 9000)  # 81 MP in ~250 KB
    for n in (2, 3, 4):
        (folder / f"bomb-{n}.png").write_bytes((folder / "bomb-1.png").read_bytes())
    bomb_png(folder / "big-1.png", 6800, 6800)  # 46 MP: under the cap, read whole once, then reduced
    bomb_png(folder / "big-2.png", 6800, 6799)
    home, pid_file = tmp_path / "home", tmp_path / "server.pid"
    async with _server(home, pid_file) as client:
        result = await call_ok(client, "prepare_dataset", _args(folder))
        peak = _peak_rss_mb(int(pid_file.read_text()))
    rows = {row["file"]: row for row in result["images"]}
    assert result["status"] == "prepared" and result["image_count"] == 5
    for n in (1, 2, 3, 4):
        reason = rows[f"bomb-{n}.png"]["reasons"][0]
        assert "too large to decode safely" in reason and "81 MP" in reason and "50 MP limit" in reason, reason
    for name in ("big-1.png", "big-2.png"):  # decoded (black: no face), not refused as unreadable
        assert all(c["name"] != "readable" for c in rows[name]["checks"]), rows[name]
    assert peak < 1024, f"the server peaked at {peak:.0f} MB"


def test_worker_threads_do_not_grow_with_the_core_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.dataset.analyse import MAX_WORKERS, workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert workers() == MAX_WORKERS <= 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert workers() == 1


async def test_a_caption_inflating_to_hundreds_of_megabytes_is_read_with_a_cap(client: Client, tmp_path: Path) -> None:
    import io
    import tracemalloc

    from PIL import Image

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for index in range(5):
            picture = io.BytesIO()
            Image.new("RGB", (64, 64), (40 * index, 90, 140)).save(picture, "JPEG")
            out.writestr(f"{index:03d}.jpg", picture.getvalue())
            out.writestr(f"{index:03d}.txt", "photo of SIDAI, portrait")
        with out.open("005.txt", "w") as caption:  # streamed in: 256 MB of spaces after the trigger word
            caption.write(b"photo of SIDAI")
            block = b" " * (1 << 20)
            for _ in range(256):
                caption.write(block)
    assert archive.stat().st_size < 2 << 20
    args = {"dataset": str(archive), "model_name": "capped", "trigger_word": "SIDAI", "dry_run": True}
    tracemalloc.start()
    try:
        result = await call_ok(client, "start_training", args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["dry_run"] is True
    assert peak < 64 << 20, f"Python allocations peaked at {peak / 1e6:.0f} MB"


def test_the_decode_budget_grants_at_most_its_limit_and_an_oversized_request_alone() -> None:
    import threading
    import time

    from tools.dataset.pool import MemoryBudget

    budget, held, peaks, guard = MemoryBudget(100), [0], [], threading.Lock()

    def decode(amount: int) -> None:
        with budget.hold(amount):
            with guard:
                held[0] += amount
                peaks.append((held[0], amount))
            time.sleep(0.005)
            with guard:
                held[0] -= amount

    threads = [threading.Thread(target=decode, args=(n,)) for n in [30, 80, 150, 20, 60, 90, 10] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(peaks) == len(threads) and held == [0]
    assert all(total <= 100 or total == amount for total, amount in peaks), peaks
