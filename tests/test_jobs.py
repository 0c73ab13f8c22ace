"""The job engine through the tools: lost submissions, status glitches, slow downloads, clock steps, budget races,
outputs that are not images, and what is copied from fal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from tests.conftest import TEST_KEY
from tests.fake_fal import FakeFal
from tests.helpers import call_error, call_ok
from tests.test_training import FAST, dataset_url, db_rows, zip_bytes

pytestmark = pytest.mark.anyio

ENDPOINT = "fal-ai/flux-lora"
SUBMIT = r"^/queue/fal-ai/flux-lora$"
STATUS = r"^/queue/fal-ai/flux-lora/requests/[^/]+/status$"
ONE_IMAGE = {"prompt": "a red kite over the sea", "image_size": "square_hd", "num_images": 1}


async def _wait_for_row(settings: Settings, generation_id: str, status: str, timeout: float = 15.0) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while True:
            (row,) = db_rows(settings, "SELECT * FROM generations WHERE id = ?", (generation_id,))
            if row["status"] == status and row["next_poll_at"] is None:
                return row
            await anyio.sleep(0.1)


async def test_generation_whose_submit_answer_was_lost_is_unknown_and_not_resubmitted(
    client: Client, fake_fal: FakeFal, settings: Settings
) -> None:
    fake_fal.script(ENDPOINT, queue_polls=0, run_polls=0)
    fake_fal.inject(SUBMIT, "drop_after", method="POST")
    args = {"endpoint": ENDPOINT, "input_params": ONE_IMAGE}
    text = await call_error(client, "execute_custom_model", args)
    assert "unknown" in text and "dashboard" in text and "force=true" in text
    assert len(fake_fal.submissions(ENDPOINT)) == 1  # fal did queue it; the answer was lost
    (row,) = db_rows(settings, "SELECT status FROM generations")
    assert row["status"] == "unknown"

    again = await call_error(client, "execute_custom_model", args)
    assert "outcome is unknown" in again and "force=true" in again
    assert fake_fal.count("POST", SUBMIT) == 1

    report = await call_ok(client, "cost_report", {})
    assert report["by_outcome"]["unknown"] > 0 and report["maybe_not_charged_usd"] > 0
    assert report["totals"]["today_usd"] >= report["by_outcome"]["unknown"]  # stays counted against the budget

    forced = await call_ok(client, "execute_custom_model", {**args, "force": True})
    assert forced["status"] == "completed" and fake_fal.count("POST", SUBMIT) == 2


@pytest.mark.parametrize("glitch", ["html", "401"])
async def test_a_one_off_bad_status_answer_does_not_fail_a_job_fal_completes(
    client: Client, fake_fal: FakeFal, glitch: str
) -> None:
    fake_fal.script(ENDPOINT, queue_polls=1, run_polls=1)
    if glitch == "html":
        fake_fal.inject(STATUS, "status", method="GET", status=200, ingress=True)
    else:
        fake_fal.inject(STATUS, "status", method="GET", status=401, body="Invalid key")
    done = await call_ok(client, "execute_custom_model", {"endpoint": ENDPOINT, "input_params": ONE_IMAGE})
    (generation,) = done["generations"]
    assert done["status"] == "completed" and generation["status"] == "completed"
    assert generation["error"] is None and Path(generation["files"][0]["path"]).is_file()
    assert fake_fal.faults[0].hits == 1


async def test_a_slow_drip_download_times_out_and_the_job_stays_retryable(
    make_settings: Callable[..., Settings], fake_fal: FakeFal
) -> None:
    settings = make_settings(download_deadline_seconds=1.0)
    fake_fal.script(ENDPOINT, queue_polls=0, run_polls=0)
    fake_fal.inject(r"^/files/[^/]+/image_0\.jpg$", "trickle", delay=0.05, times=1)
    async with Client(create_server(settings), mode="legacy") as client:
        first = await call_ok(client, "execute_custom_model", {"endpoint": ENDPOINT, "input_params": ONE_IMAGE})
        (generation,) = first["generations"]
        assert generation["status"] == "completed" and generation["files"][0]["path"] == ""
        assert "within 1 s" in generation["error"] and "retries the download" in generation["error"]
        assert not list(settings.outputs_dir.rglob("*.part"))
        row = await _wait_for_row(settings, generation["generation_id"], "completed")
    (saved,) = json.loads(row["files_json"])
    assert Path(saved["path"]).is_file() and row["error"] is None
    assert len(fake_fal.submissions(ENDPOINT)) == 1


async def test_a_backward_wall_clock_step_does_not_stop_polling(
    settings: Settings, fake_fal: FakeFal, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_fal.script(ENDPOINT, queue_polls=10**6)
    async with Client(create_server(settings), mode="legacy") as client:
        first = await call_ok(
            client, "execute_custom_model", {"endpoint": ENDPOINT, "input_params": ONE_IMAGE, "wait_seconds": 0.3}
        )
        (generation,) = first["generations"]
        assert generation["status"] == "queued"
        wall = time.time
        monkeypatch.setattr(time, "time", lambda: wall() - 3600.0)  # the clock is set back an hour
        (job,) = fake_fal.submissions(ENDPOINT)
        fake_fal.finish(job.request_id)
        row = await _wait_for_row(settings, generation["generation_id"], "completed")
    assert json.loads(row["files_json"])[0]["path"]


async def test_five_concurrent_calls_with_room_for_one_image_let_exactly_one_through(
    make_settings: Callable[..., Settings], fake_fal: FakeFal
) -> None:
    settings = make_settings(daily_budget_usd=0.05)  # one square_hd image is ~$0.037
    fake_fal.script(ENDPOINT, queue_polls=0, run_polls=0)
    outcomes: list[bool] = []
    texts: list[str] = []
    async with Client(create_server(settings), mode="legacy") as client:

        async def one(index: int) -> None:
            params = {**ONE_IMAGE, "prompt": f"a red kite, take {index}"}
            result = await client.call_tool("execute_custom_model", {"endpoint": ENDPOINT, "input_params": params})
            outcomes.append(not result.is_error)
            texts.append(" ".join(getattr(block, "text", "") for block in result.content))

        async with anyio.create_task_group() as group:
            for index in range(5):
                group.start_soon(one, index)
    assert outcomes.count(True) == 1, texts
    assert sum("daily budget" in text for text in texts) == 4
    assert len(fake_fal.submissions(ENDPOINT)) == 1


async def test_an_output_that_is_not_an_image_is_kept_and_reported(client: Client, fake_fal: FakeFal) -> None:
    def result(job: Any) -> dict[str, Any]:
        good = fake_fal.add_file("image_0.jpg", _jpeg(), "image/jpeg")
        bad = fake_fal.add_file("image_1.jpg", b"<html>not an image</html>", "image/jpeg")
        return {"images": [{"url": good, "content_type": "image/jpeg"}, {"url": bad, "content_type": "image/jpeg"}]}

    fake_fal.script(ENDPOINT, queue_polls=0, run_polls=0, result=result)
    done = await call_ok(client, "execute_custom_model", {"endpoint": ENDPOINT, "input_params": ONE_IMAGE})
    (generation,) = done["generations"]
    good, bad = generation["files"]
    assert good["readable"] and not bad["readable"] and Path(bad["path"]).is_file()
    assert "not a readable image" in generation["error"] and done["previews"] == 1
    later = await call_ok(client, "generation_status", {"generation_id": generation["generation_id"]})
    assert later["generations"][0]["generation_id"] == generation["generation_id"] and later["previews"] == 1


async def test_text_copied_from_fal_is_redacted_and_capped(client: Client, fake_fal: FakeFal) -> None:
    def result(job: Any) -> dict[str, Any]:
        url = fake_fal.add_file("image_0.jpg", _jpeg(), "image/jpeg")
        return {"images": [{"url": url}], "prompt": f"echo {TEST_KEY} " + "x" * 300_000, "seed": 7}

    fake_fal.script(ENDPOINT, queue_polls=0, run_polls=0, result=result)
    raw = await client.call_tool("execute_custom_model", {"endpoint": ENDPOINT, "input_params": ONE_IMAGE})
    text = " ".join(getattr(block, "text", "") for block in raw.content)
    assert not raw.is_error and TEST_KEY not in text and "test-key-secret" not in text
    prompt = raw.structured_content["generations"][0]["prompt"]
    assert prompt.startswith("echo ***") and len(prompt) < 5000
    assert len(text) < 100_000


async def test_training_log_lines_copied_from_fal_are_redacted_and_capped(
    client: Client, fake_fal: FakeFal, settings: Settings
) -> None:
    fake_fal.script(FAST, queue_polls=0, run_polls=2, log_line=f"echo {TEST_KEY} " + "y" * 50_000)
    args = {"dataset": dataset_url(fake_fal), "model_name": "echo", "trigger_word": "ECHOX"}
    run = (await call_ok(client, "start_training", args))["training"]
    raw = await client.call_tool("training_status", {"training_id": run["id"], "wait_seconds": 20})
    text = " ".join(getattr(block, "text", "") for block in raw.content)
    assert not raw.is_error and raw.structured_content["training"]["status"] == "completed"
    assert TEST_KEY not in text and "test-key-secret" not in text
    (row,) = db_rows(settings, "SELECT logs_json FROM trainings")
    stored = json.loads(row["logs_json"])
    assert any(line.startswith("echo ***") for line in stored) and max(len(line) for line in stored) < 1000
    assert TEST_KEY not in row["logs_json"]


async def test_dry_run_with_a_local_zip_uploads_nothing(client: Client, fake_fal: FakeFal, tmp_path: Path) -> None:
    archive = tmp_path / "five.zip"
    archive.write_bytes(zip_bytes(5))
    args = {"dataset": str(archive), "model_name": "sid", "trigger_word": "SIDAI", "dry_run": True}
    plan = await call_ok(client, "start_training", args)
    assert plan["dry_run"] is True and "not uploaded" in json.dumps(plan["request"])
    assert not [r for r in fake_fal.requests if r.method in ("POST", "PUT")]


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()
