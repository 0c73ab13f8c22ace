"""Likeness scores on real photos (the face_recognition 1.3.0 sdist's test images: obama*.jpg vs biden.jpg).

The photos are fetched with pip into tests/.photos/ (git-ignored) on first use. The scoring test is skipped
only when the optional 'likeness' extra (dlib-bin + face_recognition_models) is not installed: the models
are a 100 MB download that the default test environment does not carry.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from mcp import Client

from tests.helpers import call_error
from tools import likeness

PHOTOS = Path(__file__).parent / ".photos"
SDIST = "face_recognition==1.3.0"

needs_extra = pytest.mark.skipif(
    not likeness.available(),
    reason="optional 'likeness' extra not installed (pip install 'fal-video-mcp[likeness]')",
)


def face_photos() -> Path:
    """The sdist's tests/test_images folder, downloaded and unpacked once."""
    target = PHOTOS / "face_recognition-1.3.0" / "tests" / "test_images"
    if (target / "biden.jpg").exists():
        return target
    PHOTOS.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", SDIST, "-d", str(PHOTOS)],
        check=True,
        capture_output=True,
    )
    with tarfile.open(PHOTOS / "face_recognition-1.3.0.tar.gz") as archive:
        members = [m for m in archive.getmembers() if "/tests/test_images/" in m.name and m.isfile()]
        archive.extractall(PHOTOS, members=members)
    return target


@pytest.fixture(scope="module")
def photos() -> Path:
    return face_photos()


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
