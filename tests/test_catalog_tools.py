"""fal's catalogue through the tools: every person trainer trained and run, schema checks, prices, refresh, dry runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from tests.fake_fal import FakeFal
from tests.helpers import call_error, call_ok
from tests.test_catalog import KREA2, krea2_model
from tests.test_training import dataset_url

pytestmark = pytest.mark.anyio

# The list: every one must train, register its LoRA file(s) and run on its paired endpoint.
PERSON_TRAINERS = [
    "flux-lora-fast-training",
    "flux-lora-portrait-trainer",
    "turbo-flux-trainer",
    "flux-krea-trainer",
    "flux-2-trainer",
    "flux-2-trainer-v2",
    "flux-2-klein-4b-base-trainer",
    "flux-2-klein-9b-base-trainer",
    "z-image-trainer",
    "z-image-base-trainer",
    "z-image-turbo-trainer-v2",
    "qwen-image-trainer",
    "qwen-image-2512-trainer",
    "qwen-image-2512-trainer-v2",
    "wan-22-image-trainer",
]


@pytest.fixture
def fast_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(poll_min_seconds=30.0, poll_max_seconds=60.0, daily_budget_usd=100.0)


async def _train(client: Client, fake_fal: FakeFal, model_type: str, model_name: str) -> dict[str, Any]:
    endpoint = f"fal-ai/{model_type}"
    fake_fal.script(endpoint, queue_polls=0, run_polls=0)
    started = await call_ok(
        client,
        "start_training",
        {"dataset": dataset_url(fake_fal), "model_name": model_name, "trigger_word": "SIDAI", "model_type": model_type},
    )
    assert started["endpoint"] == endpoint, started
    (job,) = fake_fal.submissions(endpoint)  # the fake accepted it: the body passed the trainer's real schema
    assert fake_fal.catalog.check_submission(endpoint, job.input) == []
    done = await call_ok(client, "training_status", {"training_id": started["training"]["id"], "wait_seconds": 5})
    assert done["training"]["status"] == "completed", done
    return started


@pytest.mark.parametrize("model_type", PERSON_TRAINERS)
async def test_every_person_trainer_trains_registers_and_runs(
    fast_settings: Settings, fake_fal: FakeFal, model_type: str
) -> None:
    async with Client(create_server(fast_settings), mode="legacy") as client:
        started = await _train(client, fake_fal, model_type, "sid")
        body = started["request"]
        steps_field = "steps" if "steps" in body else "number_of_steps"
        assert isinstance(body[steps_field], int)  # steps are always sent
        listed = await call_ok(client, "list_models", {"name": "sid"})
        (version,) = listed["versions"]
        files = version["params"]["lora_files"]
        paired = version["base_endpoint"]
        assert (
            files and paired == fake_fal.catalog.models[f"fal-ai/{model_type}"]["metadata"]["inference_endpoint_ids"][0]
        )
        run = await call_ok(
            client, "execute_custom_model", {"endpoint": "sid", "input_params": {"prompt": "portrait", "num_images": 1}}
        )
    (job,) = fake_fal.submissions(paired)
    assert fake_fal.catalog.check_submission(paired, job.input) == []  # a schema-valid body on the paired endpoint
    assert [item["path"] for item in job.input["loras"]] == [file["url"] for file in files]
    generation = run["generations"][0]
    assert generation["status"] == "completed" and generation["files"], generation
    if model_type == "wan-22-image-trainer":  # two LoRA files, each into its transformer
        assert [item["transformer"] for item in job.input["loras"]] == ["low", "high"]
        assert [file["field"] for file in files] == ["diffusers_lora_file", "high_noise_lora"]


async def test_the_seed_call_runs_the_registered_model_with_a_guidance_warning(
    fast_settings: Settings, fake_fal: FakeFal
) -> None:
    async with Client(create_server(fast_settings), mode="legacy") as client:
        await _train(client, fake_fal, "flux-lora-fast-training", "sid-custom-model")
        result = await call_ok(
            client,
            "execute_custom_model",
            {
                "endpoint": "fal-ai/YOUR_USERNAME/sid-custom-model",
                "input_params": {
                    "prompt": "professional headshot of sid",
                    "guidance_scale": 7.5,
                    "num_inference_steps": 30,
                    "num_images": 4,
                },
            },
        )
    (job,) = fake_fal.submissions("fal-ai/flux-lora")
    assert job.input["guidance_scale"] == 7.5 and job.input["num_images"] == 4 and job.input["loras"]
    generation = result["generations"][0]
    assert generation["model_name"] == "sid-custom-model" and len(generation["files"]) == 4
    assert any("guidance_scale=7.5" in w and "3.5" in w for w in generation["warnings"])


async def test_schema_checks_before_spending(client: Client, fake_fal: FakeFal) -> None:
    text = await call_error(
        client,
        "execute_custom_model",
        {"endpoint": "fal-ai/z-image/turbo/lora", "input_params": {"prompt": "x", "steps": 30, "output_format": "gif"}},
    )
    assert "from 1 to 8" in text and "default 8" in text and "jpeg, png, webp" in text
    result = await call_ok(
        client,
        "execute_custom_model",
        {"endpoint": "fal-ai/flux-lora", "input_params": {"prompt": "x", "cfgg": 2}, "dry_run": True},
    )
    (plan,) = result["plans"]
    assert plan["request"]["cfgg"] == 2 and any("'cfgg'" in w for w in plan["warnings"])
    assert plan["endpoint"] == "fal-ai/flux-lora" and plan["estimated_cost_usd"] == pytest.approx(0.035)
    assert "megapixel" in plan["cost_basis"]
    assert fake_fal.submissions() == []


async def test_unknown_price_is_held_at_the_cap(make_settings: Callable[..., Settings], fake_fal: FakeFal) -> None:
    async with Client(create_server(make_settings(max_cost_per_call_usd=3.0)), mode="legacy") as client:
        result = await call_ok(
            client,
            "execute_custom_model",
            {"endpoint": "fal-ai/flux/schnell", "input_params": {"prompt": "x"}, "dry_run": True},
        )
    (plan,) = result["plans"]
    assert plan["estimated_cost_usd"] == pytest.approx(3.0) and "price unknown" in plan["cost_basis"]


async def test_prices_come_from_the_pricing_api(client: Client, fake_fal: FakeFal) -> None:
    fake_fal.catalog.set_price("fal-ai/flux-lora", 0.05, "megapixel")
    result = await call_ok(
        client,
        "execute_custom_model",
        {
            "endpoint": "fal-ai/flux-lora",
            "input_params": {"prompt": "x", "num_images": 2, "image_size": "square_hd"},
            "dry_run": True,
        },
    )
    assert result["plans"][0]["estimated_cost_usd"] == pytest.approx(0.10)
    fake_fal.catalog.set_price("fal-ai/z-image-turbo-trainer-v2", 0.001, "step")
    started = await call_ok(
        client,
        "start_training",
        {
            "dataset": dataset_url(fake_fal),
            "model_name": "zz",
            "trigger_word": "SIDAI",
            "model_type": "z-image-turbo-trainer-v2",
            "steps": 1500,
            "dry_run": True,
        },
    )
    assert started["estimated_cost_usd"] == pytest.approx(1.5) and "per step" in started["cost_basis"]


async def test_trainer_missing_from_the_snapshot_is_fetched_on_first_use(client: Client, fake_fal: FakeFal) -> None:
    fake_fal.catalog.add_model(krea2_model(fake_fal))
    started = await call_ok(
        client,
        "start_training",
        {"dataset": dataset_url(fake_fal), "model_name": "k2", "trigger_word": "SIDAI", "model_type": "krea-2-trainer",
         "dry_run": True},
    )  # fmt: skip
    assert started["endpoint"] == KREA2 and started["request"]["image_data_url"]


async def test_trainers_that_do_not_fit_a_person_are_refused_with_the_reason(client: Client) -> None:
    text = await call_error(
        client,
        "start_training",
        {"dataset": "https://example.com/x.zip", "model_name": "e", "trigger_word": "SIDAI",
         "model_type": "qwen-image-edit-trainer"},
    )  # fmt: skip
    assert "edit trainer" in text and "z-image-turbo-trainer-v2" in text


async def test_trainer_guide_and_refresh(client: Client, fake_fal: FakeFal) -> None:
    report = await call_ok(client, "cost_report", {"catalog": "trainers"})
    guide = report["trainers"]
    ranked = [row["model_type"] for row in guide["trainers"]]
    assert set(ranked) == set(PERSON_TRAINERS)
    assert guide["default"] == "flux-lora-fast-training" and "create_masks" in guide["why_default"]
    fast = next(row for row in guide["trainers"] if row["model_type"] == "flux-lora-fast-training")
    assert fast["training_usd"] == pytest.approx(2.0) and fast["image_usd"] == pytest.approx(0.035)
    assert "edit" in guide["not_for_people"]["flux-kontext-trainer"]

    changed = fake_fal.catalog.copy_model("fal-ai/flux-lora")
    changed["metadata"]["status"] = "deprecated"
    fake_fal.catalog.add_model(changed)
    refreshed = (await call_ok(client, "cost_report", {"catalog": "refresh"}))["catalog_refresh"]
    assert refreshed["ok"] and "fal-ai/flux-lora" in refreshed["changed"]

    fake_fal.catalog.unreachable = True
    failed = (await call_ok(client, "cost_report", {"catalog": "refresh"}))["catalog_refresh"]
    assert not failed["ok"] and "503" in failed["note"]
