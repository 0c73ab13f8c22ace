"""prepare_dataset / list_datasets / check-dataset on real photographs plus generated variations of them."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from server.errors import UserError
from server.storage import Store
from tests.fake_fal import FakeFal
from tests.helpers import call_error, call_ok
from tests.photos import real_photos
from tools.training.trigger_words import check_trigger_word

pytestmark = pytest.mark.anyio

UPLOADS = r"^/cdn/files/upload$"


def _save_exif_rotated(src: Path, dest: Path) -> None:
    """Store the photo turned sideways on disk with EXIF orientation 6, like a phone does."""
    from PIL import Image

    with Image.open(src) as img:
        sideways = img.convert("RGB").transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back
        exif = Image.Exif()
        exif[0x0112] = 6
        sideways.save(dest, "JPEG", quality=92, exif=exif.tobytes())


def _build_folder(root: Path, photos: dict[str, Path]) -> None:
    from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

    for sub in ("professional", "casual", "various"):
        (root / sub).mkdir(parents=True)
    obama, obama3 = Image.open(photos["obama.jpg"]).convert("RGB"), Image.open(photos["obama3.jpg"]).convert("RGB")
    # real photos, different angles and people
    (root / "professional" / "obama.jpg").write_bytes(photos["obama.jpg"].read_bytes())
    (root / "professional" / "obama3.jpg").write_bytes(photos["obama3.jpg"].read_bytes())
    (root / "casual" / "obama2.jpg").write_bytes(photos["obama2.jpg"].read_bytes())
    (root / "casual" / "astronaut.png").write_bytes(photos["astronaut.png"].read_bytes())
    (root / "various" / "camera.png").write_bytes(photos["camera.png"].read_bytes())  # greyscale, near profile
    (root / "various" / "arrow.heic").write_bytes(photos["arrow.heic"].read_bytes())  # real HEIC, no face
    (root / "casual" / "obama2_copy.png").write_bytes(photos["32bit.png"].read_bytes())  # same photo as PNG
    _save_exif_rotated(photos["biden.jpg"], root / "rotated.jpg")
    # generated variations
    obama.filter(ImageFilter.GaussianBlur(9)).save(root / "blurred.jpg", quality=90)
    ImageEnhance.Brightness(obama).enhance(0.12).save(root / "dark.jpg", quality=90)
    obama.resize((180, 225)).save(root / "tiny.jpg", quality=90)
    obama3.crop((300, 150, 1100, 950)).convert("L").save(root / "grayscale.jpg", quality=90)
    shades = obama3.copy()
    draw = ImageDraw.Draw(shades)
    for cx, cy in ((736, 378), (866, 381)):  # both eyes of obama3, ~130 px apart
        draw.ellipse((cx - 52, cy - 34, cx + 52, cy + 34), fill=(8, 8, 10))
    draw.line((788, 380, 814, 380), fill=(8, 8, 10), width=8)
    shades.save(root / "sunglasses.jpg", quality=92)
    group = Image.new("RGB", (1400, 900), (200, 200, 200))
    # Both faces mirrored: unmirrored crops of obama.jpg / astronaut.png, both in the folder too, are (rightly)
    # found to be crops of those photos by the ORB near-duplicate match, which would hide the group-photo warning.
    mirror = Image.Transpose.FLIP_LEFT_RIGHT
    group.paste(obama.crop((300, 40, 700, 500)).resize((440, 506)).transpose(mirror), (60, 200))
    astronaut = Image.open(photos["astronaut.png"]).convert("RGB")
    group.paste(astronaut.crop((130, 20, 330, 260)).resize((380, 456)).transpose(mirror), (900, 220))
    group.save(root / "group.jpg", quality=92)
    data = photos["obama.jpg"].read_bytes()
    (root / "corrupted.jpg").write_bytes(data[: len(data) // 3])
    (root / "not-an-image.jpg").write_text("this is a text file with an image name\n")
    (root / "empty.jpg").write_bytes(b"")
    Image.new("1", (10000, 9000)).save(root / "bomb.png")  # 90 MP: over Pillow's decompression-bomb limit
    (root / ".hidden.jpg").write_bytes(photos["obama.jpg"].read_bytes())
    (root / "notes.txt").write_text("not a photo")
    outside = root.parent / "outside.jpg"
    outside.write_bytes(photos["obama.jpg"].read_bytes())
    (root / "link-outside.jpg").symlink_to(outside)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos") / "jane"
    _build_folder(root, real_photos())
    return root


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _by_file(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["file"]: row for row in result["images"]}


def _check(row: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in row["checks"] if c["name"] == name)


EXPECTED = {  # file → (verdict, {check: verdict})
    "professional/obama.jpg": ("ok", {"faces": "ok", "sharpness": "ok", "exposure": "ok", "eyes": "ok"}),
    "professional/obama3.jpg": ("ok", {"faces": "ok", "resolution": "ok"}),
    "casual/obama2.jpg": ("ok", {"faces": "ok"}),
    "casual/astronaut.png": ("reject", {"faces": "ok", "covering": "ok", "same_person": "reject"}),
    "casual/obama2_copy.png": ("reject", {"duplicate": "reject"}),
    "various/camera.png": ("warn", {"filter": "warn", "faces": "ok", "same_person": "warn"}),  # profile: warned
    "various/arrow.heic": ("reject", {"faces": "reject"}),
    "rotated.jpg": ("reject", {"faces": "ok", "same_person": "reject"}),  # biden, upright once turned
    "blurred.jpg": ("reject", {"sharpness": "reject"}),
    "dark.jpg": ("reject", {"exposure": "reject"}),
    "tiny.jpg": ("reject", {"resolution": "reject"}),
    "grayscale.jpg": ("reject", {"filter": "warn", "duplicate": "reject"}),  # a heavy crop of obama3
    "sunglasses.jpg": ("reject", {"eyes": "reject"}),
    "group.jpg": ("warn", {"faces": "warn", "same_person": "ok"}),
    "corrupted.jpg": ("reject", {"readable": "reject"}),
    "not-an-image.jpg": ("reject", {"readable": "reject"}),
    "empty.jpg": ("reject", {"readable": "reject"}),
    "bomb.png": ("reject", {"readable": "reject"}),
    "link-outside.jpg": ("reject", {"readable": "reject"}),
}


def _args(folder: Path, **extra: Any) -> dict[str, Any]:
    return {"folder": str(folder), "trigger_word": "SIDAI", "subject": "man", "resolution": 512, **extra}


async def test_dry_run_reports_every_verdict_and_writes_nothing(
    client: Client, settings: Settings, photo_folder: Path, fake_fal: FakeFal
) -> None:
    before = _snapshot(photo_folder)
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    result = await client.call_tool("prepare_dataset", _args(photo_folder, dry_run=True), progress_callback=on_progress)
    assert not result.is_error, result.content
    out = result.structured_content
    assert out is not None
    rows = _by_file(out)
    assert set(rows) == set(EXPECTED), set(rows) ^ set(EXPECTED)
    for name, (verdict, checks) in EXPECTED.items():
        assert rows[name]["verdict"] == verdict, (name, rows[name]["reasons"])
        for check, check_verdict in checks.items():
            got = _check(rows[name], check)
            assert got["verdict"] == check_verdict, (name, got)
            assert got["reason"]
    assert "no face" in " ".join(rows["various/arrow.heic"]["reasons"])
    assert _check(rows["various/arrow.heic"], "resolution")["value"] == 3024  # real iPhone HEIC decoded
    assert "not an image" in rows["not-an-image.jpg"]["reasons"][0]
    assert "empty" in rows["empty.jpg"]["reasons"][0]
    assert "truncated" in rows["corrupted.jpg"]["reasons"][0]
    assert "too many pixels" in rows["bomb.png"]["reasons"][0]
    assert "symlink" in rows["link-outside.jpg"]["reasons"][0]
    assert "obama2" in rows["casual/obama2_copy.png"]["reasons"][0]
    assert "obama3.jpg (a crop of the same photo" in rows["grayscale.jpg"]["reasons"][0]
    assert _check(rows["rotated.jpg"], "resolution")["reason"].startswith("970x2204")  # upright after EXIF
    # estimates on the real photos
    assert rows["casual/astronaut.png"]["estimates"]["angle"] == "front"
    assert rows["professional/obama.jpg"]["estimates"]["angle"] == "front"
    assert rows["casual/obama2.jpg"]["estimates"]["angle"] == "three-quarter"
    assert rows["various/camera.png"]["estimates"]["angle"] == "profile"
    assert rows["professional/obama.jpg"]["estimates"]["expression"] == "smiling"
    assert rows["various/camera.png"]["estimates"]["expression"] == "neutral"
    assert rows["professional/obama3.jpg"]["estimates"]["expression"] == "smiling"  # a slight smile
    assert rows["casual/obama2.jpg"]["estimates"]["expression"] == "other"  # mid-speech, mouth open
    assert out["ignored_files"] == ["notes.txt"]
    report = out["report"]
    assert out["status"] == "dry-run" and out["dataset_id"] is None
    assert report["kept"] == out["image_count"] == 5 and report["count_verdict"] == "too few"
    angle = next(t for t in report["mix"] if t["dimension"] == "angle")
    assert "estimate" in angle["method"]
    expression = next(t for t in report["mix"] if t["dimension"] == "expression")
    assert "FER emotion model" in expression["method"]
    assert {r["value"]: r["count"] for r in expression["rows"]}["various emotions"] >= 1
    assert any(a.startswith("Add 15 more") for a in report["advice"])
    assert any("near-duplicate" in a for a in report["advice"])
    assert any(a.startswith("Add a close-up") for a in report["advice"])  # none at all: the guide wants each distance
    # nothing written, nothing uploaded, originals untouched, progress reported
    assert not any(settings.datasets_dir.iterdir())
    assert fake_fal.count("POST", UPLOADS) == 0
    assert _snapshot(photo_folder) == before
    assert progress and progress[-1] == 100
    images = [block for block in result.content if block.type == "image"]
    assert len(images) == 1 and len(images[0].data) < 700_000


async def test_prepare_zip_captions_upload_once_and_versions(
    client: Client, settings: Settings, photo_folder: Path, fake_fal: FakeFal, tmp_path: Path
) -> None:
    from PIL import Image

    before = _snapshot(photo_folder)
    first = await call_ok(client, "prepare_dataset", _args(photo_folder))
    assert first["status"] == "uploaded" and first["uploaded_now"] and first["version"] == 1
    assert first["name"] == "jane" and first["image_count"] == 5
    assert fake_fal.count("POST", UPLOADS) == 1
    zip_path = Path(first["paths"]["zip"])
    with zipfile.ZipFile(zip_path) as archive:
        names = sorted(archive.namelist())
        assert names == sorted([f"{i:03d}.{ext}" for i in range(1, 6) for ext in ("jpg", "txt")])
        for name in names:
            if name.endswith(".txt"):
                caption = archive.read(name).decode()
                assert caption.startswith("photo of SIDAI man"), caption
            else:
                img = Image.open(io.BytesIO(archive.read(name)))
                assert img.size == (512, 512) and img.format == "JPEG"
                assert not img.getexif() and "icc_profile" not in img.info
    rows = _by_file(first)
    kept = [r for r in first["images"] if r["kept"]]
    assert all("SIDAI" in r["caption"] for r in kept)
    assert "professional" in rows["professional/obama.jpg"]["caption"]
    assert rows["professional/obama.jpg"]["caption"].startswith("photo of SIDAI man, front view, smiling")
    with zipfile.ZipFile(zip_path) as archive:
        stored = archive.read(rows["professional/obama.jpg"]["prepared_file"].replace(".jpg", ".txt")).decode()
    assert stored.strip() == rows["professional/obama.jpg"]["caption"]
    # the uploaded bytes are the zip
    assert fake_fal.files and any(data == zip_path.read_bytes() for data, _ in fake_fal.files.values())
    sheet = Path(first["paths"]["contact_sheet"])
    assert sheet.exists() and sheet.stat().st_size > 1000
    table = json.loads(Path(first["paths"]["image_table"]).read_text())  # every row in full, beside the zip
    assert table == first["images"] and first["images_note"] is None
    # the row training reads
    store = Store(settings.db_path)
    row = store.query_one("SELECT * FROM datasets WHERE id = ?", (first["dataset_id"],))
    assert row is not None
    assert (row["fal_url"], row["zip_path"], row["trigger_word"], row["image_count"], row["status"]) == (
        first["fal_url"],
        str(zip_path),
        "SIDAI",
        5,
        "uploaded",
    )
    # unchanged folder + options → same version, nothing uploaded again
    again = await call_ok(client, "prepare_dataset", _args(photo_folder))
    assert again["dataset_id"] == first["dataset_id"] and again["reused_existing"] and not again["uploaded_now"]
    assert again["fal_url"] == first["fal_url"]
    assert fake_fal.count("POST", UPLOADS) == 1
    # a changed folder (copy with one photo fewer) → version 2 under the same name
    changed = tmp_path / "jane"
    changed.mkdir()
    for path in photo_folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.name != "camera.png":
            dest = changed / path.relative_to(photo_folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    second = await call_ok(client, "prepare_dataset", _args(changed, upload=False))
    assert second["version"] == 2 and second["status"] == "prepared" and second["fal_url"] is None
    assert second["image_count"] == 4 and fake_fal.count("POST", UPLOADS) == 1
    uploaded = await call_ok(client, "prepare_dataset", _args(changed))
    assert uploaded["dataset_id"] == second["dataset_id"] and uploaded["uploaded_now"]
    assert fake_fal.count("POST", UPLOADS) == 2
    listing = await call_ok(client, "list_datasets", {})
    assert [(d["name"], d["version"]) for d in listing["datasets"]] == [("jane", 2), ("jane", 1)]
    detail = await call_ok(client, "list_datasets", {"dataset_id": first["dataset_id"]})
    assert detail["detail"]["summary"]["fal_url"] == first["fal_url"]
    assert detail["detail"]["paths"]["zip"] == str(zip_path)
    assert [v["version"] for v in detail["detail"]["versions"]] == [2, 1]
    assert detail["detail"]["report"]["kept"] == 5
    assert _snapshot(photo_folder) == before
    store.close()


async def test_identical_content_is_not_uploaded_twice_across_names(
    client: Client, photo_folder: Path, fake_fal: FakeFal
) -> None:
    a = await call_ok(client, "prepare_dataset", _args(photo_folder, name="one", crop="center"))
    b = await call_ok(client, "prepare_dataset", _args(photo_folder, name="two", crop="center"))
    assert a["uploaded_now"] and b["fal_url"] == a["fal_url"] and not b["uploaded_now"]
    assert fake_fal.count("POST", UPLOADS) == 1


async def test_errors_are_actionable(client: Client, tmp_path: Path, photo_folder: Path) -> None:
    assert "does not exist" in await call_error(client, "prepare_dataset", _args(tmp_path / "nope"))
    (tmp_path / "file.jpg").write_bytes(b"x")
    assert "not a folder" in await call_error(client, "prepare_dataset", _args(tmp_path / "file.jpg"))
    (tmp_path / "empty").mkdir()
    assert "is empty" in await call_error(client, "prepare_dataset", _args(tmp_path / "empty"))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.pdf").write_bytes(b"%PDF")
    assert "no supported photos" in await call_error(client, "prepare_dataset", _args(tmp_path / "docs"))
    bad = _args(photo_folder, trigger_word="man", dry_run=True)
    assert "common English word" in await call_error(client, "prepare_dataset", bad)
    bad = _args(photo_folder, caption_template="a photo of {subject}", dry_run=True)
    assert "{trigger}" in await call_error(client, "prepare_dataset", bad)
    few = tmp_path / "few"
    few.mkdir()
    (few / "x.jpg").write_text("no")
    text = await call_error(client, "prepare_dataset", _args(few))
    assert "Only 0 of 1" in text and "x.jpg" in text
    missing_id = await call_error(client, "list_datasets", {"dataset_id": "ds_nope"})
    assert "No dataset" in missing_id


async def test_upload_needs_a_key_but_dry_run_does_not(make_settings: Any, photo_folder: Path) -> None:
    settings = make_settings(fal_key=None)
    async with Client(create_server(settings), mode="legacy") as client:
        text = await call_error(client, "prepare_dataset", _args(photo_folder))
        assert "FAL_KEY" in text
        out = await call_ok(client, "prepare_dataset", _args(photo_folder, dry_run=True))
        assert out["image_count"] == 5


def test_check_dataset_cli(photo_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from server.cli import main

    env = {k: v for k, v in os.environ.items() if k.startswith("FAL_KEY")}
    for key in env:
        os.environ.pop(key)
    try:
        sheet = tmp_path / "sheet.png"
        with pytest.raises(SystemExit) as exit_info:
            main(["check-dataset", str(photo_folder), "--trigger-word", "SIDAI", "--sheet", str(sheet)])
    finally:
        os.environ.update(env)
    assert exit_info.value.code == 0
    out, err = capsys.readouterr()
    assert "blurred.jpg" in out and "REJECT" in out and "Advice:" in out and "three-quarter" in out
    assert "[####" in err and f"{len(EXPECTED)}/{len(EXPECTED)}" in err
    # after the per-photo pass, the duplicate comparison reports its own progress (long in a big folder)
    assert f"comparing {len(EXPECTED)} photos for near-duplicates" in err
    assert re.search(r"near-duplicates: (\d+)/\1 similar pairs compared", err), err
    assert sheet.exists()


def test_trigger_word_rules() -> None:
    assert check_trigger_word("SIDAI") == []
    assert check_trigger_word("ohwx") == []
    assert check_trigger_word("sks person")  # multi-token: allowed with a warning
    for bad, needle in [
        ("", "empty"),
        ("   ", "empty"),
        ("ab", "too short"),
        ("x" * 33, "at most 32"),
        ("person", "common English"),
        ("Woman", "common English"),
        ("photo", "common English"),
        ("Michael", "first name"),
        ("sarah", "first name"),
        ("12345", "no letter"),
        ("SID AI x y", "words"),
        ("SID@AI", "characters"),
        ("the man", "common words"),
    ]:
        with pytest.raises(UserError, match=needle):
            check_trigger_word(bad)


async def test_heic_webp_and_avif_with_faces_are_read(client: Client, tmp_path: Path) -> None:
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    photos = real_photos()
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.open(photos["obama.jpg"]).save(folder / "obama.heic", quality=85)
    Image.open(photos["obama3.jpg"]).save(folder / "obama3.webp", quality=85)
    Image.open(photos["biden.jpg"]).save(folder / "biden.avif", quality=80)  # web downloads are often AVIF
    out = await call_ok(client, "prepare_dataset", _args(folder, dry_run=True, same_person_check=False))
    rows = _by_file(out)
    assert rows["biden.avif"]["verdict"] == "ok" and _check(rows["biden.avif"], "faces")["value"] == 1
    assert rows["obama.heic"]["verdict"] == "ok" and _check(rows["obama.heic"], "resolution")["value"] == 910
    assert rows["obama3.webp"]["verdict"] == "ok" and _check(rows["obama3.webp"], "faces")["value"] == 1


def test_expression_falls_back_to_the_smile_cascade_without_litert(tmp_path: Path) -> None:
    """Where LiteRT has no wheel (Intel macOS, Windows before Python 3.12) expressions are still estimated, and the
    report says how."""
    import json
    import subprocess
    import sys

    photos = real_photos()
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("obama.jpg", "biden.jpg"):
        (folder / name).write_bytes(photos[name].read_bytes())
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['ai_edge_litert'] = None  # import fails\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAL_KEY")}
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), str(Path(__file__).resolve().parents[1])])
    done = subprocess.run(
        [sys.executable, "-m", "server", "check-dataset", str(folder), "--trigger-word", "SIDAI", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # the contact sheet goes to the working directory
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    expression = next(t for t in out["report"]["mix"] if t["dimension"] == "expression")
    assert "smile cascade" in expression["method"] and "LiteRT is not installed" in expression["method"]
    rows = {row["file"]: row for row in out["images"]}
    assert rows["obama.jpg"]["estimates"]["expression"] == "smiling"
    assert rows["biden.jpg"]["estimates"]["expression"] in ("neutral", "smiling")  # the cascade is noisy
