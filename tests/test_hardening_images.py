"""EPS content (from the photo folder, or from fal disguised as a PNG) never starts Ghostscript.

A fake `gs` on PATH writes a marker file when run. The test first shows that plain Pillow would run it on this
EPS file, then that nothing the server does with the same file does.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mcp import Client
from PIL import EpsImagePlugin, Image

from server.app import create_server
from server.config import Settings
from tests.fake_fal import FakeFal
from tests.fake_fal.server import _picture
from tests.helpers import call_ok

pytestmark = pytest.mark.anyio


def _eps() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "EPS")
    return out.getvalue()


@pytest.fixture
def ghostscript_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fake Ghostscript that leaves a marker when run; proven to be picked up by Pillow before it is yielded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "ghostscript-ran"
    gs = bin_dir / "gs"
    gs.write_text(f"#!/bin/sh\necho \"$@\" >> '{marker}'\nexit 0\n")
    gs.chmod(gs.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)
    eps = tmp_path / "canary.jpg"
    eps.write_bytes(_eps())
    with contextlib.suppress(Exception), Image.open(eps) as img:
        img.load()
    assert marker.exists(), "the canary: plain Image.open on this file runs gs"
    marker.unlink()
    EpsImagePlugin.gs_binary = None  # as if nothing had decided yet
    yield marker


async def test_an_eps_photo_in_the_folder_is_rejected_without_running_ghostscript(
    client: Client, tmp_path: Path, ghostscript_marker: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "portrait.jpg").write_bytes(_eps())
    for index in range(2):
        (folder / f"plain{index}.png").write_bytes(_picture(320, 320, index, "png"))
    args = {"folder": str(folder), "trigger_word": "SIDAI", "subject": "man", "resolution": 512, "dry_run": True}
    out = await call_ok(client, "prepare_dataset", args)
    row = next(r for r in out["images"] if r["file"] == "portrait.jpg")
    assert row["verdict"] == "reject" and any("not an image" in reason for reason in row["reasons"])
    assert not ghostscript_marker.exists()


async def test_an_eps_file_from_fal_is_saved_but_never_rendered(
    make_settings: Callable[..., Settings], fake_fal: FakeFal, ghostscript_marker: Path
) -> None:
    url = fake_fal.add_file("image.png", _eps(), "image/png")
    fake_fal.script("fal-ai/flux/dev", result=lambda job: {"images": [{"url": url}], "seed": 3})
    settings = make_settings()
    async with Client(create_server(settings), mode="legacy") as client:
        # Whether the answer reports the file as unreadable or fails is another matter; Ghostscript is not run.
        await client.call_tool(
            "execute_custom_model",
            {"endpoint": "fal-ai/flux/dev", "category_hint": "image", "input_params": {"prompt": "an apple"}},
        )
    saved = list(settings.outputs_dir.rglob("*.png"))
    assert saved and saved[0].read_bytes() == _eps(), "the file was downloaded and looked at"
    assert not ghostscript_marker.exists()
