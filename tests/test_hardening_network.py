"""Hostile answers from fal's side: the key stays with fal's hosts; downloads stay on its media hosts, in time and size.

A second fake server on another port plays the stranger: it is not the configured fal base URL, so it is not fal.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from server.fal_hosts import is_fal_media, may_carry_key
from tests.conftest import TEST_KEY
from tests.fake_fal import FakeFal
from tests.fake_fal.server import _picture, safetensors_bytes
from tests.helpers import call_ok

pytestmark = pytest.mark.anyio

ENDPOINT = "fal-ai/flux/dev"


def _auth_headers(fake: FakeFal, method: str | None = None) -> list[str | None]:
    return [
        next((v for k, v in r.headers.items() if k.lower() == "authorization"), None)
        for r in fake.requests
        if method is None or r.method == method
    ]


async def test_the_key_is_stripped_from_the_storage_fallbacks_upload_to_another_host(
    make_settings: Callable[..., Settings], fake_fal: FakeFal, tmp_path: Path
) -> None:
    lora = tmp_path / "style.safetensors"
    lora.write_bytes(safetensors_bytes("external", 4096))
    with FakeFal() as stranger:
        fake_fal.storage_elsewhere = stranger
        fake_fal.inject(r"^/cdn/files/upload$", "status", status=500, times=10)  # fal-client falls back to GCS
        async with Client(create_server(make_settings()), mode="legacy") as client:
            result = await call_ok(
                client,
                "manage_model",
                {"action": "register_external", "name": "ext-style", "lora_path": str(lora), "trigger_word": "XSTY"},
            )
    assert stranger.base in str(result), "the upload went through the fallback's foreign upload URL"
    puts = _auth_headers(stranger, "PUT")
    assert puts == [None], f"the foreign host saw Authorization headers: {puts}"
    (initiate,) = [r for r in fake_fal.requests if r.path == "/rest/storage/upload/initiate"]
    assert TEST_KEY in initiate.headers.get("Authorization", ""), "fal's own host still gets the key"


def test_which_hosts_get_the_key_and_which_files_are_fetched() -> None:
    base = "http://127.0.0.1:5000"
    assert may_carry_key("https://queue.fal.run/fal-ai/flux/dev") and may_carry_key("https://rest.fal.ai/storage")
    assert may_carry_key("http://127.0.0.1:5000/queue/x", base)
    for url in (
        "http://queue.fal.run/x",  # not https
        "https://storage.googleapis.com/upload?sig=1",
        "https://fal.run.evil.example/x",
        "https://evil.example/fal.run",
        "https://fal.run@evil.example/x",
        "http://127.0.0.1:5001/queue/x",  # the test base on another port is someone else
    ):
        assert not may_carry_key(url, base), url
    assert is_fal_media("https://v3b.fal.media/files/a.png") and is_fal_media(
        "https://storage.googleapis.com/falserverless/files/a.png"
    )
    for url in (
        "https://storage.googleapis.com/someone-else/a.png",
        "http://v3.fal.media/files/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "https://v3.fal.media.evil.example/a.png",
    ):
        assert not is_fal_media(url, base), url


def _png(seed: int = 1) -> bytes:
    return _picture(64, 48, seed, "png")


def _image_result(url: str) -> Callable[[Any], dict[str, Any]]:
    return lambda job: {"images": [{"url": url, "content_type": "image/png"}], "seed": 7}


async def _generate(settings: Settings) -> dict[str, Any]:
    async with Client(create_server(settings), mode="legacy") as client:
        result = await call_ok(
            client,
            "execute_custom_model",
            {"endpoint": ENDPOINT, "category_hint": "image", "input_params": {"prompt": "a red apple"}},
        )
    (generation,) = result["generations"]
    return generation


async def test_a_result_file_on_a_foreign_host_is_not_fetched(
    make_settings: Callable[..., Settings], fake_fal: FakeFal
) -> None:
    with FakeFal() as stranger:
        url = stranger.add_file("image.png", b"\x89PNG not really", "image/png")
        fake_fal.script(ENDPOINT, result=_image_result(url))
        out = await _generate(make_settings())
    assert stranger.requests == []
    assert out["files"][0]["path"] == "" and "Refusing to download" in out["error"]


async def test_a_redirect_is_followed_only_to_fal_media_hosts(
    make_settings: Callable[..., Settings], fake_fal: FakeFal
) -> None:
    with FakeFal() as stranger:
        elsewhere = stranger.add_file("image.png", b"\x89PNG not really", "image/png")
        url = fake_fal.add_file("image.png", b"\x89PNG not really", "image/png")
        fake_fal.inject(r"^/files/", "redirect", method="GET", status=302, body=elsewhere)
        fake_fal.script(ENDPOINT, result=_image_result(url))
        out = await _generate(make_settings())
    assert stranger.requests == []
    assert out["files"][0]["path"] == "" and "a redirect from" in out["error"]


async def test_a_redirect_within_fal_is_followed(make_settings: Callable[..., Settings], fake_fal: FakeFal) -> None:
    target = fake_fal.add_file("real.png", _png(), "image/png")
    url = fake_fal.base + "/files/moved/image.png"
    fake_fal.inject(r"^/files/moved/", "redirect", method="GET", status=307, body=target)
    fake_fal.script(ENDPOINT, result=_image_result(url))
    out = await _generate(make_settings())
    assert Path(out["files"][0]["path"]).read_bytes() == _png()


async def test_a_trickling_download_is_cut_at_its_deadline(
    make_settings: Callable[..., Settings], fake_fal: FakeFal
) -> None:
    url = fake_fal.add_file("image.png", os.urandom(4096), "image/png")
    fake_fal.inject(r"^/files/", "trickle", method="GET", delay=0.05, times=10)
    fake_fal.script(ENDPOINT, result=_image_result(url))
    out = await _generate(make_settings(download_deadline_seconds=1.0))
    assert out["status"] == "completed" and out["files"][0]["path"] == ""
    assert "did not finish within 1 s" in out["error"]
    folder = Path(make_settings().outputs_dir)
    assert not [p for p in folder.rglob("*") if p.is_file()], "nothing partial is left behind"


@pytest.mark.parametrize("style", ["announced", "unannounced"])
async def test_a_file_over_the_size_cap_is_refused(
    make_settings: Callable[..., Settings], fake_fal: FakeFal, style: str
) -> None:
    url = fake_fal.add_file("image.png", os.urandom(64 * 1024), "image/png")
    if style == "unannounced":
        fake_fal.inject(r"^/files/", "unannounced", method="GET", times=10)
    fake_fal.script(ENDPOINT, result=_image_result(url))
    out = await _generate(make_settings(max_download_mb=0.01))
    assert out["files"][0]["path"] == "" and "byte limit" in out["error"]
