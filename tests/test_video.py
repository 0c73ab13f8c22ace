"""Video of you through the MCP client against the fake fal: model → still → image-to-video job → mp4 saved with
its preview; a restart mid-video; the refusals, all before any fal call. The fake checks every body against the
endpoint's published schema (a 422 would fail the job)."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import pytest
from mcp import Client
from PIL import Image

from server.app import create_server
from server.config import Settings
from server.storage import Store
from tests.fake_fal import FakeFal
from tests.helpers import call_error, call_ok
from tests.test_training import dataset_url
from tools.models.registry import register_version

pytestmark = pytest.mark.anyio

KLING = "fal-ai/kling-video/v2.5-turbo/pro/image-to-video"
WAN25 = "fal-ai/wan-25-preview/image-to-video"


def _register(settings: Settings, fake_fal: FakeFal, base_endpoint: str = "fal-ai/flux-lora", name: str = "sid") -> str:
    lora_url = fake_fal.add_file("sid.safetensors", b"lora-weights")
    store = Store(settings.db_path)
    register_version(
        store, name, trigger_word="sidxyz", base_endpoint=base_endpoint, source="trained", lora_url=lora_url
    )
    store.close()
    return lora_url


def _paid_calls(fake_fal: FakeFal) -> int:
    return fake_fal.count("POST", r"^/queue/")


async def _status(client: Client, video_id: str) -> tuple[dict[str, Any], list[Any]]:
    result = await client.call_tool("video", {"video_id": video_id, "wait_seconds": 10})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content, [block for block in result.content if block.type == "image"]


async def test_model_still_clip_preview(settings: Settings, fake_fal: FakeFal) -> None:
    lora_url = _register(settings, fake_fal)
    fake_fal.script(KLING, queue_polls=1, run_polls=2)
    async with Client(create_server(settings), mode="legacy") as client:
        planned = await call_ok(
            client, "video", {"start": "sid", "prompt": "waves hello at the camera", "dry_run": True}
        )
        assert planned["status"] == "planned" and planned["endpoint"] == KLING and _paid_calls(fake_fal) == 0
        assert "assumed $0.5/s" in planned["cost_note"] and planned["estimated_cost_usd"] > 2.5
        started = await call_ok(
            client, "video", {"start": "sid", "prompt": "waves hello at the camera", "duration_seconds": 10}
        )
        video_id = started["video_id"]
        assert started["status"] in ("queued", "running", "completed")
        done, images = await _status(client, video_id)
        spent = (await call_ok(client, "cost_report", {}))["totals"]["by_kind"]
    assert done["status"] == "completed", done
    assert done["estimated_cost_usd"] == pytest.approx(10 * 0.5 + 0.035) and spent["video"] == 5.0
    (still_job,) = fake_fal.submissions("fal-ai/flux-lora")
    assert still_job.input["loras"][0]["path"] == lora_url and still_job.input["prompt"].startswith("photo of sidxyz")
    (clip_job,) = fake_fal.submissions(KLING)
    assert clip_job.input["duration"] == "10" and clip_job.input["prompt"] == "waves hello at the camera"
    assert clip_job.input["image_url"].startswith(fake_fal.base + "/files/")  # the still, as fal stored it
    for endpoint, job in (("fal-ai/flux-lora", still_job), (KLING, clip_job)):
        assert fake_fal.catalog.check_submission(endpoint, job.input) == []  # fal's published schema accepts both
    clip = done["clip"]
    path = Path(clip["path"])
    assert path.suffix == ".mp4" and path.name.startswith("sid-v1_waves-hello-at-the-camera_10s")
    assert path.is_relative_to(settings.outputs_dir)
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened() and capture.read()[0]
    capture.release()
    assert clip["duration_seconds"] == 10.0 and clip["fps"] == 16.0 and clip["width"] and clip["height"]
    (preview,) = images
    raw = base64.b64decode(preview.data)
    assert len(raw) < 200_000
    with Image.open(io.BytesIO(raw), formats=["JPEG"]) as picture:
        assert picture.width == clip["width"] and picture.height > clip["height"]  # poster over a strip


async def test_restart_mid_video_finishes_without_a_second_submission(settings: Settings, fake_fal: FakeFal) -> None:
    _register(settings, fake_fal)
    fake_fal.script(KLING, queue_polls=10_000)  # stays queued until finished by hand
    async with Client(create_server(settings), mode="legacy") as client:
        started = await call_ok(client, "video", {"start": "sid", "prompt": "smiles"})
        assert started["status"] == "queued"
    (clip_job,) = fake_fal.submissions(KLING)
    fake_fal.finish(clip_job.request_id)
    async with Client(create_server(settings), mode="legacy") as client:
        done, images = await _status(client, started["video_id"])
        again = await call_ok(client, "video", {"start": "sid", "prompt": "smiles"})  # a later take: a new clip
    assert done["status"] == "completed" and Path(done["clip"]["path"]).is_file() and images
    assert len(fake_fal.submissions(KLING)) == 2 and again["video_id"] != started["video_id"]


async def test_identical_ask_while_running_joins_it(settings: Settings, fake_fal: FakeFal) -> None:
    _register(settings, fake_fal)
    fake_fal.script(KLING, queue_polls=10_000)
    async with Client(create_server(settings), mode="legacy") as client:
        first = await call_ok(client, "video", {"start": "sid", "prompt": "nods"})
        second = await call_ok(client, "video", {"start": "sid", "prompt": "nods"})
    assert second["video_id"] == first["video_id"] and "already on its way" in second["warnings"][0]
    assert len(fake_fal.submissions(KLING)) == 1


async def test_refusals_before_any_fal_call(settings: Settings, fake_fal: FakeFal, tmp_path: Path) -> None:
    _register(settings, fake_fal)
    big = tmp_path / "big.jpg"
    Image.new("RGB", (2048, 2048), (120, 90, 60)).save(big, "JPEG")
    async with Client(create_server(settings), mode="legacy") as client:
        text = await call_error(client, "video", {"start": "sid", "prompt": "waves", "duration_seconds": 7})
        assert "offers 5 or 10 s, not 7 s: pass duration_seconds as one of those" in text
        text = await call_error(client, "video", {"start": str(big), "prompt": "waves", "endpoint": WAN25})
        assert "2048×2048 px and the endpoint takes at most 2000×2000 px: resize it" in text
        text = await call_error(client, "video", {"start": "sid", "prompt": "waves", "endpoint": "fal-ai/flux-lora"})
        assert "not image-to-video" in text
        text = await call_error(
            client,
            "execute_custom_model",
            {"endpoint": "sid", "category_hint": "video", "input_params": {"prompt": "x"}},
        )
        assert "video(start='sid'" in text
        text = await call_error(
            client,
            "execute_custom_model",
            {"endpoint": "fal-ai/flux-lora", "category_hint": "video", "input_params": {"prompt": "x"}},
        )
        assert "makes images, not video" in text
    assert _paid_calls(fake_fal) == 0
    assert fake_fal.count("POST", r"upload|/cdn/") == 0  # nothing uploaded either


async def test_a_generation_or_a_local_image_is_animated_as_is(
    settings: Settings, fake_fal: FakeFal, tmp_path: Path
) -> None:
    _register(settings, fake_fal)
    still = tmp_path / "me.png"
    Image.new("RGB", (720, 1280), (200, 180, 160)).save(still, "PNG")
    before = still.read_bytes()
    async with Client(create_server(settings), mode="legacy") as client:
        made = await call_ok(
            client, "execute_custom_model", {"endpoint": "sid", "input_params": {"prompt": "portrait", "num_images": 1}}
        )
        generation_id = made["generations"][0]["generation_id"]
        from_generation = await call_ok(
            client, "video", {"start": generation_id, "prompt": "turns to the camera", "wait_seconds": 10}
        )
        from_file = await call_ok(
            client,
            "video",
            {
                "start": str(still),
                "prompt": "waves",
                "endpoint": "fal-ai/kling-video/o1/image-to-video",
                "wait_seconds": 10,
            },
        )
    assert from_generation["status"] == "completed" and from_generation["model"] == "sid@v1"
    assert from_file["status"] == "completed" and from_file["start"] == "image"
    (o1_job,) = fake_fal.submissions("fal-ai/kling-video/o1/image-to-video")
    assert o1_job.input["start_image_url"].startswith(fake_fal.base + "/files/")  # uploaded, under its own field
    assert still.read_bytes() == before  # the person's file is never changed
    assert len(fake_fal.submissions("fal-ai/flux-lora")) == 1  # no second still


async def test_a_video_lora_model_makes_its_clip_from_text(settings: Settings, fake_fal: FakeFal) -> None:
    lora_url = _register(settings, fake_fal, base_endpoint="fal-ai/wan-t2v-lora", name="sid-video")
    async with Client(create_server(settings), mode="legacy") as client:
        done = await call_ok(
            client,
            "video",
            {"start": "sid-video", "prompt": "waves", "aspect_ratio": "9:16", "wait_seconds": 10},
        )
    assert done["status"] == "completed" and done["start"] == "text" and done["clip"]["height"] > done["clip"]["width"]
    (job,) = fake_fal.submissions("fal-ai/wan-t2v-lora")
    assert job.input["loras"] == [{"path": lora_url, "scale": 1.0}] and job.input["prompt"] == "sidxyz, waves"
    assert fake_fal.submissions("fal-ai/flux-lora") == []


async def test_a_failed_still_ends_the_clip_unpaid(settings: Settings, fake_fal: FakeFal) -> None:
    _register(settings, fake_fal)
    fake_fal.script("fal-ai/flux-lora", fail_with="GPU exploded")
    async with Client(create_server(settings), mode="legacy") as client:
        started = await call_ok(client, "video", {"start": "sid", "prompt": "waves", "wait_seconds": 5})
        report = await call_ok(client, "cost_report", {})
    assert (
        started["status"] == "failed" and "GPU exploded" in started["error"] and "Nothing was paid" in started["error"]
    )
    assert fake_fal.submissions(KLING) == []
    assert "video" not in report["totals"]["by_kind"]


@pytest.mark.parametrize(
    ("model_type", "paired"),
    [("wan-trainer/t2v-14b", "fal-ai/wan-t2v-lora"), ("ltx2-video-trainer", "fal-ai/ltx-2-19b/text-to-video/lora")],
)
async def test_a_video_trainer_learns_from_the_prepared_photos(
    make_settings: Callable[..., Settings], fake_fal: FakeFal, model_type: str, paired: str
) -> None:
    settings = make_settings(poll_min_seconds=30.0, poll_max_seconds=60.0, daily_budget_usd=100.0)
    endpoint = f"fal-ai/{model_type}"
    fake_fal.script(endpoint, queue_polls=0, run_polls=0)
    async with Client(create_server(settings), mode="legacy") as client:
        guide = (await call_ok(client, "cost_report", {"catalog": "trainers"}))["trainers"]
        assert paired in guide["video_trainers"][model_type]
        assert model_type not in [row["model_type"] for row in guide["trainers"]]  # image trainers ranked apart
        assert "from text" in guide["not_for_people"]["wan-trainer/i2v-720p"]
        started = await call_ok(
            client,
            "start_training",
            {
                "dataset": dataset_url(fake_fal),
                "model_name": "sid-video",
                "trigger_word": "SIDAI",
                "model_type": model_type,
            },
        )
        (job,) = fake_fal.submissions(endpoint)
        assert fake_fal.catalog.check_submission(endpoint, job.input) == []  # the photo zip, as the schema wants it
        done = await call_ok(client, "training_status", {"training_id": started["training"]["id"], "wait_seconds": 5})
        assert done["training"]["status"] == "completed", done
        (version,) = (await call_ok(client, "list_models", {"name": "sid-video"}))["versions"]
    assert version["base_endpoint"] == paired
