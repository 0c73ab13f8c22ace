"""Fault injection on the fal gateway: the real fal-client against the fake fal misbehaving on purpose.

What must hold: safe requests are retried with backoff, a job is never submitted twice (a second paid job),
a partial download never lands on disk, and every failure reads as a clear, actionable FalError.
Elapsed times are printed (run with -s) for the report; nothing asserts on them.
"""

from __future__ import annotations

import io
import logging
import socket
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import fal_client
import pytest

from server.config import Settings
from server.fal_gateway import FalError, FalGateway
from tests.fake_fal import FakeFal

pytestmark = pytest.mark.anyio

SUBMIT = r"^/queue/fal-ai/flux-lora$"
STATUS = r"^/queue/fal-ai/flux-lora/requests/[^/]+/status$"


@pytest.fixture
async def gateway(settings: Settings) -> FalGateway:
    gw = FalGateway(settings)
    yield gw
    await gw.aclose()


def _report(label: str, started: float) -> None:
    print(f"\n[fault timing] {label}: {time.perf_counter() - started:.2f}s")


async def _run_to_completion(gateway: FalGateway, endpoint: str, request_id: str) -> None:
    for _ in range(20):
        if (await gateway.status(endpoint, request_id)).state == "completed":
            return
    raise AssertionError("job never completed")


# -- rate limits and server errors ---------------------------------------------------------------------


async def test_429_burst_is_retried_with_backoff_and_submits_once(gateway: FalGateway, fake_fal: FakeFal) -> None:
    fake_fal.inject(SUBMIT, "status", method="POST", status=429, times=3, body="rate limited")
    started = time.perf_counter()
    request_id = await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    _report("submit after 3x 429", started)
    assert fake_fal.count("POST", SUBMIT) == 4
    assert [job.request_id for job in fake_fal.submissions("fal-ai/flux-lora")] == [request_id]


async def test_429_burst_on_status_polls_is_retried(gateway: FalGateway, fake_fal: FakeFal) -> None:
    request_id = await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    fake_fal.inject(STATUS, "status", method="GET", status=429, times=2)
    status = await gateway.status("fal-ai/flux-lora", request_id)
    assert status.state in ("queued", "running")
    assert fake_fal.count("GET", STATUS) == 3


@pytest.mark.parametrize("code", [500, 503])
async def test_5xx_from_fal_is_not_retried_and_reads_as_retryable(
    gateway: FalGateway, fake_fal: FakeFal, code: int
) -> None:
    # fal's own 5xx carries x-fal-request-id: fal-client does not retry it, so neither do we.
    fake_fal.inject(SUBMIT, "status", method="POST", status=code, body="worker crashed")
    with pytest.raises(FalError) as caught:
        await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    error = caught.value
    assert error.status_code == code and error.retryable and not error.ambiguous
    assert "worker crashed" in error.message and "try again" in error.message
    assert fake_fal.count("POST", SUBMIT) == 1 and fake_fal.submissions() == []


async def test_ingress_503_is_retried_even_for_submit(gateway: FalGateway, fake_fal: FakeFal) -> None:
    # nginx's 503 (no x-fal-request-id) means no upstream took the request: safe to send again.
    fake_fal.inject(SUBMIT, "status", method="POST", status=503, times=2, ingress=True)
    started = time.perf_counter()
    request_id = await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    _report("submit after 2x ingress 503", started)
    assert fake_fal.count("POST", SUBMIT) == 3
    assert [job.request_id for job in fake_fal.submissions()] == [request_id]


@pytest.mark.parametrize("code", [502, 504])
async def test_ingress_502_504_on_status_and_result_are_retried(
    gateway: FalGateway, fake_fal: FakeFal, code: int
) -> None:
    fake_fal.script("fal-ai/flux-lora", queue_polls=0, run_polls=0)
    request_id = await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    fake_fal.inject(STATUS, "status", method="GET", status=code, times=2, ingress=True)
    assert (await gateway.status("fal-ai/flux-lora", request_id)).state == "completed"
    fake_fal.inject(r"/requests/[^/]+$", "status", method="GET", status=code, times=2, ingress=True)
    result = await gateway.result("fal-ai/flux-lora", request_id)
    assert len(result["images"]) == 1


@pytest.mark.parametrize("code", [502, 504])
async def test_ingress_502_504_on_submit_is_ambiguous_and_not_resent(
    gateway: FalGateway, fake_fal: FakeFal, code: int
) -> None:
    # The upstream may have queued the job before the gateway gave up: sending again could pay twice.
    fake_fal.inject(SUBMIT, "status", method="POST", status=code, times=5, ingress=True)
    with pytest.raises(FalError) as caught:
        await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    assert caught.value.ambiguous and not caught.value.retryable and caught.value.status_code is None
    assert "may or may not have reached fal.ai" in caught.value.message
    assert fake_fal.count("POST", SUBMIT) == 1


async def test_slow_responses_still_succeed(gateway: FalGateway, fake_fal: FakeFal) -> None:
    fake_fal.script("fal-ai/flux-lora", queue_polls=0, run_polls=0)
    fake_fal.inject(SUBMIT, "delay", method="POST", delay=1.0)
    fake_fal.inject(STATUS, "delay", method="GET", delay=1.0)
    started = time.perf_counter()
    request_id = await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    assert (await gateway.status("fal-ai/flux-lora", request_id)).state == "completed"
    _report("submit + status, each delayed 1 s", started)
    assert len(fake_fal.submissions()) == 1


# -- the money question: never a second paid submission ------------------------------------------------


async def test_plain_fal_client_would_submit_twice_when_the_answer_is_lost(
    settings: Settings, fake_fal: FakeFal
) -> None:
    """The defect the gateway guards against, shown on fal-client 1.0.3 itself."""
    FalGateway(settings)  # points fal-client at the fake
    fake_fal.inject(SUBMIT, "drop_after", method="POST")
    plain = fal_client.AsyncClient(key=settings.fal_key.get_secret_value())
    await plain.submit("fal-ai/flux-lora", {"prompt": "x"})
    assert len(fake_fal.submissions("fal-ai/flux-lora")) == 2  # two jobs, two bills


@pytest.mark.parametrize("kind", ["drop_after", "drop"])
async def test_connection_lost_after_sending_is_ambiguous_never_resubmitted(
    gateway: FalGateway, fake_fal: FakeFal, kind: str
) -> None:
    # drop_after: fal queued the job and the answer was lost; drop: it was not queued. The client cannot
    # tell these apart, so both must be reported as ambiguous and neither may be sent again.
    fake_fal.inject(SUBMIT, kind, method="POST", times=5)
    with pytest.raises(FalError) as caught:
        await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    error = caught.value
    assert error.ambiguous and not error.retryable and error.status_code is None
    assert "may or may not have reached fal.ai" in error.message and "dashboard" in error.message
    assert fake_fal.count("POST", SUBMIT) == 1
    assert len(fake_fal.submissions()) == (1 if kind == "drop_after" else 0)


async def test_other_requests_keep_their_retries_during_and_after_a_guarded_submit(
    gateway: FalGateway, fake_fal: FakeFal
) -> None:
    fake_fal.inject(SUBMIT, "drop_after", method="POST")
    with pytest.raises(FalError):
        await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    (job,) = fake_fal.submissions()
    fake_fal.inject(STATUS, "drop", method="GET", times=2)  # status GETs are idempotent: retried
    assert (await gateway.status("fal-ai/flux-lora", job.request_id)).state in ("queued", "running")
    assert fake_fal.count("GET", STATUS) == 3


@contextmanager
def _on_fal_client_retry(action: Callable[[], None]) -> Iterator[None]:
    """Run `action` the first time fal-client logs that it will retry a request."""

    class Hook(logging.Handler):
        fired = False

        def emit(self, record: logging.LogRecord) -> None:
            if not self.fired and record.getMessage().startswith("Retrying request"):
                self.fired = True
                action()

    logger = logging.getLogger("fal_client.client")
    hook, level = Hook(logging.DEBUG), logger.level
    logger.addHandler(hook)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(hook)
        logger.setLevel(level)


async def test_connection_refused_before_sending_is_retried(make_settings: Callable[..., Settings]) -> None:
    # A port that is bound but not listening refuses connections: nothing can reach fal, a retry is safe.
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    late: list[FakeFal] = []

    def come_up() -> None:
        blocker.close()
        late.append(FakeFal(port=port).start())

    gateway = FalGateway(make_settings(fal_base_url=f"http://127.0.0.1:{port}"))
    try:
        with _on_fal_client_retry(come_up):
            request_id = await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
        assert late, "the first attempt should have been refused"
        assert [job.request_id for job in late[0].submissions()] == [request_id]
    finally:
        await gateway.aclose()
        blocker.close()
        for fake in late:
            fake.stop()


async def test_unreachable_fal_reads_as_a_network_problem(make_settings: Callable[..., Settings], monkeypatch) -> None:
    import fal_client.client as fc

    monkeypatch.setattr(fc, "MAX_ATTEMPTS", 2)  # fal-client's 10 attempts take ~30 s
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    gateway = FalGateway(make_settings(fal_base_url=f"http://127.0.0.1:{blocker.getsockname()[1]}"))
    try:
        with pytest.raises(FalError) as caught:
            await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    finally:
        blocker.close()
        await gateway.aclose()
    assert caught.value.retryable and not caught.value.ambiguous
    assert "Could not reach fal.ai" in caught.value.message and "ConnectError" in caught.value.message


# -- uploads ----------------------------------------------------------------------------------------------


async def test_upload_dropped_mid_transfer_is_retried_on_the_cdn(
    gateway: FalGateway, fake_fal: FakeFal, tmp_path: Path
) -> None:
    archive = tmp_path / "data.zip"
    archive.write_bytes(b"PK\x03\x04" + bytes(50_000))
    fake_fal.inject(r"^/cdn/files/upload$", "drop", method="POST", times=2)
    url = await gateway.upload_file(archive)
    assert fake_fal.count("POST", r"^/cdn/files/upload$") == 3
    assert fake_fal.files[url[len(fake_fal.base) :]][0] == archive.read_bytes()


async def test_upload_falls_back_to_storage_initiate_when_the_cdn_fails(
    gateway: FalGateway, fake_fal: FakeFal, tmp_path: Path, monkeypatch
) -> None:
    """What fal-client 1.0.3 really does: CDN (fal_v3) first, then `POST /storage/upload/initiate` + PUT."""
    import fal_client.client as fc

    monkeypatch.setattr(fc, "MAX_ATTEMPTS", 2)  # exhaust the CDN retries quickly
    archive = tmp_path / "data.zip"
    archive.write_bytes(b"PK\x03\x04" + bytes(10_000))
    fake_fal.inject(r"^/cdn/files/upload$", "drop", method="POST", times=2)
    url = await gateway.upload_file(archive)
    assert fake_fal.count("POST", r"^/rest/storage/upload/initiate$") == 1
    assert fake_fal.count("PUT", r"^/gcs-put/") == 1
    assert fake_fal.files[url[len(fake_fal.base) :]][0] == archive.read_bytes()


async def test_upload_failing_everywhere_is_a_clear_error(
    gateway: FalGateway, fake_fal: FakeFal, tmp_path: Path
) -> None:
    archive = tmp_path / "data.zip"
    archive.write_bytes(b"PK")
    fake_fal.inject(r"^/cdn/files/upload$", "status", status=500, body="cdn down")
    fake_fal.inject(r"^/rest/storage/upload/initiate$", "status", status=500, body="storage down")
    with pytest.raises(FalError) as caught:
        await gateway.upload_file(archive)
    assert "upload data.zip" in caught.value.message and "storage down" in caught.value.message


# -- downloads --------------------------------------------------------------------------------------------


async def test_download_dropped_before_any_byte_is_retried(
    gateway: FalGateway, fake_fal: FakeFal, tmp_path: Path
) -> None:
    payload = bytes(range(256)) * 100
    url = fake_fal.add_file("lora.safetensors", payload)
    fake_fal.inject(r"^/files/", "drop", method="GET", times=2)
    started = time.perf_counter()
    download = await gateway.download(url, tmp_path / "lora.safetensors")
    _report("download after 2 dropped connections", started)
    assert download.size == len(payload) and (tmp_path / "lora.safetensors").read_bytes() == payload


async def test_download_truncated_every_time_fails_clearly_and_leaves_nothing(
    gateway: FalGateway, fake_fal: FakeFal, tmp_path: Path, monkeypatch
) -> None:
    import server.fal_gateway as gateway_module

    monkeypatch.setattr(gateway_module, "DOWNLOAD_ATTEMPTS", 2)
    url = fake_fal.add_file("lora.safetensors", bytes(100_000))
    fake_fal.inject(r"^/files/", "truncate", method="GET", times=10)
    dest = tmp_path / "loras" / "lora.safetensors"
    with pytest.raises(FalError) as caught:
        await gateway.download(url, dest)
    assert caught.value.retryable and "download" in caught.value.message
    assert not dest.exists() and list(dest.parent.iterdir()) == []


async def test_download_never_replaces_a_good_file_with_a_partial_one(
    gateway: FalGateway, fake_fal: FakeFal, tmp_path: Path, monkeypatch
) -> None:
    import server.fal_gateway as gateway_module

    monkeypatch.setattr(gateway_module, "DOWNLOAD_ATTEMPTS", 1)
    dest = tmp_path / "image.jpg"
    dest.write_bytes(b"previous good file")
    url = fake_fal.add_file("image.jpg", bytes(50_000))
    fake_fal.inject(r"^/files/", "truncate", method="GET")
    with pytest.raises(FalError):
        await gateway.download(url, dest)
    assert dest.read_bytes() == b"previous good file"


# -- job outcomes -----------------------------------------------------------------------------------------


async def test_expired_result_says_so(gateway: FalGateway, fake_fal: FakeFal) -> None:
    fake_fal.script("fal-ai/flux-lora", queue_polls=0, run_polls=0, result_ttl_seconds=0.0)
    request_id = await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    await _run_to_completion(gateway, "fal-ai/flux-lora", request_id)
    time.sleep(0.01)
    with pytest.raises(FalError) as caught:
        await gateway.result("fal-ai/flux-lora", request_id)
    assert caught.value.status_code == 404 and caught.value.error_type == "result_expired"
    assert "expired" in caught.value.message and request_id in caught.value.message


def _zip(count: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for index in range(count):
            archive.writestr(f"{index:03d}.jpg", b"\xff\xd8\xff" + bytes(64))
    return out.getvalue()


async def test_failed_training_surfaces_fals_message(gateway: FalGateway, fake_fal: FakeFal) -> None:
    endpoint = "fal-ai/flux-lora-fast-training"
    fake_fal.script(endpoint, queue_polls=0, run_polls=1)
    url = fake_fal.add_file("data.zip", _zip(2), "application/zip")
    request_id = await gateway.submit(endpoint, {"images_data_url": url, "steps": 100})
    await _run_to_completion(gateway, endpoint, request_id)
    status = await gateway.status(endpoint, request_id)
    assert status.error and "At least 4 images" in status.error and status.error_type == "training_data_error"
    with pytest.raises(FalError, match="At least 4 images"):
        await gateway.result(endpoint, request_id)
    assert len(fake_fal.submissions(endpoint)) == 1


async def test_refused_key_is_actionable_and_not_retried(gateway: FalGateway, fake_fal: FakeFal) -> None:
    fake_fal.inject(SUBMIT, "status", method="POST", status=401, body="Invalid key")
    with pytest.raises(FalError) as caught:
        await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    assert "FAL_KEY" in caught.value.message and not caught.value.retryable and not caught.value.ambiguous
    assert fake_fal.count("POST", SUBMIT) == 1


async def test_requests_carry_fal_clients_own_headers(gateway: FalGateway, fake_fal: FakeFal, settings) -> None:
    """The guarded HTTP client is built like fal-client's: same auth header and user agent."""
    await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    (sent,) = [r for r in fake_fal.requests if r.method == "POST"]
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["authorization"] == f"Key {settings.fal_key.get_secret_value()}"
    assert headers["user-agent"].startswith("fal-client/")


async def test_a_stalled_status_poll_is_cut_off_not_hung(gateway: FalGateway, fake_fal: FakeFal, monkeypatch) -> None:
    import server.fal_gateway as gateway_module

    monkeypatch.setattr(gateway_module, "POLL_DEADLINE_SECONDS", 0.5)
    request_id = await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    fake_fal.inject(STATUS, "delay", method="GET", delay=3.0)
    with pytest.raises(FalError) as caught:
        await gateway.status("fal-ai/flux-lora", request_id)
    assert caught.value.retryable and "did not answer" in caught.value.message
    assert (await gateway.status("fal-ai/flux-lora", request_id)).state in ("queued", "running", "completed")


async def test_a_restarted_server_resumes_a_job_from_its_request_id_alone(
    settings: Settings, fake_fal: FakeFal, tmp_path: Path
) -> None:
    """Process killed after submit: a new gateway (new HTTP clients) finishes the job; nothing is resubmitted."""
    endpoint = "fal-ai/flux-lora-fast-training"
    fake_fal.script(endpoint, queue_polls=1, run_polls=2)
    url = fake_fal.add_file("data.zip", _zip(5), "application/zip")
    first = FalGateway(settings)
    request_id = await first.submit(endpoint, {"images_data_url": url, "steps": 100})
    assert (await first.status(endpoint, request_id)).state == "queued"
    del first  # no aclose: the process died

    second = FalGateway(settings)
    await _run_to_completion(second, endpoint, request_id)
    result = await second.result(endpoint, request_id)
    lora = await second.download(result["diffusers_lora_file"]["url"], tmp_path / "lora.safetensors")
    assert lora.size == result["diffusers_lora_file"]["file_size"]
    assert len(fake_fal.submissions(endpoint)) == 1
    await second.aclose()


async def test_connection_reset_mid_upload_body_is_retried(
    gateway: FalGateway, fake_fal: FakeFal, tmp_path: Path
) -> None:
    archive = tmp_path / "big.zip"
    archive.write_bytes(bytes(range(256)) * (8 * 4096))  # 8 MiB: the reset lands while the body is being sent
    fake_fal.inject(r"^/cdn/files/upload$", "reset", method="POST")
    started = time.perf_counter()
    url = await gateway.upload_file(archive)
    _report("8 MiB upload after a reset mid-body", started)
    assert fake_fal.count("POST", r"^/cdn/files/upload$") == 2
    assert fake_fal.files[url[len(fake_fal.base) :]][0] == archive.read_bytes()


async def test_connection_reset_mid_submit_is_ambiguous(gateway: FalGateway, fake_fal: FakeFal) -> None:
    # A small job body is in the kernel's buffers before the reset: the client cannot know what fal saw.
    fake_fal.inject(SUBMIT, "reset", method="POST")
    with pytest.raises(FalError) as caught:
        await gateway.submit("fal-ai/flux-lora", {"prompt": "x" * 10})
    assert caught.value.ambiguous
    assert fake_fal.count("POST", SUBMIT) == 1


@pytest.mark.parametrize("kind", ["drop_after", "reset"])
async def test_start_training_whose_answer_is_lost_is_charged_at_most_once(
    client, fake_fal: FakeFal, settings: Settings, kind: str
) -> None:
    """Through the real tool: the job fal may have queued is never submitted a second time."""
    from tests.helpers import call_error
    from tests.test_training import FAST, dataset_url

    fake_fal.inject(r"^/queue/fal-ai/flux-lora-fast-training$", kind, method="POST")
    args = {"dataset": dataset_url(fake_fal), "model_name": "sid", "trigger_word": "SIDAI"}
    text = await call_error(client, "start_training", args)
    assert "dashboard" in text and "may" in text
    assert fake_fal.count("POST", r"^/queue/fal-ai/flux-lora-fast-training$") == 1
    assert len(fake_fal.submissions(FAST)) == (1 if kind == "drop_after" else 0)
    # The agent retrying the same call gets the recorded 'unknown' run back, not a second paid job.
    again = await client.call_tool("start_training", args)
    assert not again.is_error and again.structured_content["reused"] is True
    assert again.structured_content["training"]["status"] == "unknown"
    assert fake_fal.count("POST", r"^/queue/fal-ai/flux-lora-fast-training$") == 1
