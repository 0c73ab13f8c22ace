"""Generated files: find them in a fal result, name them readably, download them into the output dir.

Layout: `<outputs_dir>/<model or endpoint slug>/<YYYYMMDD>/<model>-v<N>_<scenario or prompt slug>_seed<seed>_<i>.<ext>`.
A name that is taken gets `-2`, `-3` … (the slot is reserved before the download, so concurrent items never clash).
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from server.fal_gateway import Download, FalError, file_name_from_url
from server.images import open_image
from tools.shared import slugify

# Where each output kind lives in fal results (first match wins), then any {url: ...} dict as a fallback.
RESULT_KEYS: dict[str, tuple[str, ...]] = {
    "image": ("images", "image"),
    "video": ("video", "videos"),
    "audio": ("audio", "audio_file", "audio_url", "audios"),
}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4", "audio/wav": "wav"}


@dataclass
class FoundFile:
    url: str
    content_type: str | None
    width: int | None
    height: int | None


def find_files(result: dict[str, Any], kind: str, fields: list[str] | None = None) -> list[FoundFile]:
    """The output files of a fal result, in order: the file fields its output schema names first."""
    for key in (*(fields or ()), *RESULT_KEYS.get(kind, ())):
        found = _as_files(result.get(key))
        if found:
            return found
    everything: list[FoundFile] = []
    for value in result.values():  # unknown endpoint shapes: every file-like object, top level first
        everything += _as_files(value)
    return everything


def _as_files(value: Any) -> list[FoundFile]:
    if isinstance(value, str) and value.startswith(("http://", "https://", "data:")):
        return [FoundFile(value, None, None, None)]
    if isinstance(value, dict) and isinstance(value.get("url"), str):
        return [
            FoundFile(
                value["url"],
                value.get("content_type"),
                _int(value.get("width")),
                _int(value.get("height")),
            )
        ]
    if isinstance(value, list):
        return [file for item in value for file in _as_files(item)]
    return []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def folder_for(outputs_dir: Path, *, model_name: str | None, endpoint: str, when: datetime | None = None) -> Path:
    day = (when or datetime.now(timezone.utc)).strftime("%Y%m%d")
    return outputs_dir / slugify(model_name or endpoint.replace("/", "-"), 60) / day


def base_name(
    *, model_name: str | None, version: int | None, endpoint: str, label: str, seed: int | None, lora: bool = True
) -> str:
    if model_name:
        who = f"{slugify(model_name, 40)}-v{version}" + ("" if lora else "-nolora")
    else:
        who = slugify(endpoint.split("/", 1)[-1], 40)
    seed_part = f"_seed{seed}" if seed is not None else ""
    return f"{who}_{slugify(label, 40)}{seed_part}"


def extension(url: str, content_type: str | None, kind: str) -> str:
    if content_type and content_type.split(";")[0] in EXTENSIONS:
        return EXTENSIONS[content_type.split(";")[0]]
    name = file_name_from_url(url, "")
    if "." in name:
        return name.rsplit(".", 1)[-1].lower()[:5]
    guessed = mimetypes.guess_extension(content_type or "") if content_type else None
    return (guessed or {"image": ".jpg", "video": ".mp4", "audio": ".wav"}.get(kind, ".bin")).lstrip(".")


def reserve(folder: Path, stem: str, ext: str) -> Path:
    """Claim a free file name by creating it empty; the download then replaces it atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        candidate = folder / (f"{stem}.{ext}" if attempt == 1 else f"{stem}-{attempt}.{ext}")
        try:
            fd = os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate
    raise FalError(f"No free file name for {stem}.{ext} in {folder}.")


async def download(fetch: Callable[[str, Path], Awaitable[Download]], url: str, dest: Path) -> tuple[Path, str | None]:
    """Download into a reserved slot with `fetch` (the job engine's, with a deadline); a failed slot is removed."""
    try:
        got = await fetch(url, dest)
    except BaseException:
        if dest.exists() and dest.stat().st_size == 0:
            dest.unlink()
        raise
    return got.path, got.content_type


def image_size_of(path: Path) -> tuple[int, int] | None:
    """(width, height) of an image file, or None if it is not an image this server reads."""
    try:
        with open_image(path) as img:
            return img.width, img.height
    except (OSError, ValueError):  # PIL's UnidentifiedImageError is an OSError
        return None
