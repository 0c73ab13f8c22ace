"""The one way this project opens an image: only the formats it reads, never a plugin that runs a program.

Pillow picks a decoder from the file's content, not its name: an EPS file named photo.jpg would be handed to
the EPS plugin, which runs Ghostscript (with this process's environment, FAL_KEY included). Every open names
the formats it accepts, and Ghostscript is switched off as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

# Photos and generated images. HEIF comes from pillow-heif's opener once registered; AVIF is Pillow's own
# (11.3+). MPO is how Pillow names many phone JPEGs.
IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "HEIF", "AVIF", "GIF", "BMP", "TIFF")


def open_image(path: Path | IO[bytes], formats: tuple[str, ...] = IMAGE_FORMATS) -> Image.Image:
    """`Image.open` restricted to `formats`; raises `PIL.UnidentifiedImageError` (an OSError) for anything else."""
    from PIL import EpsImagePlugin, Image

    EpsImagePlugin.gs_binary = False  # never run Ghostscript, whatever opens an image
    Image.init()
    return Image.open(path, formats=[name for name in formats if name in Image.OPEN])
