"""The fake fal's clips are real videos OpenCV reads; the preview is a poster over a strip, well under 1 MB."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from server.video_previews import VideoUnreadable, _scan_frames, video_preview
from tests.conftest import TEST_KEY
from tests.fake_fal import FakeFal
from tests.fake_fal.media import mp4_bytes


def test_fake_fal_answers_a_video_request_with_a_real_clip(fake_fal: FakeFal, tmp_path: Path) -> None:
    headers = {"Authorization": f"Key {TEST_KEY}"}
    endpoint = "fal-ai/kling-video/v2.5-turbo/pro/image-to-video"
    body = {"prompt": "waves", "image_url": fake_fal.base + "/files/x/still.jpg", "duration": "10"}
    with httpx.Client(base_url=fake_fal.base, headers=headers) as http:
        queued = http.post(f"/queue/{endpoint}", json=body).json()
        fake_fal.finish(queued["request_id"])
        assert http.get(queued["status_url"]).json()["status"] == "COMPLETED"
        result = http.get(queued["response_url"]).json()
        clip = http.get(result["video"]["url"])
    assert clip.headers["content-type"] == "video/mp4" and len(clip.content) < 200_000
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip.content)
    preview = video_preview(path)
    assert preview.facts.duration_seconds == pytest.approx(10.0)
    assert (preview.facts.fps, preview.facts.width, preview.facts.height) == (16.0, 320, 180)


def test_preview_is_a_poster_over_a_strip(tmp_path: Path) -> None:
    path = tmp_path / "portrait.mp4"
    path.write_bytes(mp4_bytes(180, 320, seconds=3, fps=24, seed=1))
    preview = video_preview(path, strip_frames=4)
    assert preview.facts.frame_count == 72 and preview.facts.duration_seconds == 3.0
    with Image.open(io.BytesIO(preview.jpeg), formats=["JPEG"]) as image:
        width, height = image.size
    assert width == 180  # never wider than the clip
    assert 320 < height < 320 + 100  # the poster at full size, then a strip of four small frames
    assert len(preview.jpeg) < 100_000


def test_sequential_reading_when_the_frame_count_is_unknown(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4_bytes(64, 48, seconds=5, fps=20, seed=2))
    capture = cv2.VideoCapture(str(path))
    try:
        picked = _scan_frames(capture, 6)
    finally:
        capture.release()
    indices = [index for index, _ in picked]
    assert indices[0] == 0 and len(indices) == 6 and indices == sorted(set(indices)) and indices[-1] >= 90


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-video.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2048))
    with pytest.raises(VideoUnreadable, match=r"not-a-video\.mp4"):
        video_preview(path)
