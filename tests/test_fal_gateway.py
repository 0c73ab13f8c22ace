"""The fal gateway drives the real fal-client against the protocol-level fake fal."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from server.config import Settings
from server.fal_gateway import FalError, FalGateway
from server.storage import Store
from tests.fake_fal import FakeFal

pytestmark = pytest.mark.anyio


def _zip_with_images(path: Path, count: int) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(count):
            archive.writestr(f"{index:03d}.jpg", b"\xff\xd8\xff" + bytes(100))
            archive.writestr(f"{index:03d}.txt", "photo of TOK")
    return path


async def _poll_until_done(gateway: FalGateway, endpoint: str, request_id: str) -> list[str]:
    seen = []
    for _ in range(20):
        status = await gateway.status(endpoint, request_id)
        seen.append(status.state)
        if status.state == "completed":
            return seen
    raise AssertionError(f"never completed: {seen}")


async def test_upload_submit_progress_result_and_cancel(settings: Settings, fake_fal: FakeFal, tmp_path: Path) -> None:
    gateway = FalGateway(settings)
    archive = _zip_with_images(tmp_path / "data.zip", 5)
    url = await gateway.upload_file(archive)
    assert url.startswith(fake_fal.base + "/files/") and url.endswith("data.zip")

    fake_fal.script("fal-ai/flux-lora-fast-training", queue_polls=1, run_polls=2, total_steps=1000)
    request_id = await gateway.submit("fal-ai/flux-lora-fast-training", {"images_data_url": url, "steps": 1000})
    queued = await gateway.status("fal-ai/flux-lora-fast-training", request_id)
    assert queued.state == "queued" and queued.queue_position == 0
    running = await gateway.status("fal-ai/flux-lora-fast-training", request_id)
    assert running.state == "running"
    assert any("step" in line["message"] and "/1000" in line["message"] for line in running.logs)
    await _poll_until_done(gateway, "fal-ai/flux-lora-fast-training", request_id)
    result = await gateway.result("fal-ai/flux-lora-fast-training", request_id)
    lora = result["diffusers_lora_file"]
    download = await gateway.download(lora["url"], tmp_path / "lora.safetensors")
    assert download.size == lora["file_size"] == (tmp_path / "lora.safetensors").stat().st_size

    other = await gateway.submit("fal-ai/flux-lora", {"prompt": "a cat"})
    await gateway.cancel("fal-ai/flux-lora", other)
    assert fake_fal.jobs[other].cancelled
    await gateway.aclose()


async def test_sub_path_endpoints_poll_on_the_app_id(settings: Settings, fake_fal: FakeFal) -> None:
    gateway = FalGateway(settings)
    request_id = await gateway.submit("fal-ai/flux-lora/image-to-image", {"prompt": "x", "image_url": "http://a/b.png"})
    await _poll_until_done(gateway, "fal-ai/flux-lora/image-to-image", request_id)
    result = await gateway.result("fal-ai/flux-lora/image-to-image", request_id)
    assert len(result["images"]) == 1
    await gateway.aclose()


async def test_validation_error_is_explained_field_by_field(settings: Settings) -> None:
    gateway = FalGateway(settings)
    with pytest.raises(FalError) as caught:
        await gateway.submit("fal-ai/flux-lora", {"prompt": "x", "num_images": 9})
    assert caught.value.status_code == 422
    assert "num_images" in caught.value.message and "from 1 to 4" in caught.value.message
    await gateway.aclose()


async def test_failed_job_surfaces_fals_message(settings: Settings, fake_fal: FakeFal) -> None:
    gateway = FalGateway(settings)
    fake_fal.script("fal-ai/flux-lora", queue_polls=0, run_polls=0, fail_with="CUDA out of memory")
    request_id = await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    status = await gateway.status("fal-ai/flux-lora", request_id)
    assert status.state == "completed" and status.error == "CUDA out of memory"
    with pytest.raises(FalError, match="CUDA out of memory"):
        await gateway.result("fal-ai/flux-lora", request_id)
    await gateway.aclose()


async def test_missing_key_is_actionable(tmp_path: Path, fake_fal: FakeFal) -> None:
    gateway = FalGateway(Settings(home=tmp_path, fal_base_url=fake_fal.base))
    with pytest.raises(FalError, match="FAL_KEY"):
        await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})


async def test_upload_once_per_content(settings: Settings, fake_fal: FakeFal, tmp_path: Path) -> None:
    gateway = FalGateway(settings)
    store = Store(tmp_path / "db.sqlite3")
    first = tmp_path / "a.zip"
    first.write_bytes(b"same bytes")
    second = tmp_path / "b.zip"
    second.write_bytes(b"same bytes")
    url1, uploaded1 = await gateway.upload_file_once(store, first)
    url2, uploaded2 = await gateway.upload_file_once(store, second)
    assert (uploaded1, uploaded2) == (True, False) and url1 == url2
    assert fake_fal.count("POST", r"^/cdn/files/upload$") == 1
    store.close()
    await gateway.aclose()


async def test_truncated_download_is_retried_and_never_left_partial(
    settings: Settings, fake_fal: FakeFal, tmp_path: Path
) -> None:
    gateway = FalGateway(settings)
    url = fake_fal.add_file("weights.bin", bytes(range(256)) * 400)
    fake_fal.inject(r"^/files/", "truncate", times=2)
    download = await gateway.download(url, tmp_path / "weights.bin")
    assert download.size == 256 * 400
    assert (tmp_path / "weights.bin").read_bytes() == bytes(range(256)) * 400
    assert not list(tmp_path.glob("*.part"))
    fake_fal.expire_file(url)
    with pytest.raises(FalError, match="expire"):
        await gateway.download(url, tmp_path / "again.bin")
    assert not (tmp_path / "again.bin").exists()
    await gateway.aclose()


async def test_key_is_redacted_from_messages(settings: Settings, fake_fal: FakeFal) -> None:
    gateway = FalGateway(settings)
    secret = settings.fal_key.get_secret_value()
    fake_fal.inject(r"^/queue/", "status", status=400, body=f"bad key {secret}")
    with pytest.raises(FalError) as caught:
        await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    assert secret not in caught.value.message and secret.split(":")[1] not in caught.value.message
    await gateway.aclose()
