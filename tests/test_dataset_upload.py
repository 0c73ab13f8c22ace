"""Dead uploads: fal keeps uploaded files about 7 days. A dataset whose file is gone is never shown as uploaded, and
is uploaded again from its local zip when prepare_dataset or start_training needs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.fake_fal import FakeFal
from tests.helpers import call_error, call_ok
from tests.photos import real_photos

pytestmark = pytest.mark.anyio

UPLOADS = r"^/cdn/files/upload$"


def _args(folder: Path, **extra: Any) -> dict[str, Any]:
    return {"folder": str(folder), "trigger_word": "SIDAI", "subject": "man", "resolution": 512, **extra}


def _folder(root: Path) -> Path:
    from PIL import Image, ImageOps

    photos = real_photos()
    root.mkdir()
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg"):
        (root / name).write_bytes(photos[name].read_bytes())
    ImageOps.mirror(Image.open(photos["obama3.jpg"]).convert("RGB").crop((200, 100, 1300, 1300))).save(
        root / "obama3_crop.jpg", quality=92
    )
    return root


async def test_an_expired_upload_is_never_shown_as_uploaded_and_is_uploaded_again(
    client: Client, fake_fal: FakeFal, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "sid")
    first = await call_ok(client, "prepare_dataset", _args(folder, same_person_check=False))
    if first["image_count"] < 4:
        pytest.fail(f"fixture folder not usable: {[(r['file'], r['reasons']) for r in first['images']]}")
    assert first["status"] == "uploaded" and fake_fal.count("POST", UPLOADS) == 1
    alive = await call_ok(client, "list_datasets", {})
    assert alive["datasets"][0]["status"] == "uploaded" and alive["datasets"][0]["fal_url"] == first["fal_url"]

    fake_fal.expire_file(first["fal_url"])  # a week later
    listing = await call_ok(client, "list_datasets", {})
    assert listing["datasets"][0]["status"] == "prepared" and listing["datasets"][0]["fal_url"] is None
    detail = await call_ok(client, "list_datasets", {"dataset_id": first["dataset_id"]})
    assert detail["detail"]["summary"]["status"] == "prepared"

    again = await call_ok(client, "prepare_dataset", _args(folder, same_person_check=False))
    assert again["dataset_id"] == first["dataset_id"] and again["reused_existing"]
    assert again["status"] == "uploaded" and again["uploaded_now"] and again["fal_url"] != first["fal_url"]
    assert fake_fal.count("POST", UPLOADS) == 2

    # expired again, noticed by prepare_dataset itself (no listing in between)
    fake_fal.expire_file(again["fal_url"])
    third = await call_ok(client, "prepare_dataset", _args(folder, same_person_check=False))
    assert third["uploaded_now"] and third["fal_url"] not in (first["fal_url"], again["fal_url"])
    assert fake_fal.count("POST", UPLOADS) == 3
    # an unchanged, live upload is only checked, not uploaded again
    fourth = await call_ok(client, "prepare_dataset", _args(folder, same_person_check=False))
    assert fourth["fal_url"] == third["fal_url"] and not fourth["uploaded_now"]
    assert fake_fal.count("POST", UPLOADS) == 3


async def test_start_training_uploads_an_expired_dataset_again(
    client: Client, fake_fal: FakeFal, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "sid")
    prepared = await call_ok(client, "prepare_dataset", _args(folder, same_person_check=False))
    fake_fal.expire_file(prepared["fal_url"])
    started = await call_ok(client, "start_training", {"dataset": prepared["dataset_id"], "model_name": "sid"})
    url = started["request"]["images_data_url"]
    assert url != prepared["fal_url"] and fake_fal.count("POST", UPLOADS) == 2
    assert fake_fal.count("HEAD", r"^/files/") >= 1

    Path(prepared["paths"]["zip"]).unlink()  # gone on both sides: say what to do
    fake_fal.expire_file(url)
    text = await call_error(client, "start_training", {"dataset": prepared["dataset_id"], "model_name": "sid2"})
    assert "gone from fal storage" in text and "prepare_dataset" in text


async def test_training_data_error_uploads_the_expired_dataset_again_once(
    client: Client, fake_fal: FakeFal, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "sid")
    prepared = await call_ok(client, "prepare_dataset", _args(folder, same_person_check=False))
    started = await call_ok(client, "start_training", {"dataset": prepared["dataset_id"], "model_name": "sid"})
    fake_fal.expire_file(prepared["fal_url"])  # gone before the trainer fetched it
    done = await call_ok(client, "training_status", {"training_id": started["training"]["id"], "wait_seconds": 20})
    run = done["training"]
    assert run["status"] == "failed" and "training_data_error" in run["error"], run
    assert "uploaded again" in run["error"] and fake_fal.count("POST", UPLOADS) == 2
    listing = await call_ok(client, "list_datasets", {})
    renewed = listing["datasets"][0]
    assert renewed["status"] == "uploaded" and renewed["fal_url"] not in (None, prepared["fal_url"])
    again = await call_ok(client, "start_training", {"dataset": prepared["dataset_id"], "model_name": "sid"})
    assert again["request"]["images_data_url"] == renewed["fal_url"] and fake_fal.count("POST", UPLOADS) == 2
