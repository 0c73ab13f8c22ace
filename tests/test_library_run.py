"""prompt_library action=run: the rendered template goes through the shared generation machinery to the fake fal."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from server.config import Settings
from tests.fake_fal import FakeFal
from tests.helpers import call_error, call_ok
from tests.test_library import register_model

pytestmark = pytest.mark.anyio


async def test_run_renders_the_template_and_saves_files(client: Client, settings: Settings, fake_fal: FakeFal) -> None:
    lora_url = fake_fal.add_file("sid.safetensors", b"lora-weights")
    register_model(settings, lora_url=lora_url)
    result = await client.call_tool(
        "prompt_library",
        {
            "action": "run",
            "name": "linkedin-profile",
            "model": "sid",
            "values": {"outfit": "a navy suit"},
            "input_params": {"seed": 7, "num_images": 2},
        },
    )
    assert not result.is_error, result.content[0].text
    out = result.structured_content
    expected = (
        "linkedin profile photo of sidx, head and shoulders, a navy suit, warm friendly smile, soft window light, "
        "softly blurred modern office background, professional, natural skin texture, 85mm lens"
    )
    assert out["rendered"]["prompt"] == expected
    generation = out["generation"]
    assert generation["status"] == "completed" and generation["scenario"] == "linkedin-profile"
    assert generation["model_name"] == "sid" and generation["model_version"] == 1
    assert len(generation["files"]) == 2
    for file in generation["files"]:
        path = Path(file["path"])
        assert path.is_file() and path.is_relative_to(settings.outputs_dir)
        assert (file["width"], file["height"]) == (768, 1024)  # the template's portrait_4_3
    (job,) = fake_fal.submissions()
    assert job.endpoint == "fal-ai/flux-lora"
    assert job.input["prompt"] == expected
    assert job.input["seed"] == 7 and job.input["guidance_scale"] == 3.5 and job.input["num_inference_steps"] == 28
    assert job.input["loras"] == [{"path": lora_url, "scale": 1.0}]
    assert sum(1 for block in result.content if block.type == "image") == 2  # thumbnails


async def test_run_errors_before_spending(client: Client, settings: Settings, fake_fal: FakeFal) -> None:
    register_model(settings, lora_url=fake_fal.add_file("sid.safetensors", b"lora"))
    assert "run needs model" in await call_error(
        client, "prompt_library", {"action": "run", "name": "professional-headshot", "trigger_word": "sidx"}
    )
    await call_ok(
        client,
        "prompt_library",
        {"action": "save", "name": "needs-x", "template": "{trigger} in {x}", "variables": {"x": None}},
    )
    assert "needs values for ['x']" in await call_error(
        client, "prompt_library", {"action": "run", "name": "needs-x", "model": "sid"}
    )
    assert "must not contain 'prompt'" in await call_error(
        client,
        "prompt_library",
        {"action": "run", "name": "casual-outdoor", "model": "sid", "input_params": {"prompt": "x"}},
    )
    assert fake_fal.submissions() == []
