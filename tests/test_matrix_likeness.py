"""Likeness scores on real photos (the face_recognition 1.3.0 sdist's test images: obama*.jpg vs biden.jpg).

The photos come from the shared real-photo cache (tests/photos.py). The scoring tests are skipped only when
the optional 'likeness' extra (dlib-bin + face_recognition_models) is not installed and CI is not set; CI
installs the extra, so there they always run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client

from server.config import Settings
from tests.fake_fal import FakeFal
from tests.helpers import call_error, call_ok
from tests.photos import real_photos
from tests.test_library import register_model
from tools.quality import likeness

# In CI (CI=true) the extra is installed by .ci/run, so a missing extra fails these tests instead of skipping them.
needs_extra = pytest.mark.skipif(
    not likeness.available() and os.environ.get("CI") != "true",
    reason="optional 'likeness' extra not installed (pip install 'fal-video-mcp[likeness]')",
)


@pytest.fixture(scope="module")
def photos() -> Path:
    """The folder of the shared real-photo cache (tests/photos.py): obama*.jpg, biden.jpg, ..."""
    return real_photos()["obama.jpg"].parent


def test_distance_maps_onto_one_to_ten() -> None:
    assert likeness.distance_to_score(0.1) == 10.0
    assert likeness.distance_to_score(0.44) == 7.5
    assert likeness.distance_to_score(0.6) == 4.6
    assert likeness.distance_to_score(0.9) == 1.0


@needs_extra
def test_same_person_scores_high_other_person_low(photos: Path) -> None:
    references = likeness.reference_descriptors([photos / "obama.jpg", photos / "obama2.jpg"])
    results = likeness.score_images(
        references, [photos / "obama3.jpg", photos / "obama_partial_face.jpg", photos / "biden.jpg"]
    )
    same, partial, other = results
    print("likeness", [(Path(r.path).name, r.distance, r.score) for r in results])
    assert same.faces == 1 and same.distance is not None and same.distance < 0.45 and same.score >= 7
    assert partial.score is not None and partial.score >= 7
    assert other.distance is not None and other.distance > 0.62 and other.score <= 3


@pytest.mark.anyio
async def test_without_the_extra_the_tool_says_how_to_enable_it(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "dlib", None)  # what an environment without the extra looks like
    likeness._models.cache_clear()
    try:
        text = await call_error(client, "quality_matrix", {"action": "likeness", "generation_ids": ["gen_x"]})
    finally:
        likeness._models.cache_clear()
    assert "pip install 'fal-video-mcp[likeness]'" in text


@needs_extra
@pytest.mark.anyio
async def test_likeness_fills_the_matrix_from_generated_images(
    client: Client, settings: Settings, fake_fal: FakeFal, photos: Path
) -> None:
    from PIL import Image

    register_model(settings, lora_url=fake_fal.add_file("sid.safetensors", b"lora"))
    outputs = {}
    for seed, name in ((1, "obama3.jpg"), (2, "biden.jpg")):  # the "generated" image per seed
        with Image.open(photos / name) as img:
            size = img.size
        url = fake_fal.add_file(name, (photos / name).read_bytes(), "image/jpeg")
        outputs[seed] = {"url": url, "width": size[0], "height": size[1], "content_type": "image/jpeg"}
    fake_fal.script(
        "fal-ai/flux-lora", result=lambda job: {"images": [outputs[job.input["seed"]]], "seed": job.input["seed"]}
    )
    ids = []
    for seed in (1, 2):
        run = await call_ok(
            client,
            "prompt_library",
            {"action": "run", "name": "professional-headshot", "model": "sid", "input_params": {"seed": seed}},
        )
        ids.append(run["generation"]["generation_id"])
    references = [str(photos / "obama.jpg"), str(photos / "obama2.jpg")]
    scored = await call_ok(
        client, "quality_matrix", {"action": "likeness", "generation_ids": ids, "reference_photos": references}
    )
    same, other = scored["likeness"]
    print("likeness via MCP", same["distance"], same["score"], other["distance"], other["score"])
    assert same["score"] >= 7 and other["score"] <= 3 and same["recorded"] and other["recorded"]
    shown = await call_ok(client, "quality_matrix", {"action": "show", "model": "sid"})
    cell = shown["rows"][0]["versions"]["v1"]
    assert shown["rows"][0]["scenario"] == "professional-headshot"
    assert cell["n"] == 2 and cell["likeness"] == round((same["score"] + other["score"]) / 2, 2)
    await call_ok(
        client, "quality_matrix", {"action": "likeness", "generation_ids": ids, "reference_photos": references}
    )
    again = await call_ok(client, "quality_matrix", {"action": "show", "model": "sid"})
    assert again["rows"][0]["versions"]["v1"]["n"] == 2  # scoring twice does not double-count


@needs_extra
@pytest.mark.anyio
async def test_suite_scores_likeness_against_the_training_photos(
    client: Client, settings: Settings, fake_fal: FakeFal, photos: Path
) -> None:
    import shutil

    from PIL import Image

    from server.storage import Store, utc_now
    from tools.models import registry

    # a prepared dataset as prepare_dataset leaves it: images/NNN.jpg + NNN.txt beside a contact sheet
    folder = settings.datasets_dir / "sid-v1"
    (folder / "images").mkdir(parents=True)
    for index, name in enumerate(("obama.jpg", "obama2.jpg")):
        shutil.copy(photos / name, folder / "images" / f"{index:03d}.jpg")
        (folder / "images" / f"{index:03d}.txt").write_text("a photo of sidx\n")
    shutil.copy(photos / "biden.jpg", folder / "contact-sheet.png")  # another face that must not count
    store = Store(settings.db_path)
    try:
        store.insert(
            "datasets",
            {
                "id": "ds_sid1",
                "name": "sid",
                "version": 1,
                "source_dir": str(photos),
                "trigger_word": "sidx",
                "content_hash": "x",
                "image_count": 2,
                "status": "prepared",
                "dir": str(folder),
                "report_json": "{}",
                "options_json": "{}",
                "created_at": utc_now(),
            },
        )
        registry.register_version(
            store,
            "sid",
            trigger_word="sidx",
            base_endpoint="fal-ai/flux-lora",
            source="trained",
            lora_url=fake_fal.add_file("sid.safetensors", b"lora"),
            dataset_id="ds_sid1",
        )
    finally:
        store.close()
    with Image.open(photos / "obama3.jpg") as img:
        size = img.size
    url = fake_fal.add_file("obama3.jpg", (photos / "obama3.jpg").read_bytes(), "image/jpeg")
    image = {"url": url, "width": size[0], "height": size[1], "content_type": "image/jpeg"}
    fake_fal.script("fal-ai/flux-lora", result=lambda job: {"images": [image], "seed": job.input["seed"]})

    result = await call_ok(
        client,
        "quality_matrix",
        {
            "action": "run_suite",
            "model": "sid",
            "scenarios": ["professional-headshot"],
            "seeds": [1, 2],
            "include_baseline": True,
        },
    )
    suite = result["suite"]
    if suite["status"] != "completed":
        suite = (await call_ok(client, "quality_matrix", {"action": "suite_status", "suite_id": suite["suite_id"]}))[
            "suite"
        ]
    assert suite["status"] == "completed"
    scores = {c["likeness"] for c in suite["cells"]}  # obama3 vs obama + obama2: median distance 0.373 → 8.7
    assert len(scores) == 1 and scores.pop() >= 8
    shown = await call_ok(client, "quality_matrix", {"action": "show", "model": "sid"})
    cell = shown["rows"][0]["versions"]["v1"]
    likeness_score = suite["cells"][0]["likeness"]
    assert cell == {"quality": None, "likeness": likeness_score, "n": 2}  # baseline: scored, not recorded
