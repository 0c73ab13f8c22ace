"""The catalogue service against the fake fal's Platform API: snapshot, first-use fetch, refresh, fallbacks."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from server.catalog import Catalog
from server.catalog import snapshot as snapshot_file
from server.catalog.validate import describe, problems, unknown_fields
from server.config import Settings
from tests.fake_fal import FakeFal
from tests.fake_fal.catalog import SHARED_CATALOG

pytestmark = pytest.mark.anyio

KREA2 = "fal-ai/krea-2-trainer"


def krea2_model(fake: FakeFal) -> dict:
    """fal-ai/krea-2-trainer is newer than the capture: shaped like a trainer fal lists, under its own id."""
    raw = fake.catalog.copy_model("fal-ai/z-image-trainer")
    raw["endpoint_id"] = KREA2
    raw["metadata"]["display_name"] = "Krea 2 Trainer"
    raw["metadata"]["inference_endpoint_ids"] = ["fal-ai/krea-2/turbo/lora"]
    paths = raw["openapi"]["paths"]
    raw["openapi"]["paths"] = {p.replace("fal-ai/z-image-trainer", KREA2): v for p, v in paths.items()}
    return raw


def test_shipped_snapshot_is_small_and_dated() -> None:
    data = snapshot_file.SNAPSHOT_PATH.read_bytes()
    assert len(data) < 1_000_000
    body = json.loads(gzip.decompress(data))
    assert body["captured_at"].startswith("2026-01-28")
    assert len(body["models"]) >= 440 and body["prices"]


def test_snapshot_rebuilt_from_the_shared_answers_matches_the_shipped_one(tmp_path: Path) -> None:
    rebuilt = snapshot_file.from_directory(SHARED_CATALOG)
    shipped = snapshot_file.read()
    assert rebuilt.models == shipped.models


async def test_snapshot_loads_lazily_and_offline(tmp_path: Path) -> None:
    catalog = Catalog(Settings(home=tmp_path))  # no key: never asks fal
    assert catalog._entries is None
    entry = await catalog.lookup("fal-ai/wan-22-image-trainer")
    assert entry is not None and entry.source == "snapshot"
    assert entry.inference_endpoint_ids == ("fal-ai/wan/v2.2-a14b/text-to-image/lora",)
    assert set(entry.output_properties) >= {"diffusers_lora_file", "high_noise_lora"}
    assert "2026-01-28" in entry.age_note


async def test_missing_endpoint_fetched_on_first_use(settings: Settings, fake_fal: FakeFal) -> None:
    fake_fal.catalog.add_model(krea2_model(fake_fal))
    catalog = Catalog(settings)
    assert catalog.get(KREA2) is None
    entry = await catalog.lookup(KREA2)
    assert entry is not None and entry.source == "live" and "image_data_url" in entry.properties
    assert fake_fal.count("GET", r"^/v1/models$") == 1
    again = Catalog(settings)  # a new process reads it from the cache, without asking
    assert again.get(KREA2) is not None


async def test_unreachable_fal_falls_back_with_a_note(settings: Settings, fake_fal: FakeFal) -> None:
    fake_fal.catalog.unreachable = True
    catalog = Catalog(settings)
    entry = await catalog.lookup("fal-ai/flux-lora")
    assert entry is not None and entry.source == "snapshot"
    assert "503" in catalog.last_note
    report = await catalog.refresh()
    assert not report.ok and "Kept" in report.note
    assert await catalog.lookup(KREA2) is None  # never raises


async def test_refresh_reports_live_changes_newer_than_the_snapshot(settings: Settings, fake_fal: FakeFal) -> None:
    changed = fake_fal.catalog.copy_model("fal-ai/flux-lora")
    changed["metadata"]["status"] = "deprecated"
    fake_fal.catalog.add_model(changed)
    fake_fal.catalog.add_model(krea2_model(fake_fal))
    fake_fal.catalog.set_price("fal-ai/flux-lora", 0.04, "megapixel")
    catalog = Catalog(settings)
    report = await catalog.refresh(("training", "text-to-image"))
    assert report.ok, report.note
    assert KREA2 in report.added
    assert "fal-ai/flux-lora" in report.changed
    assert "fal-ai/flux-lora" in report.prices_changed
    entry = catalog.get("fal-ai/flux-lora")
    assert entry is not None and entry.status == "deprecated" and entry.source == "live"
    assert catalog.cached_price("fal-ai/flux-lora").unit_price == 0.04


async def test_prices_read_from_the_pricing_api(settings: Settings, fake_fal: FakeFal) -> None:
    fake_fal.catalog.set_price("fal-ai/flux-2/lora", 0.03, "megapixel")
    catalog = Catalog(settings)
    price = await catalog.price("fal-ai/flux-2/lora")
    assert price is not None and price.unit_price == 0.03 and price.source == "live"
    assert time.time() - price.as_of < 60


def test_validator_reads_openapi_schemas() -> None:
    entry = snapshot_file.read().models["fal-ai/flux-lora"]["input"]
    assert problems(entry, {"prompt": "x", "image_size": {"width": 512, "height": 512}}) == []
    found = problems(entry, {"prompt": "x", "num_images": 9, "output_format": "gif", "image_size": "huge"})
    by_field = {problem.field: problem for problem in found}
    assert "from 1 to 4" in by_field["num_images"].message
    assert "jpeg, png" in by_field["output_format"].message
    assert "square_hd" in by_field["image_size"].message
    missing = problems(entry, {})
    assert missing[0].kind == "missing" and missing[0].field == "prompt"
    assert unknown_fields(entry, {"prompt": "x", "cfg": 7}) == ["cfg"]
    assert problems({"type": "object", "properties": {"a": {"type": "string", "nullable": True}}}, {"a": None}) == []
    assert describe({"type": "integer", "minimum": 1, "maximum": 8}) == "an integer from 1 to 8"


def test_fake_fal_refuses_a_body_its_schema_rejects(fake_fal: FakeFal) -> None:
    detail = fake_fal.catalog.check_submission("fal-ai/z-image/turbo/lora", {"prompt": "x", "num_inference_steps": 30})
    assert detail and detail[0]["loc"] == ["body", "num_inference_steps"]
