"""quality_matrix run_suite / suite_status: scenarios × versions × seeds on the fake fal, one contact sheet."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from tests.fake_fal import FakeFal
from tests.helpers import call_ok
from tests.test_library import register_model

pytestmark = pytest.mark.anyio

CELL, LABEL_H, PAD, TITLE = 192, 28, 6, 30  # server.previews.contact_sheet geometry


def result_bytes(result: object) -> int:
    total = 0
    for block in result.content:  # type: ignore[attr-defined]
        total += len(base64.b64decode(block.data)) if block.type == "image" else len(block.text.encode())
    return total


async def test_suite_builds_a_labelled_contact_sheet(client: Client, settings: Settings, fake_fal: FakeFal) -> None:
    from PIL import Image

    register_model(settings, versions=2, lora_url=fake_fal.add_file("sid.safetensors", b"lora"))
    result = await client.call_tool(
        "quality_matrix",
        {
            "action": "run_suite",
            "model": "sid",
            "versions": [1, 2],
            "scenarios": ["professional-headshot", "youtube-thumbnail"],
            "seeds": [11, 12],
            "include_baseline": True,
            "lora_scales": [0.6],
        },
    )
    assert not result.is_error, result.content[0].text
    suite = result.structured_content["suite"]
    if suite["status"] != "completed":  # a slow machine: the suite continues in the background
        suite = (await call_ok(client, "quality_matrix", {"action": "suite_status", "suite_id": suite["suite_id"]}))[
            "suite"
        ]
    assert suite["status"] == "completed" and suite["pending"] == []
    # 2 scenarios × (baseline + 2 versions × (template scale + 0.6)) = 10 rows, one column per seed
    assert (suite["rows"], suite["columns"]) == (10, 2)
    assert suite["row_labels"][:3] == [
        "professional-headshot no-LoRA",
        "professional-headshot v1",
        "professional-headshot v1 x0.6",
    ]
    assert len(suite["cells"]) == 20 and all(c["status"] == "completed" for c in suite["cells"])
    submitted = fake_fal.submissions()
    assert len(submitted) == 20
    baseline = [j for j in submitted if "loras" not in j.input]
    assert len(baseline) == 4  # the no-LoRA row: 2 scenarios × 2 seeds
    assert sorted({j.input["seed"] for j in submitted}) == [11, 12]
    scales = sorted({lora["scale"] for j in submitted for lora in j.input.get("loras", [])})
    assert scales == [0.6, 1.0]

    sheet = Path(suite["sheet_path"])
    assert sheet.is_file() and sheet.is_relative_to(settings.outputs_dir)
    with Image.open(sheet) as img:
        assert img.format == "PNG"
        assert img.height == TITLE + 10 * (CELL + LABEL_H + PAD) + PAD
        assert img.width >= 2 * (CELL + PAD) + PAD
    previews = [b for b in result.content if b.type == "image"]
    assert len(previews) == 1
    assert result_bytes(result) < 1_000_000


async def test_suite_status_finishes_what_run_suite_left_pending(
    client: Client, settings: Settings, fake_fal: FakeFal
) -> None:
    register_model(settings, lora_url=fake_fal.add_file("sid.safetensors", b"lora"))
    fake_fal.script("fal-ai/flux-lora", queue_polls=10_000)  # stays queued until finished by hand
    started = await call_ok(
        client,
        "quality_matrix",
        {"action": "run_suite", "model": "sid@v1", "scenarios": ["book-cover"], "seeds": [1, 2, 3]},
    )
    suite = started["suite"]
    assert suite["status"] == "running" and len(suite["pending"]) == 3 and suite["sheet_path"] is None
    assert "suite_status" in suite["message"]

    for job in fake_fal.submissions():
        fake_fal.finish(job.request_id)
    done = (await call_ok(client, "quality_matrix", {"action": "suite_status", "suite_id": suite["suite_id"]}))["suite"]
    assert done["status"] == "completed" and (done["rows"], done["columns"]) == (1, 3)
    assert Path(done["sheet_path"]).is_file()
    again = (await call_ok(client, "quality_matrix", {"action": "suite_status", "suite_id": suite["suite_id"]}))[
        "suite"
    ]
    assert again["sheet_path"] == done["sheet_path"] and len(fake_fal.submissions()) == 3


async def test_images_not_submitted_in_time_are_submitted_by_suite_status(
    make_settings: Callable[..., Settings], fake_fal: FakeFal
) -> None:
    # Submissions stop at 0.7 of the wait (5.95 s): the first 4 s submission ends before that even with ~2 s of a
    # loaded machine's overhead (the first submission also reads fal's catalogue), the second one ends after it.
    settings = make_settings(tool_wait_seconds=8.5)
    register_model(settings, lora_url=fake_fal.add_file("sid.safetensors", b"lora"))
    fake_fal.inject(r"flux-lora/?$", "delay", method="POST", times=2, delay=4.0)  # slow submissions
    async with Client(create_server(settings), mode="legacy") as client:
        started = await call_ok(
            client,
            "quality_matrix",
            {"action": "run_suite", "model": "sid", "scenarios": ["team-page"], "seeds": [1, 2, 3]},
        )
        suite = started["suite"]
        assert suite["status"] == "running"
        assert [c["status"] for c in suite["cells"]][-1] == "waiting" and len(fake_fal.submissions()) == 2
        assert any("next suite_status" in w for w in suite["warnings"])
        for _ in range(10):
            suite = (
                await call_ok(client, "quality_matrix", {"action": "suite_status", "suite_id": suite["suite_id"]})
            )["suite"]
            if suite["status"] == "completed":
                break
    assert suite["status"] == "completed" and len(fake_fal.submissions()) == 3
    assert sorted(job.input["seed"] for job in fake_fal.submissions()) == [1, 2, 3]


async def test_dry_run_counts_the_images_and_prices_them_without_generating(
    make_settings: Callable[..., Settings], fake_fal: FakeFal
) -> None:
    settings = make_settings(max_cost_per_call_usd=0.1)
    register_model(settings, versions=2, lora_url=fake_fal.add_file("sid.safetensors", b"lora"))
    args = {"action": "run_suite", "model": "sid", "versions": [1, 2], "seeds": [1, 2], "dry_run": True}
    async with Client(create_server(settings), mode="legacy") as client:
        planned = (await call_ok(client, "quality_matrix", args))["suite"]
    # 3 guide scenarios × 2 versions × 2 seeds, each a 1-megapixel-class FLUX LoRA image
    assert planned["status"] == "planned" and planned["suite_id"] is None
    assert len(planned["cells"]) == 12 and (planned["rows"], planned["columns"]) == (6, 2)
    assert planned["estimated_cost_usd"] > 0.1
    assert "12 images" in planned["message"] and "Nothing was generated" in planned["message"]
    assert any("would be refused" in w and "per-call cap" in w for w in planned["warnings"])
    assert fake_fal.submissions() == []
