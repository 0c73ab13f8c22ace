"""Cheap polling for generations and clips, through the MCP client against the fake fal: while a job is on fal its
answer is a few lines with an ETA and what that rests on from the first poll; once finished, the full record with
the saved files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from server.storage import Store
from tests.fake_fal import FakeFal
from tests.helpers import call_ok
from tests.test_status_polling import RUNNING_ANSWER_TOKENS, answer_tokens
from tests.test_video import KLING, _register

pytestmark = pytest.mark.anyio

FLUX = "fal-ai/flux-lora"
HELD = 10_000  # status polls the fake answers IN_QUEUE: the job stays on fal until finished by hand


@pytest.fixture
async def quiet(make_settings: Callable[..., Settings]) -> Any:
    """fal is checked only when a call asks (the background poller's own schedule is 30-60 s)."""
    async with Client(create_server(make_settings(poll_min_seconds=30.0, poll_max_seconds=60.0)), mode="legacy") as c:
        yield c


async def _brief(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    raw = await client.call_tool(tool, arguments)
    assert not raw.is_error and raw.structured_content is not None, raw.content
    assert answer_tokens(raw) < RUNNING_ANSWER_TOKENS, (answer_tokens(raw), raw.structured_content)
    return raw.structured_content


async def test_a_running_generation_is_a_few_lines_with_an_eta_from_the_first_poll(
    quiet: Client, fake_fal: FakeFal
) -> None:
    fake_fal.script(FLUX, duration_seconds=4.0)  # one finished generation on the endpoint to time the next by
    first = {"endpoint": FLUX, "input_params": {"prompt": "a kite"}, "wait_seconds": 15}
    earlier = await call_ok(quiet, "execute_custom_model", first)
    assert earlier["status"] == "completed"

    fake_fal.script(FLUX, queue_polls=1, run_polls=50)
    args = {"endpoint": FLUX, "input_params": {"prompt": "a red kite"}, "wait_seconds": 0}
    started = await _brief(quiet, "execute_custom_model", args)
    (item,) = started["generations"]
    assert started["status"] == "pending" and set(item) <= {"generation_id", "status", "queue_position"}
    assert started["progress"]["eta_basis"].startswith(f"median of 1 finished {FLUX} generations here")
    polled = await _brief(quiet, "generation_status", {"generation_id": item["generation_id"]})
    assert polled["generations"] == [{"generation_id": item["generation_id"], "status": "running"}]
    progress = polled["progress"]
    assert progress["eta_basis"] == f"median of 1 finished {FLUX} generations here"
    assert 0 < progress["eta_seconds"] <= 7 and progress["elapsed_seconds"] >= 0
    assert "generation_status" in polled["next_step"] and "wait_seconds" in polled["next_step"]

    (_, job) = fake_fal.submissions(FLUX)
    fake_fal.finish(job.request_id)
    done = await call_ok(quiet, "generation_status", {"generation_id": item["generation_id"], "wait_seconds": 5})
    (out,) = done["generations"]
    assert done["status"] == "completed" and done["progress"] is None and done["previews"] == 1
    assert out["request"]["prompt"] == "a red kite" and Path(out["files"][0]["path"]).is_file()


async def test_a_running_batch_is_a_few_lines_whatever_its_size(quiet: Client, fake_fal: FakeFal) -> None:
    fake_fal.script(FLUX, queue_polls=HELD)
    prompts = [f"a kite, take {n}" for n in range(16)]
    args = {"endpoint": FLUX, "batch": prompts, "input_params": {"image_size": "square"}, "wait_seconds": 0}
    started = await _brief(quiet, "execute_custom_model", args)
    assert started["status"] == "pending" and started["pending"] == 16 and started["generations"] == []
    progress = started["progress"]
    assert progress["queued"] + progress["running"] == 16
    # nothing finished on this server yet: no figure, and the answer says why
    assert progress["eta_seconds"] is None and progress["eta_basis"].startswith("none yet")

    jobs = fake_fal.submissions(FLUX)
    fake_fal.finish(jobs[0].request_id)
    partial = await call_ok(quiet, "generation_status", {"batch_id": started["batch_id"]})
    (finished,) = partial["generations"]  # the finished item in full, the others only counted
    assert partial["status"] == "pending" and partial["completed"] == 1 and partial["pending"] == 15
    assert Path(finished["files"][0]["path"]).is_file() and partial["progress"]["queued"] == 15
    assert f"median of 1 finished {FLUX} generations here" in partial["progress"]["eta_basis"]

    for job in jobs[1:]:
        fake_fal.finish(job.request_id)
    done = await call_ok(quiet, "generation_status", {"batch_id": started["batch_id"], "wait_seconds": 20})
    assert done["status"] == "completed" and len(done["generations"]) == 16 and done["progress"] is None
    assert all(Path(g["files"][0]["path"]).is_file() for g in done["generations"])


async def test_a_running_clip_is_a_few_lines_with_its_stage_and_eta(
    quiet: Client, fake_fal: FakeFal, make_settings: Callable[..., Settings]
) -> None:
    _register(make_settings(), fake_fal)
    fake_fal.script(KLING, queue_polls=HELD)
    started = await call_ok(quiet, "video", {"start": "sid", "prompt": "smiles", "duration_seconds": 5})
    assert started["status"] == "queued" and started["request"] and started["progress"]["stage"] == "clip queued on fal"
    polled = await _brief(quiet, "video", {"video_id": started["video_id"]})
    assert "request" not in polled and polled["status"] == "queued"
    progress = polled["progress"]
    assert progress["stage"] == "clip queued on fal" and progress["queue_position"] > 0
    # no clip has finished here yet: the clip's length at a rate named as an assumption
    assert progress["eta_basis"].startswith("assumed 30 s per clip second") and 140 <= progress["eta_seconds"] <= 150
    assert "video_id" in polled["next_step"]

    (clip_job,) = fake_fal.submissions(KLING)
    fake_fal.finish(clip_job.request_id)
    done = await call_ok(quiet, "video", {"video_id": started["video_id"], "wait_seconds": 10})
    assert done["status"] == "completed" and done["progress"] is None and Path(done["clip"]["path"]).is_file()

    again = await call_ok(quiet, "video", {"start": "sid", "prompt": "laughs", "duration_seconds": 5})
    polled = await _brief(quiet, "video", {"video_id": again["video_id"]})
    assert "median of 1 finished clips on this endpoint here, scaled to a 5 s clip" in polled["progress"]["eta_basis"]


async def test_a_clip_waiting_for_its_still_says_so(
    quiet: Client, fake_fal: FakeFal, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    _register(settings, fake_fal)
    fake_fal.script(FLUX, queue_polls=HELD)
    fake_fal.script(KLING, queue_polls=HELD)
    async with anyio.create_task_group() as group:
        group.start_soon(call_ok, quiet, "video", {"start": "sid", "prompt": "waves", "duration_seconds": 10})
        video_id = await _first_video(settings, fake_fal)
        polled = await _brief(quiet, "video", {"video_id": video_id})
        (still,) = fake_fal.submissions(FLUX)
        fake_fal.finish(still.request_id)
    assert polled["status"] == "making_still" and polled["progress"]["stage"] == "making the still"
    # the still cannot be timed yet (nothing finished here), so there is no total; the clip's part is still said
    assert polled["progress"]["eta_seconds"] is None
    assert (
        polled["progress"]["eta_basis"].startswith("still: none yet")
        and "then the clip ~5 min" in (polled["progress"]["eta_basis"])
    )


async def _first_video(settings: Settings, fake_fal: FakeFal) -> str:
    """The clip's id, once its still has been sent to fal (the video call is still waiting for that still)."""
    store = Store(settings.db_path)
    try:
        with anyio.fail_after(10):
            while not fake_fal.submissions(FLUX):
                await anyio.sleep(0.05)
        row = store.query_one("SELECT id FROM videos")
        assert row is not None
        return str(row["id"])
    finally:
        store.close()


async def test_following_a_clip_with_wait_seconds_covers_the_still_and_the_clip_with_progress(
    quiet: Client, fake_fal: FakeFal, make_settings: Callable[..., Settings]
) -> None:
    """One video(video_id, wait_seconds) call waits for the still, sends the clip and follows it on fal, with a
    progress notification at each check (stage, time so far) in the order they happened."""
    settings = make_settings()
    _register(settings, fake_fal)
    fake_fal.script(FLUX, queue_polls=HELD)
    fake_fal.script(KLING, queue_polls=3, run_polls=3)
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with anyio.create_task_group() as group:
        group.start_soon(call_ok, quiet, "video", {"start": "sid", "prompt": "waves", "duration_seconds": 5})
        video_id = await _first_video(settings, fake_fal)
        (still,) = fake_fal.submissions(FLUX)
        group.start_soon(_finish_later, fake_fal, still.request_id)
        done = await call_ok(quiet, "video", {"video_id": video_id, "wait_seconds": 25}, progress_callback=on_progress)
    assert done["status"] == "completed" and Path(done["clip"]["path"]).is_file()
    assert len(fake_fal.submissions(KLING)) == 1
    messages = [message or "" for _, message in seen]
    assert any(m.startswith("making the still") for m in messages), messages
    assert any(m.startswith(("clip queued on fal", "clip rendering on fal")) for m in messages), messages
    assert all("so far" in m for m in messages)
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)


async def _finish_later(fake_fal: FakeFal, request_id: str) -> None:
    await anyio.sleep(1.0)
    fake_fal.finish(request_id)
