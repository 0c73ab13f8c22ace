"""Small pictures for chat: thumbnails and labelled contact sheets.

Hosts reject tool results over 1 MB, so everything returned inline comes from here and stays small.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from server.images import open_image

THUMBNAIL_SIDE = 256
THUMBNAIL_QUALITY = 70
INLINE_BUDGET_BYTES = 600_000  # all inline images of one result together


@dataclass
class SheetCell:
    image: Path | None  # None → an empty cell with only its label (e.g. a failed generation)
    label: str
    verdict: str | None = None  # ok | warn | reject → coloured frame
    thumbnail: bytes | None = None  # an encoded image already small and upright: used instead of opening `image`


VERDICT_COLOURS = {"ok": (46, 160, 67), "warn": (230, 160, 20), "reject": (210, 40, 40)}


def thumbnail_jpeg(path: Path, side: int = THUMBNAIL_SIDE, quality: int = THUMBNAIL_QUALITY) -> bytes:
    """A JPEG no larger than `side` px on its long side (decoded at reduced size where the format allows)."""
    from PIL import ImageOps

    with open_image(path) as img:
        img.draft("RGB", (side * 2, side * 2))
        img = ImageOps.exif_transpose(img).convert("RGB")
        img.thumbnail((side, side))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def thumbnails_within_budget(paths: Sequence[Path], budget: int = INLINE_BUDGET_BYTES) -> list[bytes]:
    """Thumbnails for as many of `paths` as fit in `budget` bytes, shrinking them if needed.

    A file that cannot be read as an image is skipped: one bad output must not spoil the answer about the others.
    """
    readable = [path for path in paths if _thumbnail_or_none(path, 64) is not None]
    side = THUMBNAIL_SIDE
    while side >= 64:
        thumbs = [thumbnail_jpeg(p, side) for p in readable]
        if sum(len(t) for t in thumbs) <= budget:
            return thumbs
        side //= 2
    kept: list[bytes] = []
    for path in readable:
        thumb = thumbnail_jpeg(path, 64)
        if sum(len(t) for t in kept) + len(thumb) > budget:
            break
        kept.append(thumb)
    return kept


def _thumbnail_or_none(path: Path, side: int) -> bytes | None:
    from PIL import UnidentifiedImageError

    try:
        return thumbnail_jpeg(path, side)
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def contact_sheet(
    cells: Sequence[SheetCell],
    dest: Path,
    *,
    columns: int | None = None,
    cell_side: int = 192,
    title: str | None = None,
    row_labels: Sequence[str] | None = None,
    label_lines: int = 2,
) -> tuple[int, int]:
    """Write a labelled grid PNG to `dest`; returns (columns, rows)."""
    import math

    from PIL import Image, ImageDraw, ImageFont, ImageOps

    count = max(len(cells), 1)
    columns = columns or min(count, max(1, math.ceil(math.sqrt(count))))
    rows = math.ceil(count / columns)
    label_h = 4 + 12 * label_lines
    pad = 6
    left = 0
    font = ImageFont.load_default()
    if row_labels:
        left = 12 + max(int(font.getlength(label)) for label in row_labels)
    top = 30 if title else 0
    width = left + columns * (cell_side + pad) + pad
    height = top + rows * (cell_side + label_h + pad) + pad
    sheet = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, 8), title, fill=(20, 20, 20), font=font)
    for index, cell in enumerate(cells):
        row, col = divmod(index, columns)
        x = left + pad + col * (cell_side + pad)
        y = top + pad + row * (cell_side + label_h + pad)
        frame = VERDICT_COLOURS.get(cell.verdict or "", (200, 200, 200))
        draw.rectangle((x - 3, y - 3, x + cell_side + 2, y + cell_side + 2), outline=frame, width=3)
        source = _cell_source(cell)
        if source is not None:
            try:
                with open_image(source) as img:
                    img.draft("RGB", (cell_side * 2, cell_side * 2))
                    tile = ImageOps.exif_transpose(img).convert("RGB")
                    tile.thumbnail((cell_side, cell_side))
                    sheet.paste(tile, (x + (cell_side - tile.width) // 2, y + (cell_side - tile.height) // 2))
            except OSError:
                draw.text((x + 8, y + cell_side // 2), "unreadable", fill=(150, 0, 0), font=font)
        else:
            draw.text((x + 8, y + cell_side // 2), "no image", fill=(120, 120, 120), font=font)
        for line_no, line in enumerate(_wrap(cell.label, font, cell_side)[:label_lines]):
            draw.text((x, y + cell_side + 3 + line_no * 12), line, fill=(30, 30, 30), font=font)
    if row_labels:
        for row, label in enumerate(row_labels[:rows]):
            y = top + pad + row * (cell_side + label_h + pad) + cell_side // 2
            draw.text((6, y), label, fill=(20, 20, 20), font=font)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(dest, "PNG", compress_level=3)  # optimize=True took 8.7 s for a 400-photo sheet, this 1.3 s (+12 %)
    return columns, rows


def _cell_source(cell: SheetCell) -> io.BytesIO | Path | None:
    if cell.thumbnail:
        return io.BytesIO(cell.thumbnail)
    return cell.image if cell.image is not None and cell.image.exists() else None


def _wrap(text: str, font: object, width: int) -> list[str]:
    words, lines, current = text.split(), [], ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if font.getlength(candidate) <= width or not current:  # type: ignore[attr-defined]
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines
