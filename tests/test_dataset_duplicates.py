"""Near-duplicates that pHash alone misses: heavy crops of the same photo, found by ORB + RANSAC on real photos."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.helpers import call_ok
from tests.photos import real_photos
from tools.dataset.duplicates import ORB_MIN_INLIERS, orb_features, orb_inliers

pytestmark = pytest.mark.anyio

DISTINCT = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png")


def _duplicate(row: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in row["checks"] if c["name"] == "duplicate"), None)


async def test_heavy_crops_are_near_duplicates_and_distinct_photos_are_not(client: Client, tmp_path: Path) -> None:
    from PIL import Image

    photos = real_photos()
    folder = tmp_path / "crops"
    folder.mkdir()
    for name in (*DISTINCT, "obama_partial_face.jpg"):
        shutil.copy(photos[name], folder / name)
    # a generated heavy crop: a third of obama3's height around the face, scaled down
    obama3 = Image.open(photos["obama3.jpg"]).convert("RGB")
    obama3.crop((300, 150, 1100, 950)).resize((640, 640)).save(folder / "obama3_crop.jpg", quality=90)

    out = await call_ok(
        client, "prepare_dataset", {"folder": str(folder), "trigger_word": "SIDAI", "dry_run": True, "resolution": 512}
    )
    rows = {row["file"]: row for row in out["images"]}
    partial = _duplicate(rows["obama_partial_face.jpg"])
    assert partial is not None and partial["verdict"] == "reject"
    assert "near-duplicate of obama.jpg" in partial["reason"] and "crop of the same photo" in partial["reason"]
    crop = _duplicate(rows["obama3_crop.jpg"])
    assert crop is not None and "near-duplicate of obama3.jpg" in crop["reason"]
    for name in DISTINCT:  # the larger original of each pair is the one kept; distinct photos are never merged
        assert _duplicate(rows[name]) is None, rows[name]["reasons"]
    assert any("near-duplicate" in line for line in out["report"]["advice"])


def test_orb_inliers_separate_crops_from_distinct_photos() -> None:
    import cv2
    import numpy as np
    from PIL import Image

    photos = real_photos()

    def features(name: str) -> Any:
        img = Image.open(photos[name]).convert("RGB")
        img.thumbnail((1024, 1024))
        return orb_features(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2GRAY))

    found = {name: features(name) for name in (*DISTINCT, "camera.png", "obama_partial_face.jpg")}
    assert all(f is not None for f in found.values())
    assert orb_inliers(found["obama_partial_face.jpg"], found["obama.jpg"]) >= 2 * ORB_MIN_INLIERS
    assert orb_inliers(found["obama.jpg"], found["obama_partial_face.jpg"]) >= 2 * ORB_MIN_INLIERS
    for a, b in itertools.permutations([*DISTINCT, "camera.png"], 2):
        assert orb_inliers(found[a], found[b]) <= 7, (a, b)  # the doc's distinct-pair ceiling
    for name in (*DISTINCT, "camera.png"):
        if name != "obama.jpg":
            assert orb_inliers(found["obama_partial_face.jpg"], found[name]) <= 7, name


async def test_a_burst_names_the_photo_each_frame_is_close_to(client: Client, tmp_path: Path) -> None:
    """Frames 1≈2≈3 of a burst form one group although 1 and 3 are far apart: each reason names its close frame."""
    import re

    from PIL import Image

    obama3 = Image.open(real_photos()["obama3.jpg"]).convert("RGB")
    folder = tmp_path / "burst"
    folder.mkdir()
    for k in range(3):  # a slow pan: each frame 40 px right of and 20 px below the previous one
        obama3.crop((40 * k, 20 * k, 40 * k + 1100, 20 * k + 1300)).save(folder / f"burst_{k}.jpg", quality=92)
    out = await call_ok(
        client, "prepare_dataset", {"folder": str(folder), "trigger_word": "SIDAI", "dry_run": True, "resolution": 512}
    )
    reasons = [c["reason"] for row in out["images"] for c in row["checks"] if c["name"] == "duplicate"]
    assert len(reasons) == 2, reasons
    for reason in reasons:
        direct = re.search(r"\(pHash distance (\d+)\)", reason)
        assert direct is None or int(direct.group(1)) <= 10, reason  # never a far distance given as the evidence
    assert any(re.search(r"pHash distance \d+ to burst_\d\.jpg, in the same group", r) for r in reasons), reasons
