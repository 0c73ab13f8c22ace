"""Optional text / watermark check (RapidOCR) through prepare_dataset and check-dataset.

RapidOCR is an optional engine installed with --no-deps (its opencv-python dependency would replace our
opencv-python-headless), so it is not in the test extra. Locally the OCR tests skip when it is missing; under CI
(CI=true) the `ocr` fixture installs the pinned versions into this interpreter and fails loudly if that fails.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.helpers import call_error, call_ok
from tests.photos import real_photos

pytestmark = pytest.mark.anyio

RAPIDOCR = "rapidocr_onnxruntime==1.4.4"
RUNTIME = ("onnxruntime>=1.17,<2", "pyclipper>=1.3,<2", "shapely>=2,<3")
MARK = "© SAMPLE PHOTO"


@pytest.fixture(scope="session")
def ocr() -> None:
    try:
        import rapidocr_onnxruntime

        return
    except ImportError as exc:
        if os.environ.get("CI", "").lower() != "true":
            runtime = " ".join(f"'{r}'" for r in RUNTIME)
            pytest.skip(f"RapidOCR is not installed ({exc}): pip install --no-deps {RAPIDOCR} && pip install {runtime}")
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    for args in (["--no-deps", RAPIDOCR], list(RUNTIME)):
        done = subprocess.run([*pip, *args], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"installing {args} for the OCR tests failed: {done.stderr.strip()[-600:]}")
    importlib.invalidate_caches()
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"RapidOCR still not importable after installing it: {exc}")


def _font(size: int) -> Any:
    from PIL import ImageFont

    for name in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)  # Pillow's bundled scalable font


def _corner_mark(src: Path, dest: Path) -> None:
    """One semi-transparent stock-photo mark in the bottom-right corner."""
    from PIL import Image, ImageDraw

    img = Image.open(src).convert("RGB")
    draw = ImageDraw.Draw(img, "RGBA")
    w, h = img.size
    font = _font(max(16, h // 25))
    draw.text((w - w // 40, h - h // 40), MARK, font=font, fill=(255, 255, 255, 210), anchor="rd", stroke_width=2,
              stroke_fill=(0, 0, 0, 160))  # fmt: skip
    img.save(dest, quality=92)


def _tiled_mark(src: Path, dest: Path) -> None:
    """The mark repeated over the whole photo, faint, like a proof print."""
    from PIL import Image, ImageDraw

    img = Image.open(src).convert("RGBA")
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    w, h = img.size
    font = _font(max(16, h // 28))
    step_y, step_x = h // 5, w // 2
    for row, y in enumerate(range(h // 12, h, step_y)):
        for x in range(-w // 4 + (row % 2) * w // 6, w, step_x):
            draw.text((x, y), MARK, font=font, fill=(255, 255, 255, 120))
    Image.alpha_composite(img, layer).convert("RGB").save(dest, quality=92)


def _scene_text(src: Path, dest: Path) -> None:
    """A printed sign held in the lower middle of the photo (inside the 15 % border): text in the scene."""
    from PIL import Image, ImageDraw

    img = Image.open(src).convert("RGB")
    draw = ImageDraw.Draw(img)
    w, h = img.size
    box = (int(w * 0.28), int(h * 0.66), int(w * 0.72), int(h * 0.76))
    draw.rectangle(box, fill=(245, 245, 235))
    font = _font((box[3] - box[1]) // 2)
    draw.text(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2), "VOTE 2024", font=font, fill=(20, 20, 120), anchor="mm")
    img.save(dest, quality=92)


def _text_check(row: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in row["checks"] if c["name"] == "text"), None)


def _args(folder: Path, **extra: Any) -> dict[str, Any]:
    # The folder mixes people on purpose (text is the point here): the same-person check is off.
    base = {"folder": str(folder), "trigger_word": "SIDAI", "resolution": 512, "dry_run": True}
    return {**base, "same_person_check": False, **extra}


@pytest.fixture(scope="module")
def marked_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    photos = real_photos()
    root = tmp_path_factory.mktemp("marked") / "proofs"
    root.mkdir()
    (root / "clean.jpg").write_bytes(photos["obama2.jpg"].read_bytes())
    (root / "astronaut.png").write_bytes(photos["astronaut.png"].read_bytes())
    _corner_mark(photos["obama3.jpg"], root / "corner_mark.jpg")
    _tiled_mark(photos["obama.jpg"], root / "tiled_mark.jpg")
    _scene_text(photos["biden.jpg"], root / "sign.jpg")
    return root


async def test_watermarks_are_rejected_scene_text_warned_clean_photos_pass(
    ocr: None, client: Client, marked_folder: Path
) -> None:
    out = await call_ok(client, "prepare_dataset", _args(marked_folder, text_check=True))
    rows = {row["file"]: row for row in out["images"]}
    for name in ("clean.jpg", "astronaut.png"):
        check = _text_check(rows[name])
        assert check is not None and check["verdict"] == "ok", check
        assert rows[name]["verdict"] == "ok", rows[name]["reasons"]
    corner = _text_check(rows["corner_mark.jpg"])
    assert corner is not None and corner["verdict"] == "reject", corner
    assert "SAMPLE" in corner["value"].upper() and "bottom" in corner["reason"]
    tiled = _text_check(rows["tiled_mark.jpg"])
    assert tiled is not None and tiled["verdict"] == "reject", tiled
    assert "repeated" in tiled["reason"]
    sign = _text_check(rows["sign.jpg"])
    assert sign is not None and sign["verdict"] == "warn", sign
    assert "2024" in sign["value"] and rows["sign.jpg"]["verdict"] == "warn"
    report = out["report"]
    assert any("watermark" in line for line in report["advice"]), report["advice"]
    assert any("were checked with RapidOCR" in note for note in report["method_notes"])


async def test_text_is_not_checked_unless_asked(client: Client, marked_folder: Path) -> None:
    out = await call_ok(client, "prepare_dataset", _args(marked_folder))
    assert all(_text_check(row) is None for row in out["images"])
    note = next(n for n in out["report"]["method_notes"] if "Text and watermarks" in n)
    assert "not checked" in note and "text_check=true" in note and "--no-deps" in note


async def test_missing_ocr_engine_is_a_clear_error(
    client: Client, marked_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # what an environment without it looks like
    text = await call_error(client, "prepare_dataset", _args(marked_folder, text_check=True))
    assert "pip install --no-deps 'rapidocr_onnxruntime>=1.4,<2'" in text
    assert "onnxruntime" in text and "pyclipper" in text and "shapely" in text and "opencv-python-headless" in text


def test_check_dataset_cli_text_check(
    ocr: None, marked_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["check-dataset", str(marked_folder), "--text-check", "--json", "--sheet", str(tmp_path / "s.png")])
    assert exit_info.value.code == 0
    out, _ = capsys.readouterr()
    assert '"name": "text"' in out and "watermark" in out
