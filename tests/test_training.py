"""Training lifecycle through the MCP client against the fake fal: start → status → completed → model versions."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from server.storage import Store, to_json, utc_now
from tests.fake_fal import FakeFal
from tests.helpers import call_error, call_ok

pytestmark = pytest.mark.anyio

FAST = "fal-ai/flux-lora-fast-training"


def zip_bytes(count: int = 5, trigger: str = "SIDAI", captions: dict[int, str] | None = None) -> bytes:
    """A real training zip: small JPEGs plus same-stem captions."""
    from PIL import Image

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for index in range(count):
            picture = io.BytesIO()
            Image.new("RGB", (64, 64), (20 * index % 255, 90, 140)).save(picture, "JPEG")
            archive.writestr(f"{index:03d}.jpg", picture.getvalue())
            text = (captions or {}).get(index, f"photo of {trigger}, portrait")
            archive.writestr(f"{index:03d}.txt", text)
    return out.getvalue()


def dataset_url(fake_fal: FakeFal, count: int = 5, **kwargs: Any) -> str:
    return fake_fal.add_file("dataset.zip", zip_bytes(count, **kwargs), "application/zip")


def insert_dataset(settings: Settings, zip_path: Path, trigger: str = "SIDAI", image_count: int = 5) -> str:
    """A datasets row the way prepare_dataset writes it: prepared, zipped locally, not uploaded yet."""
    store = Store(settings.db_path)
    dataset_id = "ds_" + hashlib.sha256(str(zip_path).encode()).hexdigest()[:12]
    store.insert(
        "datasets",
        {
            "id": dataset_id,
            "name": "sid",
            "version": 1,
            "source_dir": str(zip_path.parent),
            "trigger_word": trigger,
            "content_hash": "h",
            "image_count": image_count,
            "status": "prepared",
            "dir": str(zip_path.parent),
            "zip_path": str(zip_path),
            "zip_sha256": None,
            "fal_url": None,
            "report_json": "{}",
            "options_json": to_json({}),
            "created_at": utc_now(),
        },
    )
    store.close()
    return dataset_id


def _five_zip(folder: Path) -> Path:
    path = folder / "five.zip"
    path.write_bytes(zip_bytes(5))
    return path


def db_rows(settings: Settings, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    store = Store(settings.db_path)
    try:
        return store.query(sql, params)
    finally:
        store.close()


async def status(client: Client, training_id: str, **kwargs: Any) -> dict[str, Any]:
    result = await call_ok(client, "training_status", {"training_id": training_id, **kwargs})
    return result["training"]


@pytest.fixture
def quiet_settings(make_settings: Callable[..., Settings]) -> Settings:
    """The background watcher stays out of the way: only the test's status calls poll fal."""
    return make_settings(poll_min_seconds=30.0, poll_max_seconds=60.0)


@pytest.fixture
async def quiet_client(quiet_settings: Settings) -> Any:
    async with Client(create_server(quiet_settings), mode="legacy") as connected:
        yield connected


async def test_end_to_end_queued_progress_completed_v1_then_v2(
    quiet_client: Client, quiet_settings: Settings, fake_fal: FakeFal
) -> None:
    fake_fal.script(FAST, queue_polls=2, run_polls=2)
    url = dataset_url(fake_fal)
    args = {"dataset": url, "model_name": "sid-model", "trigger_word": "SIDAI"}
    started = await call_ok(quiet_client, "start_training", args)
    run = started["training"]
    assert started["reused"] is False and started["estimated_cost_usd"] == pytest.approx(2.0)
    assert started["request"] == {
        "images_data_url": url,
        "trigger_word": "SIDAI",
        "steps": 1000,
        "create_masks": True,
        "is_style": False,
    }
    assert run["status"] == "queued" and run["fal_request_id"]
    # written to SQLite, with fal's request id, before the call returned
    row = db_rows(quiet_settings, "SELECT * FROM trainings WHERE id = ?", (run["id"],))[0]
    assert row["fal_request_id"] == run["fal_request_id"] and row["status"] == "queued"
    assert db_rows(quiet_settings, "SELECT amount_usd FROM cost_ledger WHERE ref_id = ?", (run["id"],))

    queued = await status(quiet_client, run["id"])
    assert queued["status"] == "queued" and queued["queue_position"] == 1
    assert (await status(quiet_client, run["id"]))["queue_position"] == 0

    first = await status(quiet_client, run["id"])
    assert first["status"] == "running"
    assert (first["current_step"], first["total_steps"], first["progress_percent"]) == (300, 1000, 30.0)
    assert any("step 300/1000" in line for line in first["last_logs"])
    second = await status(quiet_client, run["id"])
    assert second["progress_percent"] == 60.0 and second["eta_seconds"] is not None and second["eta_seconds"] > 0

    done = await status(quiet_client, run["id"])
    assert done["status"] == "completed" and done["progress_percent"] == 100.0
    assert done["model_version"] == 1 and done["pending_work"] is False
    lora = Path(done["lora_path"])
    assert lora == quiet_settings.loras_dir / "sid-model" / f"v1-{run['id']}.safetensors"
    assert lora.is_file() and lora.stat().st_size > 0
    result = json.loads(
        db_rows(quiet_settings, "SELECT result_json FROM trainings WHERE id = ?", (run["id"],))[0]["result_json"]
    )
    assert done["lora_url"] == result["diffusers_lora_file"]["url"]

    shown = await call_ok(quiet_client, "list_models", {"name": "sid-model"})
    (v1,) = shown["versions"]
    assert v1["trigger_word"] == "SIDAI" and v1["base_endpoint"] == "fal-ai/flux-lora"
    assert v1["lora_path"] == str(lora) and v1["lora_sha256"] == hashlib.sha256(lora.read_bytes()).hexdigest()
    assert v1["training_id"] == run["id"] and v1["cost_usd"] == pytest.approx(2.0)
    assert v1["params"]["request"]["steps"] == 1000 and v1["source"] == "trained"

    # the same request again: the finished run is returned, nothing is paid twice
    again = await call_ok(quiet_client, "start_training", args)
    assert again["reused"] is True and again["training"]["id"] == run["id"]
    assert len(fake_fal.submissions(FAST)) == 1

    # a second training of the same model becomes v2
    second_run = (await call_ok(quiet_client, "start_training", {**args, "steps": 1200}))["training"]
    fake_fal.finish(second_run["fal_request_id"])
    finished = await status(quiet_client, second_run["id"])
    assert finished["status"] == "completed" and finished["model_version"] == 2
    assert Path(finished["lora_path"]).name == f"v2-{second_run['id']}.safetensors"
    summary = (await call_ok(quiet_client, "list_models", {}))["models"]
    assert [(m["name"], m["versions"], m["effective_version"]) for m in summary] == [("sid-model", [1, 2], 2)]


async def test_dataset_row_is_uploaded_on_start(
    quiet_client: Client, quiet_settings: Settings, fake_fal: FakeFal, tmp_path: Path
) -> None:
    archive = tmp_path / "sid.zip"
    archive.write_bytes(zip_bytes(6, trigger="SIDAI"))
    dataset_id = insert_dataset(quiet_settings, archive, trigger="SIDAI", image_count=6)
    started = await call_ok(quiet_client, "start_training", {"dataset": dataset_id, "model_name": "sid"})
    (dataset,) = db_rows(quiet_settings, "SELECT fal_url, status FROM datasets WHERE id = ?", (dataset_id,))
    assert dataset["status"] == "uploaded" and dataset["fal_url"].startswith(fake_fal.base)
    assert started["request"]["images_data_url"] == dataset["fal_url"]
    assert started["request"]["trigger_word"] == "SIDAI"  # the dataset's trigger word is the default
    assert started["training"]["dataset_id"] == dataset_id
    assert fake_fal.count("POST", r"^/cdn/files/upload$") == 1
    fake_fal.finish(started["training"]["fal_request_id"])
    done = await status(quiet_client, started["training"]["id"])
    assert done["status"] == "completed" and done["model_version"] == 1


async def test_watcher_registers_the_model_without_a_status_call(client: Client, fake_fal: FakeFal) -> None:
    fake_fal.script(FAST, queue_polls=1, run_polls=1)
    args = {"dataset": dataset_url(fake_fal), "model_name": "watched", "trigger_word": "WTCHX"}
    await call_ok(client, "start_training", args)
    with anyio.fail_after(20):
        while True:
            models = (await call_ok(client, "list_models", {}))["models"]
            if models and models[0]["versions"] == [1]:
                version = (await call_ok(client, "list_models", {"name": "watched"}))["versions"][0]
                if version["lora_path"]:  # registered first, then the local copy is added
                    break
            await anyio.sleep(0.1)
    assert Path(version["lora_path"]).is_file()
    assert fake_fal.count("GET", r"/requests/[^/]+/status$") >= 3


async def test_wait_seconds_polls_with_progress_notifications(client: Client, fake_fal: FakeFal) -> None:
    fake_fal.script(FAST, queue_polls=1, run_polls=3)
    args = {"dataset": dataset_url(fake_fal), "model_name": "waiter", "trigger_word": "WAITX"}
    run = (await call_ok(client, "start_training", args))["training"]
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    done = await call_ok(
        client, "training_status", {"training_id": run["id"], "wait_seconds": 20}, progress_callback=on_progress
    )
    assert done["training"]["status"] == "completed" and done["training"]["model_version"] == 1
    assert seen and seen[-1][0] == 100.0
    assert [p for p, _, _ in seen] == sorted(p for p, _, _ in seen)
    listing = await call_ok(client, "training_status", {})
    assert [t["id"] for t in listing["recent"]] == [run["id"]]
    by_model = await call_ok(client, "training_status", {"model_name": "waiter"})
    assert by_model["training"]["id"] == run["id"]


async def test_budget_cap_refuses_with_the_figure(make_settings: Callable[..., Settings], fake_fal: FakeFal) -> None:
    settings = make_settings(max_cost_per_call_usd=1.5)
    args = {"dataset": dataset_url(fake_fal), "model_name": "pricey", "trigger_word": "PRCYX"}
    async with Client(create_server(settings), mode="legacy") as client:
        dry = await call_ok(client, "start_training", {**args, "dry_run": True})
        assert dry["dry_run"] is True and dry["budget_ok"] is False and "$2.00" in dry["budget_message"]
        assert dry["request"]["steps"] == 1000 and dry["training"] is None
        text = await call_error(client, "start_training", args)
        assert "$2.00" in text and "$1.50" in text and "FAL_VIDEO_MCP_MAX_COST_USD" in text
        cheap = await call_ok(client, "start_training", {**args, "steps": 700, "dry_run": True})
        assert cheap["budget_ok"] is True and cheap["estimated_cost_usd"] == pytest.approx(1.4)
    assert fake_fal.submissions(FAST) == []
    assert db_rows(settings, "SELECT id FROM trainings") == []


async def test_duplicate_start_while_queued_returns_the_same_run(quiet_client: Client, fake_fal: FakeFal) -> None:
    args = {"dataset": dataset_url(fake_fal), "model_name": "dup", "trigger_word": "DUPXX"}
    first, second = [], []

    async def start(into: list) -> None:
        into.append(await call_ok(quiet_client, "start_training", args))

    async with anyio.create_task_group() as group:
        group.start_soon(start, first)
        group.start_soon(start, second)
    ids = {first[0]["training"]["id"], second[0]["training"]["id"]}
    assert len(ids) == 1 and {first[0]["reused"], second[0]["reused"]} == {True, False}
    assert len(fake_fal.submissions(FAST)) == 1
    forced = await call_ok(quiet_client, "start_training", {**args, "force": True})
    assert forced["reused"] is False and forced["training"]["id"] not in ids
    assert len(fake_fal.submissions(FAST)) == 2


async def test_failed_job_surfaces_fals_error(quiet_client: Client, fake_fal: FakeFal) -> None:
    fake_fal.script(FAST, queue_polls=0, run_polls=0, fail_with="CUDA out of memory on worker", fail_status=500)
    args = {"dataset": dataset_url(fake_fal), "model_name": "broken", "trigger_word": "BRKNX"}
    run = (await call_ok(quiet_client, "start_training", args))["training"]
    failed = await status(quiet_client, run["id"])
    assert failed["status"] == "failed" and "CUDA out of memory on worker" in failed["error"]
    assert failed["pending_work"] is False and failed["model_version"] is None
    # a failed run does not block a retry with the same parameters
    fake_fal.script(FAST, queue_polls=0, run_polls=0)
    retry = await call_ok(quiet_client, "start_training", args)
    assert retry["reused"] is False


async def test_too_few_images_in_a_url_dataset_fails_with_fals_message(quiet_client: Client, fake_fal: FakeFal) -> None:
    args = {"dataset": dataset_url(fake_fal, count=2), "model_name": "tiny", "trigger_word": "TINYX"}
    started = await call_ok(quiet_client, "start_training", args)
    assert any("Image count unknown" in note for note in started["notes"])
    fake_fal.finish(started["training"]["fal_request_id"])
    failed = await status(quiet_client, started["training"]["id"])
    assert failed["status"] == "failed" and "At least 4 images are required" in failed["error"]


async def test_cancel_training(quiet_client: Client, quiet_settings: Settings, fake_fal: FakeFal) -> None:
    fake_fal.script(FAST, queue_polls=5, run_polls=5)
    args = {"dataset": dataset_url(fake_fal), "model_name": "cancelme", "trigger_word": "CNCLX"}
    run = (await call_ok(quiet_client, "start_training", args))["training"]
    cancelled = await call_ok(quiet_client, "cancel_training", {"training_id": run["id"]})
    assert cancelled["outcome"] == "cancellation_requested"
    assert cancelled["training"]["status"] == "cancelled" and cancelled["training"]["pending_work"] is False
    assert "cancelled" in cancelled["training"]["error"].lower()
    assert fake_fal.jobs[run["fal_request_id"]].cancelled
    assert fake_fal.count("PUT", r"/cancel$") == 1
    again = await call_error(quiet_client, "cancel_training", {"training_id": run["id"]})
    assert "already cancelled" in again
    # a cancelled run does not block a new one
    assert (await call_ok(quiet_client, "start_training", args))["reused"] is False
    tools = {tool.name: tool for tool in (await quiet_client.list_tools()).tools}
    assert tools["cancel_training"].annotations.destructive_hint is True


async def test_cancel_after_fal_finished_registers_instead(quiet_client: Client, fake_fal: FakeFal) -> None:
    args = {"dataset": dataset_url(fake_fal), "model_name": "toolate", "trigger_word": "TLATX"}
    run = (await call_ok(quiet_client, "start_training", args))["training"]
    fake_fal.finish(run["fal_request_id"])
    outcome = await call_ok(quiet_client, "cancel_training", {"training_id": run["id"]})
    assert outcome["outcome"] == "already_completed" and outcome["training"]["model_version"] == 1


async def test_422_from_fal_is_reported_clearly(
    quiet_client: Client, quiet_settings: Settings, fake_fal: FakeFal
) -> None:
    detail = [{"loc": ["body", "images_data_url"], "msg": "Unsupported archive format", "type": "value_error"}]
    fake_fal.script(FAST, reject_submit=(422, detail))
    args = {"dataset": dataset_url(fake_fal), "model_name": "rejected", "trigger_word": "RJCTX"}
    text = await call_error(quiet_client, "start_training", args)
    assert "rejected the input" in text and "images_data_url: Unsupported archive format" in text
    assert "nothing was charged" in text
    (row,) = db_rows(quiet_settings, "SELECT status, error FROM trainings")
    assert row["status"] == "failed" and "Unsupported archive format" in row["error"]
    assert db_rows(quiet_settings, "SELECT id FROM cost_ledger") == []


async def test_lora_download_failure_is_retried_by_a_later_status_call(
    quiet_client: Client, quiet_settings: Settings, fake_fal: FakeFal
) -> None:
    args = {"dataset": dataset_url(fake_fal), "model_name": "flaky", "trigger_word": "FLKYX"}
    run = (await call_ok(quiet_client, "start_training", args))["training"]
    fake_fal.finish(run["fal_request_id"])
    fake_fal.inject(r"^/files/[^/]+/pytorch_lora_weights\.safetensors$", status=503, times=4)
    first = await status(quiet_client, run["id"])
    # registered by URL at once (fal runs LoRAs from URLs); the local copy is still owed
    assert first["status"] == "completed" and first["model_version"] == 1 and first["lora_url"]
    assert first["lora_path"] is None and first["pending_work"] is True and "pending" in first["error"]
    assert db_rows(quiet_settings, "SELECT result_json FROM trainings")[0]["result_json"]
    second = await status(quiet_client, run["id"])
    assert second["lora_path"] and Path(second["lora_path"]).is_file() and second["pending_work"] is False
    assert second["model_version"] == 1 and second["error"] is None
    (version,) = (await call_ok(quiet_client, "list_models", {"name": "flaky"}))["versions"]
    assert version["lora_path"] == second["lora_path"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"trigger_word": "person"}, "common English word"),
        ({"trigger_word": "Woman"}, "common English word"),
        ({"trigger_word": "john"}, "common first name"),
        ({"trigger_word": "ab"}, "characters"),
        ({"trigger_word": "sid the big person"}, "has 4 words"),
        ({"trigger_word": "12345"}, "no letter"),
        ({"steps": 0}, "outside what"),
        ({"steps": 20000}, "outside what"),
        ({"steps": 1000, "num_epochs": 1200}, "num_epochs is only accepted"),
        ({"learning_rate": 1e-4}, "no learning-rate setting"),
        ({"model_type": "flux-lora-portrait", "learning_rate": 0.05}, "outside what"),
        ({"model_type": "sdxl-lora"}, "no SDXL LoRA trainer"),
        ({"model_type": "sd15-lora"}, "no Stable Diffusion 1.5 LoRA trainer"),
        ({"model_type": "dreambooth"}, "DreamBooth full fine-tuning is not offered"),
        ({"model_type": "flux-pro"}, "Unknown model_type"),
        ({"model_type": "flux-lora-portrait", "style": True}, "no style mode"),
        ({"model_name": "bad name!"}, "Invalid model name"),
        ({"dataset": "ds_missing"}, "No dataset 'ds_missing'"),
        ({"concepts": ["NOPEX"]}, "no caption in the zip mentions 'NOPEX'"),
        ({"dataset": "three.zip"}, "needs at least 4"),
    ],
)
async def test_invalid_parameters_are_refused(
    quiet_client: Client, fake_fal: FakeFal, tmp_path: Path, overrides: dict[str, Any], expected: str
) -> None:
    archive = tmp_path / "local.zip"
    archive.write_bytes(zip_bytes(5, trigger="SIDAI"))
    (tmp_path / "three.zip").write_bytes(zip_bytes(3, trigger="SIDAI"))
    if overrides.get("dataset") == "three.zip":
        overrides = {**overrides, "dataset": str(tmp_path / "three.zip")}
    args = {"dataset": str(archive), "model_name": "sid", "trigger_word": "SIDAI", **overrides}
    text = await call_error(quiet_client, "start_training", args)
    assert expected in text
    assert fake_fal.submissions() == []
    if "dataset" not in overrides and "concepts" not in overrides:
        assert fake_fal.count("POST", r"^/cdn/files/upload$") == 0  # refused before anything was uploaded


async def test_wait_seconds_over_30_is_a_schema_error(quiet_client: Client) -> None:
    text = await call_error(quiet_client, "training_status", {"training_id": "trn_x", "wait_seconds": 31})
    assert "wait_seconds" in text
    assert "No training with id" in await call_error(quiet_client, "training_status", {"training_id": "trn_nope"})


async def test_advice_warnings_alias_style_and_concepts_in_dry_run(
    quiet_client: Client, fake_fal: FakeFal, tmp_path: Path
) -> None:
    url = dataset_url(fake_fal)
    base = {"dataset": url, "model_name": "sid", "trigger_word": "SIDAI", "dry_run": True}
    low = await call_ok(quiet_client, "start_training", {**base, "steps": 300})
    assert any("undertrained" in w for w in low["warnings"]) and low["estimated_cost_usd"] == pytest.approx(0.6)
    high = await call_ok(quiet_client, "start_training", {**base, "steps": 3000})
    assert any("diminishing returns" in w for w in high["warnings"])
    alias = await call_ok(quiet_client, "start_training", {**base, "num_epochs": 1200})
    assert alias["request"]["steps"] == 1200 and any("num_epochs" in n for n in alias["notes"])
    short = await call_ok(quiet_client, "start_training", {**base, "trigger_word": "TOK"})
    assert any("only 3 characters" in w for w in short["warnings"])

    style = await call_ok(quiet_client, "start_training", {**base, "style": True})
    assert style["request"]["is_style"] is True
    turbo = await call_ok(quiet_client, "start_training", {**base, "model_type": "flux-lora-turbo", "style": True})
    assert turbo["endpoint"] == "fal-ai/turbo-flux-trainer"
    assert turbo["request"]["training_style"] == "style" and turbo["request"]["trigger_phrase"] == "SIDAI"
    assert turbo["estimated_cost_usd"] == pytest.approx(2.4)
    five = {**base, "dataset": str(_five_zip(tmp_path)), "model_type": "flux-lora-portrait"}
    few = await call_ok(quiet_client, "start_training", five)  # its schema advises at least 10 images
    assert any("Only 5 images" in w for w in few["warnings"])

    portrait = await call_ok(
        quiet_client, "start_training", {**base, "model_type": "flux-lora-portrait", "learning_rate": 8e-4}
    )
    assert portrait["request"]["learning_rate"] == 8e-4 and portrait["request"]["steps"] == 2500
    assert any("learning_rate" in w and "high" in w for w in portrait["warnings"])
    assert "price unknown" in portrait["cost_basis"] and portrait["estimated_cost_usd"] == pytest.approx(10.0)

    captions = {i: ("photo of SIDAI" if i < 3 else "photo of DOGGX the dog") for i in range(6)}
    archive = tmp_path / "multi.zip"
    archive.write_bytes(zip_bytes(6, captions=captions))
    multi = await call_ok(
        quiet_client, "start_training", {**base, "dataset": str(archive), "concepts": ["DOGGX"], "dry_run": True}
    )
    assert multi["request"]["trigger_word"] == "SIDAI" and multi["dry_run"] is True
    assert fake_fal.submissions() == []


async def test_expired_result_is_explained(quiet_client: Client, fake_fal: FakeFal) -> None:
    fake_fal.script(FAST, queue_polls=0, run_polls=0, result_ttl_seconds=0.0)
    args = {"dataset": dataset_url(fake_fal), "model_name": "late", "trigger_word": "LATEX"}
    run = (await call_ok(quiet_client, "start_training", args))["training"]
    failed = await status(quiet_client, run["id"])
    assert failed["status"] == "failed" and "no longer has this training's result" in failed["error"]
    assert run["fal_request_id"] in failed["error"]


async def test_interrupted_submission_is_unknown_and_blocks_a_second_payment(
    quiet_client: Client, quiet_settings: Settings, fake_fal: FakeFal
) -> None:
    args = {"dataset": dataset_url(fake_fal), "model_name": "crash", "trigger_word": "CRSHX", "dry_run": True}
    plan = await call_ok(quiet_client, "start_training", args)
    store = Store(quiet_settings.db_path)
    store.insert(  # what a server that died between the row and fal's answer leaves behind
        "trainings",
        {
            "id": "trn_interrupted",
            "model_name": "crash",
            "model_type": "flux-lora",
            "endpoint": FAST,
            "request_json": to_json(plan["request"]),
            "request_hash": hashlib.sha256(to_json({"endpoint": FAST, "input": plan["request"]}).encode()).hexdigest(),
            "status": "submitting",
            "next_poll_at": 0.0,
            "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": "2026-01-01T00:00:00+00:00",
        },
    )
    store.close()
    unknown = await status(quiet_client, "trn_interrupted")
    assert unknown["status"] == "unknown" and "fal.ai/dashboard/requests" in unknown["error"]
    assert "force=true" in unknown["error"]
    again = await call_ok(quiet_client, "start_training", {**args, "dry_run": False})
    assert again["reused"] is True and again["training"]["id"] == "trn_interrupted"
    assert not fake_fal.submissions(FAST)
    forced = await call_ok(quiet_client, "start_training", {**args, "dry_run": False, "force": True})
    assert forced["reused"] is False and forced["training"]["id"] != "trn_interrupted"
    assert len(fake_fal.submissions(FAST)) == 1


async def test_completion_seen_by_many_registers_exactly_once(
    client: Client, settings: Settings, fake_fal: FakeFal
) -> None:
    args = {"dataset": dataset_url(fake_fal), "model_name": "once", "trigger_word": "ONCEX"}
    run = (await call_ok(client, "start_training", args))["training"]
    fake_fal.finish(run["fal_request_id"])
    seen: list[dict[str, Any]] = []

    async def ask() -> None:
        seen.append(await status(client, run["id"]))

    async with anyio.create_task_group() as group:  # three status calls racing the background watcher
        for _ in range(3):
            group.start_soon(ask)
    assert {s["model_version"] for s in seen} == {1}
    assert len(db_rows(settings, "SELECT id FROM model_versions")) == 1
    assert fake_fal.count("GET", r"/pytorch_lora_weights\.safetensors$") == 1
    assert fake_fal.count("GET", rf"/requests/{run['fal_request_id']}$") == 1
