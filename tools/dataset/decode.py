"""Decode a photo once, upright, in sRGB, at the smallest size that still serves the requested output side.

JPEG "draft" decoding (DCT scaling 1/2, 1/4, 1/8) is what keeps a 12 MP folder inside the tool's time budget:
the pixels we never need are never decoded. Pillow reads every header (format, size, EXIF orientation, ICC
profile); plain sRGB JPEGs are then decoded by OpenCV straight into a numpy array (the same libjpeg-turbo, the same
pixels, without the ~5 ms copy out of a Pillow image), everything else by Pillow.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.images import open_image
from tools.dataset.pool import MemoryBudget

_HEIF_READY = False
DRAFTABLE = ("JPEG", "MPO")  # decoded at 1/2, 1/4 or 1/8 scale straight from the file
MAX_DECODED_PIXELS = 24_000_000  # what decode hands back; a 1024 px crop never needs more
MAX_FULL_DECODE_PIXELS = 50_000_000  # PNG, WebP, HEIC, AVIF: decoded whole before any reduction (48 MP phones fit)
BYTES_PER_PIXEL = 8  # a full decode's peak: Pillow's 4 bytes a pixel, plus a conversion or the decoder's buffer
# Bytes of decoded pixels all worker threads may hold at once; a larger photo waits until it decodes alone.
DECODE_BUDGET = MemoryBudget(400 * 10**6)


class DecodeError(Exception):
    """A per-image failure with a human reason (becomes a reject, never a crash)."""


@dataclass
class Decoded:
    pixels: Any  # numpy uint8 (h, w, 3), RGB, upright, sRGB
    original_size: tuple[int, int]  # upright width, height of the file at full resolution
    scale: float  # original px per decoded px (1.0 = full resolution)
    file_format: str


def _register_heif() -> None:
    global _HEIF_READY
    from PIL import Image

    if not _HEIF_READY:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _HEIF_READY = True
    # Pillow only warns between 1x and 2x its pixel limit; make that an error (process-wide: a per-call
    # warnings.catch_warnings is not thread-safe, and we decode in a thread pool). Idempotent, so re-applied
    # in case something reset the filters.
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def decode(path: Path, min_short_side: int) -> Decoded:
    """Open `path` and return it decoded with its short side >= `min_short_side` where the format allows, and never
    more than MAX_DECODED_PIXELS: what a worker holds while it analyses and crops a photo stays bounded."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_heif()
    try:
        size = path.stat().st_size
        if size == 0:
            raise DecodeError("empty file (0 bytes)")
        img = open_image(path)
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError(f"too many pixels to open safely, possible decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        from PIL import features

        if path.suffix.lower() == ".avif" and not features.check("avif"):
            raise DecodeError("AVIF needs a Pillow with AVIF support: pip install -U 'pillow>=11.3'") from exc
        raise DecodeError("not an image (or a format we cannot read)") from exc
    except OSError as exc:
        raise DecodeError(f"cannot be read ({exc})") from exc
    try:
        with img:
            width, height = img.size  # from the header: nothing is decoded yet
            _refuse_oversized(img.format, width, height)
            file_format = img.format or path.suffix.lstrip(".").upper()
            reduction = 1
            jpeg = img.format in DRAFTABLE
            if jpeg:
                reduction = max(_power_of_two(width, height, min_short_side), _cap_reduction(width * height, 8))
                if reduction > 1:
                    img.draft("RGB", (width // reduction, height // reduction))
                    reduction = round(width / img.size[0])  # the draft's DCT scale: 1, 2, 4 or 8
            decoded_pixels = img.size[0] * img.size[1]
            # Whole-file formats are decoded in full, then reduced: those pixels must fit the shared budget first.
            cost = decoded_pixels * BYTES_PER_PIXEL + size
            icc = img.info.get("icc_profile")
            orientation = img.getexif().get(0x0112, 1)
            turned = orientation in (5, 6, 7, 8)
            original = (height, width) if turned else (width, height)
            plain = jpeg and img.mode in ("RGB", "L") and reduction in _REDUCED
            with DECODE_BUDGET.hold(cost):
                if plain and (not icc or _is_srgb(icc)):
                    pixels = _decode_jpeg(path, reduction)
                    if pixels is not None:  # None: OpenCV refused the data; Pillow decodes it or says what is wrong
                        return Decoded(_upright(pixels, orientation), original, reduction, file_format)
                img.load()
                loaded = _reduced(img, _cap_reduction(decoded_pixels, 1 << 30))
                decoded_w = loaded.size[0]
                upright = ImageOps.exif_transpose(loaded, in_place=True) or loaded
                rgb = _to_srgb(upright, icc)
                pixels = np.asarray(rgb)
    except DecodeError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:  # truncated data, broken chunks, bad EXIF
        raise DecodeError(f"damaged or truncated file ({exc})") from exc
    return Decoded(pixels, original, width / decoded_w, file_format)


def _refuse_oversized(file_format: str | None, width: int, height: int) -> None:
    from PIL import Image

    pixels = width * height
    limit = Image.MAX_IMAGE_PIXELS or MAX_DECODED_PIXELS * 4
    if pixels > limit:
        raise DecodeError(
            f"too many pixels: {width}x{height} is {pixels / 1e6:.0f} megapixels, over the limit of "
            f"{limit / 1e6:.0f} MP (possible decompression bomb)"
        )
    if file_format not in DRAFTABLE and pixels > MAX_FULL_DECODE_PIXELS:
        raise DecodeError(
            f"too large to decode safely: this {file_format} is {width}x{height} ({pixels / 1e6:.0f} MP), over the "
            f"{MAX_FULL_DECODE_PIXELS / 1e6:.0f} MP limit for formats read in full (JPEG is read at reduced size). "
            "Save a smaller copy (12 MP is plenty for training) or a JPEG."
        )


def _power_of_two(width: int, height: int, min_short_side: int) -> int:
    """The largest DCT scale (1, 2, 4, 8) that keeps the short side >= `min_short_side`, as Pillow's draft picks it."""
    short = min(width, height)
    if short <= min_short_side:
        return 1
    factor = min_short_side / short
    fits = min(width // math.ceil(width * factor), height // math.ceil(height * factor))
    return max(scale for scale in (1, 2, 4, 8) if scale <= fits)


def _cap_reduction(pixels: int, most: int) -> int:
    """The smallest power-of-two reduction (at most `most`) that brings `pixels` to MAX_DECODED_PIXELS or under."""
    step = 1
    while pixels / (step * step) > MAX_DECODED_PIXELS and step * 2 <= most:
        step *= 2
    return step


def _reduced(img: Any, step: int) -> Any:
    """Box-reduce a loaded image by `step`, freeing the full-size pixels (palette and 16-bit modes converted first)."""
    if step == 1:
        return img
    reducible = img
    if img.mode not in ("RGB", "RGBA", "L", "LA", "CMYK", "I", "F"):
        reducible = img.convert("RGBA" if img.mode in ("P", "PA") or "transparency" in img.info else "RGB")
    reduced = reducible.reduce(step)
    reducible.close()
    img.close()  # frees the full-size pixels now, not when the caller's `with` ends
    return reduced


_REDUCED = {1: 0, 2: 16, 4: 32, 8: 64}  # OpenCV's IMREAD_REDUCED_* scale bits


def _decode_jpeg(path: Path, reduction: int) -> Any | None:
    import cv2
    import numpy as np

    flags = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION | _REDUCED[reduction]
    try:
        return cv2.imdecode(np.fromfile(path, dtype=np.uint8), flags)
    except cv2.error:
        return None


def _upright(pixels: Any, orientation: int) -> Any:
    """Apply an EXIF orientation (1-8) to an (h, w, 3) array, as Pillow's exif_transpose does."""
    import cv2
    import numpy as np

    if orientation == 2:
        return cv2.flip(pixels, 1)
    if orientation == 3:
        return cv2.rotate(pixels, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(pixels, 0)
    if orientation == 5:
        return np.ascontiguousarray(pixels.transpose(1, 0, 2))
    if orientation == 6:
        return cv2.rotate(pixels, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return np.ascontiguousarray(pixels[::-1, ::-1].transpose(1, 0, 2))
    if orientation == 8:
        return cv2.rotate(pixels, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return pixels


@functools.lru_cache(maxsize=32)
def _is_srgb(icc: bytes) -> bool:
    """Whether an embedded ICC profile is sRGB already (most phones' JPEGs): no conversion needed."""
    try:
        from PIL import ImageCms

        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except Exception:
        return False
    return "srgb" in description.lower().replace(" ", "")


def _to_srgb(img: Any, icc: bytes | None) -> Any:
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        img = flat
    elif img.mode == "I;16" or img.mode == "I":
        img = img.point(lambda v: v / 256).convert("L")
    if icc and img.mode in ("RGB", "CMYK", "L") and not (img.mode != "CMYK" and _is_srgb(icc)):
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(img, source, srgb, outputMode="RGB")
        except Exception:  # a broken profile must not lose the photo: fall back to the raw values
            pass
    return img if img.mode == "RGB" else img.convert("RGB")
