"""Decoding and hashing shortcuts give exactly what the straightforward Pillow / imagehash code gives.

The fast paths (OpenCV decoding straight into numpy, EXIF orientation applied to the array, sRGB profiles left
alone, both perceptual hashes from one DCT) exist for speed only; these tests pin them to the reference results.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tests.photos import real_photos
from tools.dataset.decode import DecodeError, decode
from tools.dataset.duplicates import phashes


def _reference(path: Path, min_short_side: int) -> np.ndarray:
    """Pillow alone: draft decode, exif_transpose, colour-managed to sRGB."""
    from PIL import Image, ImageCms, ImageOps

    with Image.open(path) as img:
        short = min(img.size)
        if short > min_short_side:
            factor = min_short_side / short
            img.draft("RGB", (int(np.ceil(img.width * factor)), int(np.ceil(img.height * factor))))
        icc = img.info.get("icc_profile")
        upright = ImageOps.exif_transpose(img.convert("RGB"))
        if icc:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            upright = ImageCms.profileToProfile(upright, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        return np.asarray(upright)


@pytest.fixture(scope="module")
def portrait() -> object:
    from PIL import Image

    return Image.open(real_photos()["obama3.jpg"]).convert("RGB")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(orientation: int, portrait: object, tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / f"o{orientation}.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    portrait.save(path, "JPEG", quality=90, exif=exif.tobytes())  # type: ignore[attr-defined]
    for min_side in (512, 4096):  # draft-reduced and full size
        got = decode(path, min_side)
        want = _reference(path, min_side)
        assert got.pixels.shape == want.shape, (orientation, min_side)
        assert np.array_equal(got.pixels, want), (orientation, min_side)
        turned = orientation in (5, 6, 7, 8)
        width, height = portrait.size  # type: ignore[attr-defined]
        assert got.original_size == ((height, width) if turned else (width, height))


def test_srgb_profiles_are_kept_and_other_profiles_converted(portrait: object, tmp_path: Path) -> None:
    import pillow_heif
    from PIL import Image, ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pillow_heif.register_heif_opener()
    with Image.open(real_photos()["arrow.heic"]) as heic:
        display_p3 = heic.info["icc_profile"]  # a real iPhone profile
    assert "Display P3" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(display_p3)))
    plain, tagged, wide = tmp_path / "plain.jpg", tmp_path / "srgb.jpg", tmp_path / "p3.jpg"
    portrait.save(plain, "JPEG", quality=90)  # type: ignore[attr-defined]
    portrait.save(tagged, "JPEG", quality=90, icc_profile=srgb)  # type: ignore[attr-defined]
    portrait.save(wide, "JPEG", quality=90, icc_profile=display_p3)  # type: ignore[attr-defined]
    assert np.array_equal(decode(tagged, 512).pixels, decode(plain, 512).pixels)  # sRGB → sRGB: untouched
    converted = decode(wide, 512).pixels
    assert np.array_equal(converted, _reference(wide, 512))
    assert np.abs(converted.astype(int) - decode(plain, 512).pixels).mean() > 1  # P3 values really were converted


def test_truncated_and_cmyk_jpegs(portrait: object, tmp_path: Path) -> None:
    data = io.BytesIO()
    portrait.save(data, "JPEG", quality=90)  # type: ignore[attr-defined]
    for cut in (0.3, 0.9, 0.999):
        truncated = tmp_path / f"cut{cut}.jpg"
        truncated.write_bytes(data.getvalue()[: int(len(data.getvalue()) * cut)])
        with pytest.raises(DecodeError, match="truncated"):
            decode(truncated, 512)
    cmyk = tmp_path / "cmyk.jpg"
    portrait.convert("CMYK").save(cmyk, "JPEG", quality=90)  # type: ignore[attr-defined]
    got = decode(cmyk, 512).pixels
    assert got.shape[2] == 3 and np.array_equal(got, _reference(cmyk, 512))


def test_both_perceptual_hashes_equal_imagehash() -> None:
    import imagehash
    from PIL import Image, ImageOps

    for name, path in real_photos().items():
        if name.endswith(".heic"):
            continue
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB").reduce(2))
        image, mirror = phashes(rgb)
        assert image == imagehash.phash(Image.fromarray(rgb)), name
        assert mirror == imagehash.phash(ImageOps.mirror(Image.fromarray(rgb))), name


@pytest.mark.parametrize(
    ("label", "save_args", "min_side"),
    [
        ("progressive", {"progressive": True}, 512),
        ("4:4:4", {"subsampling": 0}, 512),
        ("restart markers", {"restart_marker_rows": 1}, 512),
        ("greyscale", {"mode": "L"}, 512),
        ("1/4 scale", {"upscale": 2}, 512),
        ("1/8 scale", {"upscale": 4}, 300),
    ],
)
def test_jpeg_variants_match_pillow(
    label: str, save_args: dict[str, object], min_side: int, portrait: object, tmp_path: Path
) -> None:
    from PIL import Image

    image = portrait
    args = dict(save_args)
    if "upscale" in args:
        factor = int(args.pop("upscale"))  # type: ignore[call-overload]
        image = image.resize((image.width * factor, image.height * factor))  # type: ignore[attr-defined]
    if args.pop("mode", None) == "L":
        image = image.convert("L")  # type: ignore[attr-defined]
    path = tmp_path / "variant.jpg"
    image.save(path, "JPEG", quality=90, **args)  # type: ignore[attr-defined]
    got = decode(path, min_side)
    want = _reference(path, min_side)
    assert got.pixels.shape == want.shape and np.array_equal(got.pixels, want), label
    with Image.open(path) as img:
        assert got.original_size == img.size
        assert got.scale == img.width / want.shape[1]
