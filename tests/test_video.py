"""Video of you through the MCP client against the fake fal. The fake checks every body against the endpoint's
published schema (a 422 would fail the job)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from server.storage import Store
from tests.fake_fal import FakeFal
from tests.helpers import call_error, call_ok
from tests.test_training import dataset_url
from tools.models.registry import register_version

pytestmark = pytest.mark.anyio


def _register(settings: Settings, fake_fal: FakeFal, **overrides: Any) -> str:
    lora_url = fake_fal.add_file("sid.safetensors", b"lora-weights")
    store = Store(settings.db_path)
    values: dict[str, Any] = {"trigger_word": "sidxyz", "base_endpoint": "fal-ai/flux-lora", "source": "trained"}
    register_version(store, "sid", **{**values, "lora_url": lora_url, **overrides})
    store.close()
    return lora_url


def _paid_calls(fake_fal: FakeFal) -> int:
    return fake_fal.count("POST", r"^/queue/")


async def test_category_hint_video_on_an_image_model_or_endpoint_is_refused(
    settings: Settings, fake_fal: FakeFal
) -> None:
    _register(settings, fake_fal)
    async with Client(create_server(settings), mode="legacy") as client:
        model = await call_error(
            client,
            "execute_custom_model",
            {"endpoint": "sid", "category_hint": "video", "input_params": {"prompt": "x"}},
        )
        assert "sid makes images on fal-ai/flux-lora, not video: animate a still of it with video(start='sid'" in model
        endpoint = await call_error(
            client,
            "execute_custom_model",
            {"endpoint": "fal-ai/flux-lora", "category_hint": "video", "input_params": {"prompt": "x"}},
        )
        assert "fal-ai/flux-lora makes images, not video: animate one of its images with video(start=" in endpoint
    assert _paid_calls(fake_fal) == 0


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
