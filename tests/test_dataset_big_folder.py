"""A folder at the size limit: every photo still gets a verdict and the result stays under the hosts' 1 MB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

pytestmark = pytest.mark.anyio

PHOTOS = 500  # scan_folder's limit
OTHER_FILES = 300


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """500 small, smooth photos (fast to check, few keypoints: no O(n²) ORB work) with long names, plus clutter."""
    import cv2
    import numpy as np

    root = tmp_path_factory.mktemp("big") / "camera-roll"
    root.mkdir()
    rng = np.random.default_rng(3)
    for i in range(PHOTOS):
        corners = rng.integers(0, 256, (2, 2, 3)).astype(np.uint8)
        image = cv2.resize(corners, (320, 240), interpolation=cv2.INTER_LINEAR)
        name = f"summer-holiday-2026-beach-and-mountains-{i:04d}.jpg"
        cv2.imwrite(str(root / name), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    for i in range(OTHER_FILES):
        (root / f"notes-{i:04d}.txt").write_text("not a photo")
    return root


async def test_every_photo_gets_a_row_and_the_result_stays_under_one_megabyte(client: Client, big_folder: Path) -> None:
    result = await client.call_tool(
        "prepare_dataset", {"folder": str(big_folder), "trigger_word": "SIDAI", "dry_run": True, "wait_seconds": 30}
    )
    out = result.structured_content
    assert out is not None and not result.is_error
    while out["status"] == "running":  # a slow machine: follow the run like an agent would
        result = await client.call_tool("dataset_status", {"run_id": out["run_id"]})
        out = result.structured_content
        assert out is not None and not result.is_error
    text = sum(len(block.text) for block in result.content if block.type == "text")
    images = sum(len(block.data) for block in result.content if block.type == "image")
    size = text + images + len(json.dumps(out))
    assert size < 1_000_000, f"{size} bytes: text {text}, preview {images}"
    rows = out["images"]
    assert len(rows) == PHOTOS and all(r["verdict"] == "reject" and r["reasons"] for r in rows)
    assert all(r["file"].startswith("summer-holiday-2026") for r in rows)
    assert out["report"]["rejected"] == PHOTOS
    note = out["images_note"]
    assert note and "1 MB" in note and f"check-dataset {big_folder} --json" in note, note
    # the clutter is counted, not listed in full
    ignored = out["ignored_files"]
    assert len(ignored) == 51 and ignored[-1] == f"... and {OTHER_FILES - 50} more"
