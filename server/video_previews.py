"""What a saved clip looks like in chat: its facts (duration, fps, resolution) and one small preview image.

Frames are read with OpenCV's video support (FFmpeg inside opencv-python-headless). The preview is one JPEG: the
poster frame on top, a strip of frames spread over the clip below it, a few tens of KB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

POSTER_SIDE = 480  # the poster fits in this square; the strip is as wide as the poster
STRIP_FRAMES = 5
PREVIEW_QUALITY = 75
GAP = 4


class VideoUnreadable(Exception):
    """OpenCV could not open the file or decode any frame from it."""


@dataclass(frozen=True)
class VideoFacts:
    width: int
    height: int
    fps: float | None  # None: the container does not say
    frame_count: int
    duration_seconds: float | None


@dataclass(frozen=True)
class VideoPreview:
    facts: VideoFacts
    jpeg: bytes  # poster frame over a strip of frames


def video_preview(path: Path, *, strip_frames: int = STRIP_FRAMES, poster_side: int = POSTER_SIDE) -> VideoPreview:
    """Read `path` once: its facts and the poster + strip preview. Raises VideoUnreadable."""
    import cv2

    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise VideoUnreadable(f"{path.name} is not a video OpenCV can open")
        fps = capture.get(cv2.CAP_PROP_FPS)
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        frames = _spread_frames(capture, declared, strip_frames + 1)
    finally:
        capture.release()
    if not frames:
        raise VideoUnreadable(f"{path.name} has no frame OpenCV can decode")
    frame_count = max(declared, frames[-1][0] + 1)
    height, width = frames[0][1].shape[:2]
    fps_known = float(fps) if fps and fps > 0 else None
    facts = VideoFacts(
        width=width,
        height=height,
        fps=round(fps_known, 3) if fps_known else None,
        frame_count=frame_count,
        duration_seconds=round(frame_count / fps_known, 3) if fps_known else None,
    )
    poster = frames[0][1]
    strip = [frame for _, frame in frames[1:]] or [poster]
    return VideoPreview(facts, _compose(poster, strip, poster_side))


def _spread_frames(capture: Any, declared: int, wanted: int) -> list[tuple[int, Any]]:
    """(index, frame) for the first frame and `wanted - 1` more spread evenly to the last one."""
    import cv2

    if declared >= wanted:
        picked = _seek_frames(capture, _spread(declared, wanted))
        if picked:
            return picked
        capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return _scan_frames(capture, wanted)  # the container does not say how many frames it has, or seeking failed


def _spread(count: int, wanted: int) -> list[int]:
    if wanted <= 1 or count <= 1:
        return [0]
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def _seek_frames(capture: Any, indices: list[int]) -> list[tuple[int, Any]] | None:
    import cv2

    picked = []
    for index in indices:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        if not ok:
            return None
        picked.append((index, frame))
    return picked


def _scan_frames(capture: Any, wanted: int) -> list[tuple[int, Any]]:
    """One sequential pass keeping an evenly thinned sample of at most 2 × `wanted` frames in memory."""
    kept: list[tuple[int, Any]] = []
    stride = 1
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % stride == 0:
            kept.append((index, frame))
            if len(kept) >= 2 * wanted:
                kept = kept[::2]
                stride *= 2
        index += 1
    return [kept[i] for i in _spread(len(kept), min(wanted, len(kept)))] if kept else []


def _compose(poster: Any, strip: list[Any], side: int) -> bytes:
    import cv2
    import numpy as np

    height, frame_width = poster.shape[:2]
    width = max(64, min(frame_width, side, round(side * frame_width / height)))
    top = _resize(poster, width, round(height * width / frame_width))
    cell_width = (width - GAP * (len(strip) - 1)) // len(strip)
    cell_height = max(1, round(height * cell_width / frame_width))
    row = np.full((cell_height, width, 3), 255, np.uint8)
    for position, frame in enumerate(strip):
        x = position * (cell_width + GAP)
        row[:, x : x + cell_width] = _resize(frame, cell_width, cell_height)
    gap = np.full((GAP, width, 3), 255, np.uint8)
    ok, encoded = cv2.imencode(".jpg", np.vstack([top, gap, row]), [cv2.IMWRITE_JPEG_QUALITY, PREVIEW_QUALITY])
    if not ok:
        raise VideoUnreadable("OpenCV could not encode the preview")
    return bytes(encoded)


def _resize(frame: Any, width: int, height: int) -> Any:
    import cv2

    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
