"""The guide's whole workflow through the MCP client, as an agent runs it, against the fake fal:
photo folder → prepare_dataset → start_training → training_status → model v1 → alias → the guide's exact
execute_custom_model call → prompt_library run → quality_matrix → cost_report. The API key appears nowhere.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from PIL import Image, ImageOps

from server.config import Settings
from tests.conftest import TEST_KEY
from tests.fake_fal import FakeFal
from tests.helpers import call_ok
from tests.photos import real_photos
from tests.test_secrets import assert_secret_absent

pytestmark = pytest.mark.anyio

FAST = "fal-ai/flux-lora-fast-training"


async def test_photo_folder_to_generated_headshot(
    client: Client, settings: Settings, fake_fal: FakeFal, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    photos = real_photos()
    folder = tmp_path / "jane"
    for sub, names in {"professional": ["obama.jpg", "obama3.jpg"], "casual": ["obama2.jpg"]}.items():
        (folder / sub).mkdir(parents=True)
        for name in names:
            shutil.copy(photos[name], folder / sub / name)
    # Packages ship only three distinct photos of one person: a fourth is a generated variation (mirrored crop).
    obama3 = ImageOps.mirror(Image.open(photos["obama3.jpg"]).convert("RGB"))
    obama3.crop((200, 100, 1300, 1300)).save(folder / "casual" / "obama3_crop.jpg", quality=92)
    shutil.copy(photos["biden.jpg"], folder / "biden.jpg")  # someone else: left out by default
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    results: list[Any] = []

    prepared = await call_ok(client, "prepare_dataset", {"folder": str(folder), "trigger_word": "SIDAI"})
    results.append(prepared)
    assert prepared["fal_url"] and prepared["uploaded_now"] is True
    biden = next(row for row in prepared["images"] if row["file"] == "biden.jpg")
    assert not biden["kept"] and "differs from the person in 4 other photos" in biden["reasons"][0]
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before, "originals must not change"

    started = await call_ok(
        client,
        "start_training",
        {"dataset": prepared["dataset_id"], "model_name": "sid-custom-model", "steps": 1000},
    )
    results.append(started)
    training = started["training"]
    assert training["status"] == "queued" and started["estimated_cost_usd"] == pytest.approx(2.0)
    assert fake_fal.submissions(FAST)[0].input["images_data_url"] == prepared["fal_url"]

    done = (await call_ok(client, "training_status", {"training_id": training["id"], "wait_seconds": 20}))["training"]
    results.append(done)
    assert done["status"] == "completed" and done["model_version"] == 1 and Path(done["lora_path"]).is_file()

    alias = "fal-ai/YOUR_USERNAME/sid-custom-model"
    results.append(
        await call_ok(client, "manage_model", {"action": "alias", "name": "sid-custom-model", "alias": alias})
    )

    # The guide's call, verbatim in shape.
    generated = await call_ok(
        client,
        "execute_custom_model",
        {
            "endpoint": alias,
            "category_hint": "image",
            "input_params": {
                "prompt": "professional headshot wearing business attire, studio lighting",
                "num_images": 2,
                "guidance_scale": 3.5,
                "num_inference_steps": 28,
            },
        },
    )
    results.append(generated)
    sent = fake_fal.submissions("fal-ai/flux-lora")[0].input
    version = (await call_ok(client, "list_models", {"name": "sid-custom-model"}))["versions"][0]
    assert sent["loras"] == [{"path": version["lora_url"], "scale": 1.0}]
    assert "SIDAI" in sent["prompt"]
    files = generated["generations"][0]["files"] if "generations" in generated else generated["files"]
    assert len(files) == 2 and all(Path(f["path"]).is_file() for f in files)

    headshot = await call_ok(
        client,
        "prompt_library",
        {"action": "run", "name": "professional-headshot", "model": "sid-custom-model"},
    )
    results.append(headshot)
    assert "SIDAI" in fake_fal.submissions("fal-ai/flux-lora")[-1].input["prompt"]

    results.append(
        await call_ok(
            client,
            "quality_matrix",
            {
                "action": "record",
                "model": "sid-custom-model@v1",
                "scores": [{"scenario": "professional-headshot", "quality": 8}],
            },
        )
    )
    costs = await call_ok(client, "cost_report", {})
    results.append(costs)
    assert costs["totals"]["by_model"]["sid-custom-model"] > 2.0  # the training plus the generations

    serialized = json.dumps(results)
    assert len(serialized) < 1_000_000
    assert_secret_absent(TEST_KEY, texts=results, logs=caplog, db_path=settings.db_path, data_dir=settings.home)
