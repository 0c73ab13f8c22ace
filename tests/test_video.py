"""Video of you through the MCP client against the fake fal. The fake checks every body against the endpoint's
published schema (a 422 would fail the job)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from server.storage import Store
from tests.fake_fal import FakeFal
from tests.helpers import call_error
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
