"""execute_custom_model and friends through the MCP client, against the fake fal."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from server.storage import Store
from tests.fake_fal import FakeFal
from tests.helpers import call_error, call_ok
from tools.models.registry import register_version

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


async def test_raw_endpoints_pass_through_and_warn(client: Client, fake_fal: FakeFal) -> None:
    # An endpoint the server does not know: input sent exactly as given, outputs read by category_hint.
    params = {"prompt": "a drone shot of a coast", "duration": "5s", "whatever": [1, 2]}
    result = await call_ok(
        client,
        "execute_custom_model",
        {"endpoint": "someone/coast-video-model", "input_params": params, "category_hint": "video"},
    )
    (job,) = fake_fal.submissions("someone/coast-video-model")
    assert job.input == params
    gen = result["generations"][0]
    assert gen["endpoint"] == "someone/coast-video-model" and gen["model_name"] is None
    assert gen["files"][0]["path"].endswith(".mp4") and Path(gen["files"][0]["path"]).is_file()
    assert any("not in fal's catalogue" in w for w in gen["warnings"])
    assert any("price unknown" in w for w in gen["warnings"])  # held at the per-call cap, not priced as an image

    # A catalogued endpoint whose schema has no loras / negative_prompt: sent as given (fal ignores them), and named.
    result = await call_ok(
        client,
        "execute_custom_model",
        {
            "endpoint": "fal-ai/flux/dev",
            "input_params": {
                "prompt": "a lighthouse",
                "negative_prompt": "blurry",
                "loras": [{"path": "https://example.invalid/x.safetensors", "scale": 1}],
                "steps": 20,
                "cfg_scale": 4,
                "width": 512,
                "height": 768,
                "image_format": "png",
            },
        },
    )
    (job,) = fake_fal.submissions("fal-ai/flux/dev")
    assert job.input["negative_prompt"] == "blurry" and job.input["loras"]
    assert job.input["num_inference_steps"] == 20 and job.input["guidance_scale"] == 4
    assert job.input["image_size"] == {"width": 512, "height": 768} and job.input["output_format"] == "png"
    warnings = " ".join(result["generations"][0]["warnings"])
    assert "no 'loras' input" in warnings and "'negative_prompt'" in warnings and "'steps'" in warnings
    file = result["generations"][0]["files"][0]
    assert (file["width"], file["height"]) == (512, 768) and file["path"].endswith(".png")


async def test_registered_model_can_never_send_its_lora_to_an_endpoint_that_ignores_it(
    settings: Settings, fake_fal: FakeFal
) -> None:
    _register_sid(settings, fake_fal, base_endpoint="fal-ai/flux/dev")
    async with Client(create_server(settings), mode="legacy") as client:
        text = await call_error(
            client, "execute_custom_model", {"endpoint": "sid-custom-model", "input_params": GUIDE_PARAMS}
        )
    assert "no loras input" in text and "fal-ai/flux-lora" in text
    assert fake_fal.submissions() == []


async def test_invalid_input_lists_every_bad_field_and_spends_nothing(client: Client, fake_fal: FakeFal) -> None:
    text = await call_error(
        client,
        "execute_custom_model",
        {
            "endpoint": "fal-ai/flux-lora",
            "input_params": {
                "prompt": "x",
                "num_images": 9,
                "num_inference_steps": 80,
                "guidance_scale": -2,
                "image_size": "huge",
                "output_format": "gif",
                "seed": -1,
                "enable_safety_checker": "no",
            },
        },
    )
    for fragment in (
        "num_images=9",
        "1 to 4",
        "num_inference_steps=80",
        "1 to 50",
        "guidance_scale=-2",
        "image_size='huge'",
        "output_format='gif'",
        "jpeg, png",
        "seed=-1",
        "enable_safety_checker",
    ):
        assert fragment in text, fragment
    assert fake_fal.submissions() == []
    report = await call_ok(client, "cost_report", {})
    assert report["totals"]["total_usd"] == 0


async def test_model_versions_lora_scale_baseline_and_local_lora_upload(
    settings: Settings, fake_fal: FakeFal, tmp_path: Path
) -> None:
    url_v1 = _register_sid(settings, fake_fal)
    local = tmp_path / "v2.safetensors"
    local.write_bytes(b"local-lora-v2")
    _register_sid(settings, fake_fal, lora_url=None, lora_path=str(local), trigger_word="sidv2")
    async with Client(create_server(settings), mode="legacy") as client:
        v1 = await call_ok(
            client,
            "execute_custom_model",
            {"endpoint": "sid-custom-model@v1", "input_params": {"prompt": "sidxyz hiking", "lora_scale": 0.6}},
        )
        latest = await call_ok(
            client, "execute_custom_model", {"endpoint": "sid-custom-model", "input_params": {"prompt": "portrait"}}
        )
        baseline = await call_ok(
            client,
            "execute_custom_model",
            {"endpoint": "sid-custom-model", "input_params": {"prompt": "portrait"}, "use_lora": False},
        )
        text = await call_error(
            client, "execute_custom_model", {"endpoint": "sid-custom-model@v7", "input_params": {"prompt": "x"}}
        )
        assert "no version 7" in text
        text = await call_error(
            client, "execute_custom_model", {"endpoint": "sid-custom-modle", "input_params": {"prompt": "x"}}
        )
        assert "sid-custom-model" in text
    first, second, third = fake_fal.submissions("fal-ai/flux-lora")
    assert first.input["loras"] == [{"path": url_v1, "scale": 0.6}] and first.input["prompt"] == "sidxyz hiking"
    assert v1["generations"][0]["trigger_word_inserted"] is False
    # v2 only has a local file: it is uploaded to fal storage once and that URL is used.
    uploaded = second.input["loras"][0]["path"]
    assert uploaded.startswith(fake_fal.base + "/files/") and uploaded.endswith("v2.safetensors")
    assert second.input["prompt"] == "sidv2, portrait" and latest["generations"][0]["model_version"] == 2
    # Baseline: same endpoint and prompt, no LoRA; named so it is not mistaken for a LoRA output.
    assert "loras" not in third.input and third.input["prompt"] == "sidv2, portrait"
    assert baseline["generations"][0]["lora_applied"] is False
    assert "-nolora_" in baseline["generations"][0]["files"][0]["path"]


async def _wait_for_row(
    settings: Settings, generation_id: str, status: str, until: Any = None, timeout: float = 10.0
) -> dict[str, Any]:
    """Watch the database (not the tools) until the background poller has moved the row."""
    import anyio

    store = Store(settings.db_path)
    try:
        with anyio.fail_after(timeout):
            while True:
                row = store.query_one("SELECT * FROM generations WHERE id = ?", (generation_id,))
                if row is not None and row["status"] == status and (until is None or until(row)):
                    return row
                await anyio.sleep(0.1)
    finally:
        store.close()


async def test_long_job_returns_an_id_then_completes(settings: Settings, fake_fal: FakeFal) -> None:
    _register_sid(settings, fake_fal)
    fake_fal.script("fal-ai/flux-lora", queue_polls=10**6)
    async with Client(create_server(settings), mode="legacy") as client:
        seen: list[tuple[float, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, message))

        first = await call_ok(
            client,
            "execute_custom_model",
            {"endpoint": GUIDE_ENDPOINT, "input_params": GUIDE_PARAMS, "wait_seconds": 1},
            progress_callback=on_progress,
        )
        gen = first["generations"][0]
        assert first["status"] == "pending" and gen["status"] == "queued" and "files" not in gen  # files once finished
        assert "generation_status" in first["next_step"]
        assert any("queued" in (message or "") for _, message in seen)
        still = await call_ok(client, "generation_status", {"generation_id": gen["generation_id"]})
        assert still["generations"][0]["status"] == "queued"

        (job,) = fake_fal.submissions("fal-ai/flux-lora")
        fake_fal.finish(job.request_id)
        done = await call_ok(client, "generation_status", {"generation_id": gen["generation_id"], "wait_seconds": 5})
    out = done["generations"][0]
    assert done["status"] == "completed" and out["status"] == "completed" and len(out["files"]) == 2
    assert all(Path(f["path"]).is_file() for f in out["files"])
    assert out["seed"] == job.input["seed"] and done["previews"] == 2


async def test_background_poller_finishes_jobs_across_a_restart(settings: Settings, fake_fal: FakeFal) -> None:
    fake_fal.script("fal-ai/flux-lora", queue_polls=10**6)
    async with Client(create_server(settings), mode="legacy") as client:
        first = await call_ok(
            client,
            "execute_custom_model",
            {"endpoint": "fal-ai/flux-lora", "input_params": {"prompt": "a red kite"}, "wait_seconds": 0.5},
        )
    generation_id = first["generations"][0]["generation_id"]
    (job,) = fake_fal.submissions("fal-ai/flux-lora")
    # A new server on the same data dir: nobody calls a tool, the poller alone watches, backs off, and finally
    # fetches and saves the result.
    async with Client(create_server(settings), mode="legacy") as client:
        row = await _wait_for_row(
            settings, generation_id, "queued", until=lambda r: r["poll_interval"] >= settings.poll_max_seconds
        )
        fake_fal.finish(job.request_id)
        row = await _wait_for_row(settings, generation_id, "completed")
        assert json.loads(row["result_json"])["images"]
        status = await call_ok(client, "generation_status", {"generation_id": generation_id})
    (file,) = status["generations"][0]["files"]
    assert Path(file["path"]).is_file() and status["status"] == "completed"
    assert len(fake_fal.submissions()) == 1  # never resubmitted


async def test_batch_runs_concurrently_and_reports_the_failing_item(settings: Settings, fake_fal: FakeFal) -> None:
    _register_sid(settings, fake_fal)
    fake_fal.inject(r"^/queue/fal-ai/flux-lora$", method="POST", status=500, times=1)  # first submission fails
    async with Client(create_server(settings), mode="legacy") as client:
        result = await call_ok(
            client,
            "execute_custom_model",
            {
                "endpoint": "sid-custom-model",
                "input_params": {"image_size": "square"},
                "batch": ["on a beach", {"prompt": "in a cafe", "scenario": "cafe"}, "at a desk"],
                "seeds": [1, 2],
            },
        )
        assert result["status"] == "partial" and result["failed"] == 1 and result["completed"] == 5
        assert result["batch_id"].startswith("batch_")
        failed = [g for g in result["generations"] if g["status"] == "failed"]
        assert "HTTP 500" in failed[0]["error"] and failed[0]["files"] == []
        ok = [g for g in result["generations"] if g["status"] == "completed"]
        assert all(Path(g["files"][0]["path"]).is_file() for g in ok)
        assert {g["seed"] for g in ok} <= {1, 2}
        assert any(g["scenario"] == "cafe" and "_cafe_seed" in g["files"][0]["path"] for g in ok)
        again = await call_ok(client, "generation_status", {"batch_id": result["batch_id"]})
        assert again["completed"] == 5 and again["failed"] == 1
        report = await call_ok(client, "cost_report", {"days": 7})
    # Five submitted generations of one 512x512 image at $0.035/MP: the failed submit cost nothing.
    assert report["totals"]["by_model"] == {"sid-custom-model": pytest.approx(5 * 0.035)}
    assert report["by_endpoint"] == {"fal-ai/flux-lora": pytest.approx(5 * 0.035)}
    assert sum(report["totals"]["by_day"].values()) == pytest.approx(5 * 0.035) and report["generations"] == 6


def _noisy_jpeg(seed: int) -> bytes:
    """A 1024x1024 photo-like worst case for compression: random noise (~1 MB as a JPEG)."""
    import io
    import random

    from PIL import Image

    img = Image.frombytes("RGB", (1024, 1024), random.Random(seed).randbytes(1024 * 1024 * 3))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92)
    return out.getvalue()


async def test_four_square_hd_images_stay_well_under_one_megabyte(client: Client, fake_fal: FakeFal) -> None:
    def noisy_result(job: Any) -> dict[str, Any]:
        images = [
            {
                "url": fake_fal.add_file(f"noise_{i}.jpg", _noisy_jpeg(i), "image/jpeg"),
                "width": 1024,
                "height": 1024,
                "content_type": "image/jpeg",
            }
            for i in range(job.input["num_images"])
        ]
        return {"images": images, "seed": job.input["seed"], "has_nsfw_concepts": [False] * 4, "timings": {}}

    fake_fal.script("fal-ai/flux-lora", result=noisy_result)
    result = await client.call_tool(
        "execute_custom_model",
        {
            "endpoint": "fal-ai/flux-lora",
            "input_params": {"prompt": "four portraits", "image_size": "square_hd", "num_images": 4},
        },
    )
    assert not result.is_error
    gen = result.structured_content["generations"][0]
    on_disk = sum(Path(f["path"]).stat().st_size for f in gen["files"])
    size = len(result.model_dump_json(by_alias=True))
    print(f"4 x 1024x1024 outputs: {on_disk} bytes on disk, tool result {size} bytes serialized")
    assert on_disk > 3_000_000 and size < 1_000_000
    assert len(gen["files"]) == 4 and sum(1 for block in result.content if block.type == "image") == 4
    assert [(f["width"], f["height"]) for f in gen["files"]] == [(1024, 1024)] * 4
    assert gen["estimated_cost_usd"] == pytest.approx(4 * 0.035)


async def test_reproduce_reruns_the_recorded_request_exactly(settings: Settings, fake_fal: FakeFal) -> None:
    _register_sid(settings, fake_fal)
    async with Client(create_server(settings), mode="legacy") as client:
        original = await call_ok(
            client,
            "execute_custom_model",
            {"endpoint": GUIDE_ENDPOINT, "input_params": GUIDE_PARAMS, "scenario": "headshot"},
        )
        source = original["generations"][0]
        again = await call_ok(client, "reproduce_generation", {"generation_id": source["generation_id"]})
    first, second = fake_fal.submissions("fal-ai/flux-lora")
    assert second.input == first.input and second.endpoint == first.endpoint
    copy = again["generations"][0]
    assert copy["reproduces"] == source["generation_id"] and copy["seed"] == source["seed"]
    assert copy["model_name"] == "sid-custom-model" and copy["model_version"] == 1
    for a, b in zip(source["files"], copy["files"], strict=True):
        assert a["path"] != b["path"]  # a new, non-colliding file name
        assert Path(a["path"]).read_bytes() == Path(b["path"]).read_bytes()


async def test_budget_is_checked_before_submitting(make_settings: Any, fake_fal: FakeFal) -> None:
    settings = make_settings(max_cost_per_call_usd=0.1)
    async with Client(create_server(settings), mode="legacy") as client:
        text = await call_error(
            client,
            "execute_custom_model",
            {"endpoint": "fal-ai/flux-lora", "input_params": {"prompt": "x", "num_images": 4}},
        )
    assert "$0.14" in text and "per-call cap" in text
    assert fake_fal.submissions() == []


async def test_failed_job_is_an_error_and_stays_recorded(client: Client, fake_fal: FakeFal) -> None:
    fake_fal.script("fal-ai/flux-lora", fail_with="CUDA out of memory")
    text = await call_error(
        client, "execute_custom_model", {"endpoint": "fal-ai/flux-lora", "input_params": {"prompt": "x"}}
    )
    assert "CUDA out of memory" in text
    generation_id = re.search(r"gen_[0-9a-f]{12}", text).group(0)  # type: ignore[union-attr]
    status = await call_ok(client, "generation_status", {"generation_id": generation_id})
    assert status["status"] == "failed" and "CUDA out of memory" in status["generations"][0]["error"]


async def test_image_to_image_with_a_local_photo_and_sd_endpoint_names(
    settings: Settings, fake_fal: FakeFal, tmp_path: Path
) -> None:
    _register_sid(settings, fake_fal)
    photo = tmp_path / "me.jpg"
    photo.write_bytes(_noisy_jpeg(7)[:5000])
    async with Client(create_server(settings), mode="legacy") as client:
        result = await call_ok(
            client,
            "execute_custom_model",
            {
                "endpoint": "sid-custom-model",
                "input_params": {"prompt": "sidxyz as a painting", "image_url": str(photo)},
            },
        )
        sd = await call_ok(
            client,
            "execute_custom_model",
            {
                "endpoint": "fal-ai/lora",
                "input_params": {
                    "model_name": "stabilityai/stable-diffusion-xl-base-1.0",
                    "prompt": "a cat",
                    "negative_prompt": "blurry",
                    "output_format": "png",
                    "cfg_scale": 7,
                },
            },
        )
        listing = await client.read_resource("fal-video://endpoints")
    (img2img,) = fake_fal.submissions("fal-ai/flux-lora/image-to-image")
    assert img2img.input["image_url"].startswith(fake_fal.base + "/files/") and img2img.input["loras"]
    assert result["generations"][0]["endpoint"] == "fal-ai/flux-lora/image-to-image"
    assert photo.read_bytes() == _noisy_jpeg(7)[:5000]  # the user's file is untouched
    (job,) = fake_fal.submissions("fal-ai/lora")
    assert job.input["negative_prompt"] == "blurry" and job.input["image_format"] == "png"
    assert "output_format" not in job.input and job.input["guidance_scale"] == 7
    assert sd["generations"][0]["files"][0]["path"].endswith(".png")
    text = listing.contents[0].text
    assert "`fal-ai/flux-lora`" in text and "$0.035 per megapixel" in text and "unknown" in text


async def test_files_that_fail_to_download_are_fetched_again_in_the_background(
    client: Client, fake_fal: FakeFal, settings: Settings
) -> None:
    fake_fal.script("fal-ai/flux-lora", queue_polls=0, run_polls=0)
    fake_fal.inject(r"^/files/[^/]+/image_1\.jpg$", "status", status=503, times=4)  # one whole download pass
    first = await call_ok(
        client,
        "execute_custom_model",
        {"endpoint": "fal-ai/flux-lora", "input_params": {"prompt": "two portraits", "num_images": 2}},
    )
    generation = first["generations"][0]
    assert generation["status"] == "completed"
    assert "retries the download in the background" in generation["error"]
    assert sum(bool(f["path"]) for f in generation["files"]) == 1
    with anyio.fail_after(20):
        while True:
            later = (await call_ok(client, "generation_status", {"generation_id": generation["generation_id"]}))[
                "generations"
            ][0]
            if all(f["path"] for f in later["files"]):
                break
            await anyio.sleep(0.2)
    assert later["error"] is None
    assert all(
        Path(f["path"]).is_file() and Path(f["path"]).is_relative_to(settings.outputs_dir) for f in later["files"]
    )
    assert len(fake_fal.submissions("fal-ai/flux-lora")) == 1
