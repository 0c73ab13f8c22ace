"""A finished clip kept locally: found in fal's result, saved under a readable name, measured and previewed.

`<outputs>/<model or endpoint>/<YYYYMMDD>/<model>-v<N>_<motion slug>_<seconds>s.mp4`, with the preview beside it
as `<same stem>.preview.jpg` so a later status call can show it again without decoding the clip.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread

from server.video_previews import VideoFacts, VideoUnreadable, video_preview
from tools.generation import outputs

PREVIEW_SUFFIX = ".preview.jpg"
Downloader = Callable[[str, Path], Awaitable[tuple[Path, str | None]]]


class NoClip(Exception):
    """fal's result names no video file."""


@dataclass(frozen=True)
class SavedClip:
    path: Path
    url: str
    content_type: str | None
    facts: VideoFacts | None
    preview: bytes | None
    note: str | None  # why facts/preview are missing


def clip_url(result: dict[str, Any]) -> outputs.FoundFile:
    found = outputs.find_files(result, "video")
    if not found:
        raise NoClip("fal finished but its result names no video file")
    return found[0]


def clip_stem(
    *, model_name: str | None, model_version: int | None, endpoint: str, motion: str, seconds: float | None
) -> str:
    stem = outputs.base_name(model_name=model_name, version=model_version, endpoint=endpoint, label=motion, seed=None)
    return f"{stem}_{seconds:g}s" if seconds else stem


async def save_clip(
    download: Downloader,
    outputs_dir: Path,
    result: dict[str, Any],
    *,
    model_name: str | None,
    model_version: int | None,
    endpoint: str,
    motion: str,
    seconds: float | None,
    existing: str | None = None,
) -> SavedClip:
    """Download the clip (unless `existing` already holds it) and preview it. Download errors propagate."""
    found = clip_url(result)
    if existing and Path(existing).is_file():
        path, content_type = Path(existing), found.content_type
    else:
        folder = outputs.folder_for(outputs_dir, model_name=model_name, endpoint=endpoint)
        stem = clip_stem(
            model_name=model_name, model_version=model_version, endpoint=endpoint, motion=motion, seconds=seconds
        )
        dest = outputs.reserve(folder, stem, outputs.extension(found.url, found.content_type, "video"))
        path, got_type = await download(found.url, dest)
        content_type = found.content_type or got_type
    try:
        preview = await anyio.to_thread.run_sync(video_preview, path)
    except VideoUnreadable as exc:
        return SavedClip(path, found.url, content_type, None, None, f"saved, but no preview: {exc}")
    preview_path(path).write_bytes(preview.jpeg)
    return SavedClip(path, found.url, content_type, preview.facts, preview.jpeg, None)


def preview_path(clip: Path) -> Path:
    return clip.with_name(clip.stem + PREVIEW_SUFFIX)


def stored_preview(clip: str | None) -> bytes | None:
    """The preview saved beside a clip, if it is still there."""
    if not clip:
        return None
    path = preview_path(Path(clip))
    return path.read_bytes() if path.is_file() else None
