"""execute_custom_model and friends through the MCP client, against the fake fal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from server.storage import Store
from tests.fake_fal import FakeFal
from tests.helpers import call_ok
from tools.registry import register_version

pytestmark = pytest.mark.anyio

GUIDE_ENDPOINT = "fal-ai/YOUR_USERNAME/sid-custom-model"
GUIDE_PARAMS = {
    "prompt": "professional headshot, studio lighting",
    "num_images": 2,
    "guidance_scale": 3.5,
    "num_inference_steps": 28,
}


def _register_sid(settings: Settings, fake_fal: FakeFal, **overrides: Any) -> str:
    lora_url = fake_fal.add_file("sid.safetensors", b"lora-weights")
    store = Store(settings.db_path)
    values: dict[str, Any] = {
        "trigger_word": "sidxyz",
        "base_endpoint": "fal-ai/flux-lora",
        "source": "trained",
        "lora_url": lora_url,
        "lora_scale": 0.9,
    }
    values.update(overrides)
    register_version(store, "sid-custom-model", **values)
    store.close()
    return lora_url


async def test_guide_call_resolves_registered_model_to_lora_endpoint(settings: Settings, fake_fal: FakeFal) -> None:
    lora_url = _register_sid(settings, fake_fal)
    async with Client(create_server(settings), mode="legacy") as client:
        result = await call_ok(
            client,
            "execute_custom_model",
            {"endpoint": GUIDE_ENDPOINT, "category_hint": "image", "input_params": GUIDE_PARAMS},
        )
    (job,) = fake_fal.submissions()
    assert job.endpoint == "fal-ai/flux-lora"
    assert job.input["loras"] == [{"path": lora_url, "scale": 0.9}]
    assert job.input["prompt"].startswith("sidxyz, ")
    assert job.input["num_images"] == 2
    gen = result["generations"][0]
    assert result["status"] == "completed"
    assert gen["model_name"] == "sid-custom-model" and gen["model_version"] == 1
    assert gen["trigger_word_inserted"] is True
    assert any("Trigger word" in w for w in gen["warnings"])
    assert len(gen["files"]) == 2
    for f in gen["files"]:
        assert Path(f["path"]).is_file()
        assert f["seed"] == gen["seed"]
    print(json.dumps(gen["files"], indent=1))
