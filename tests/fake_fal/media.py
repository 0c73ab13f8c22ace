"""Real, small video files for the fake's video endpoints: MPEG-4 Part 2 in an MP4 box, written by OpenCV.

The clip has the duration, fps and aspect ratio the request asked for (fps capped at 30, length at 15 s) but
stays tiny: 320 px on the long side, simple content, a few KB per second. Each frame moves a disc across a seeded
background, so frames differ and a preview strip shows motion.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from typing import Any

LONG_SIDE = 320
DEFAULT_SECONDS = 5.0
DEFAULT_FPS = 16.0
MAX_SECONDS = 15.0
MAX_FPS = 30.0
ASPECTS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4), "21:9": (21, 9)}
VIDEO_SIZES = {  # fal's image_size / video_size presets
    "square_hd": (1, 1),
    "square": (1, 1),
    "portrait_4_3": (3, 4),
    "portrait_16_9": (9, 16),
    "landscape_4_3": (4, 3),
    "landscape_16_9": (16, 9),
}


def video_for_input(data: dict[str, Any], seed: int | None) -> bytes:
    """An MP4 shaped by a video request body (duration / num_frames, fps, aspect ratio or video size)."""
    fps = min(_number(data.get("frames_per_second") or data.get("fps")) or DEFAULT_FPS, MAX_FPS)
    seconds = _seconds(data, fps)
    width, height = _frame_size(data)
    return mp4_bytes(width, height, seconds=seconds, fps=fps, seed=seed)


def mp4_bytes(width: int, height: int, *, seconds: float, fps: float, seed: int | None) -> bytes:
    """Write a clip with OpenCV's VideoWriter and return the file's bytes."""
    import cv2
    import numpy as np

    frames = max(2, round(seconds * fps))
    rnd = random.Random(seed)
    background = tuple(rnd.randint(40, 200) for _ in range(3))
    disc = tuple(255 - c for c in background)
    radius = max(4, min(width, height) // 6)
    handle, path = tempfile.mkstemp(suffix=".mp4", prefix="fake-fal-")
    os.close(handle)
    try:
        writer = cv2.VideoWriter(path, cv2.VideoWriter.fourcc(*"mp4v"), float(fps), (width, height))
        if not writer.isOpened():
            raise RuntimeError("OpenCV cannot write mp4v video here (no FFmpeg backend?)")
        try:
            canvas = np.empty((height, width, 3), np.uint8)
            for index in range(frames):
                canvas[:] = background
                x = radius + (width - 2 * radius) * index // max(frames - 1, 1)
                cv2.circle(canvas, (x, height // 2), radius, disc, -1)
                writer.write(canvas)
        finally:
            writer.release()
        with open(path, "rb") as clip:
            return clip.read()
    finally:
        os.unlink(path)


def _seconds(data: dict[str, Any], fps: float) -> float:
    duration = data.get("duration")
    if isinstance(duration, str):
        match = re.match(r"^\s*(\d+(?:\.\d+)?)", duration)
        duration = float(match.group(1)) if match else None
    value = _number(duration)
    if value is None and _number(data.get("num_frames")):
        value = float(data["num_frames"]) / fps
    return min(max(value or DEFAULT_SECONDS, 0.5), MAX_SECONDS)


def _frame_size(data: dict[str, Any]) -> tuple[int, int]:
    ratio = ASPECTS.get(str(data.get("aspect_ratio")))
    size = data.get("video_size") or data.get("image_size")
    if ratio is None and isinstance(size, dict) and _number(size.get("width")) and _number(size.get("height")):
        ratio = (int(size["width"]), int(size["height"]))
    if ratio is None and isinstance(size, str):
        ratio = VIDEO_SIZES.get(size)
    across, down = ratio or ASPECTS["16:9"]
    scale = LONG_SIDE / max(across, down)
    return _even(across * scale), _even(down * scale)


def _even(value: float) -> int:
    return max(16, int(value) // 2 * 2)  # MPEG-4 encoders want even sides


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value > 0 else None
