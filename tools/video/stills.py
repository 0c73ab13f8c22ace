"""The start image of a clip: a local picture the person named, read-only, measured before anything is uploaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from server.errors import InvalidInput
from server.images import open_image

STILL_FORMATS = ("JPEG", "PNG", "WEBP")  # what fal's video endpoints take as a start image
STILL_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
EXIF_ORIENTATION = 0x0112
ROTATED = (5, 6, 7, 8)


@dataclass(frozen=True)
class Still:
    path: Path
    width: int
    height: int
    size_bytes: int


def local_still(raw: str) -> Still:
    """Measure a local image without changing it; refuses what is not a JPEG, PNG or WebP file."""
    from PIL import UnidentifiedImageError

    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise InvalidInput(f"image {raw!r} is not an absolute path: give the full path of a JPEG, PNG or WebP file")
    if not path.is_file():
        raise InvalidInput(f"image {raw!r} does not exist or is not a file: give the full path of a picture")
    if path.suffix.lower() not in STILL_SUFFIXES:
        raise InvalidInput(f"image {path.name!r} is not a .jpg, .png or .webp file: convert it to JPEG first")
    try:
        with open_image(path, STILL_FORMATS) as image:
            image.verify()  # a damaged file is refused here, before it could be uploaded
        with open_image(path, STILL_FORMATS) as image:  # verify() leaves the image unusable: open it again
            width, height = image.size
            if image.getexif().get(EXIF_ORIENTATION) in ROTATED:  # shown turned by a quarter: sides swap
                width, height = height, width
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput(f"image {path.name!r} cannot be read as JPEG, PNG or WebP ({exc}): save it again") from None
    return Still(path, width, height, path.stat().st_size)
