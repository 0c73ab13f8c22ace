"""A protocol-level fake of fal.ai for tests: plain HTTP on 127.0.0.1, the real fal-client talks to it.

It speaks fal's shapes (see shared docs fal-api.md): queue submit / status / result / cancel, storage token,
CDN upload (plus the GCS fallback), file downloads, synchronous run. Trainers read the uploaded zip back
from the fake's own storage and fail the job like fal would when it is missing or too small. Inference
endpoints return real JPEG/PNG files of the requested size, video endpoints real small MP4 clips (media.py).

Scriptable per endpoint (`FakeFal.script`) and with faults matched on method + path (`FakeFal.inject`):
HTTP status bursts, slow responses, dropped connections (before or after the request was processed),
truncated downloads, redirects (to `body`), trickling downloads (one byte every `delay` s), downloads that
announce no length. `storage_elsewhere` puts the GCS fallback's signed upload URL on another (foreign) server.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import socket
import struct
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.fake_fal.catalog import FakeCatalog
from tests.fake_fal.media import video_for_input
from tests.fake_fal.outputs import build_result

TRAINER_DATA_FIELDS = ("images_data_url", "image_data_url", "training_data_url", "data_url")
IMAGE_SIZES = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}


@dataclass
class Script:
    """How the fake behaves for one endpoint (app id `owner/alias`, or a full endpoint id with sub-path)."""

    queue_polls: int = 1  # status polls answered IN_QUEUE (queue_position counts down to 0)
    run_polls: int = 2  # then this many IN_PROGRESS polls
    duration_seconds: float | None = None  # if set, time-based: IN_QUEUE for queue_seconds, done after this
    queue_seconds: float = 0.0
    total_steps: int | None = None  # log "step i/N" lines while running; default: input steps (trainers)
    fail_with: str | None = None  # the job fails with this message (status COMPLETED + error, result 500)
    fail_status: int = 500
    fail_error_type: str | None = "internal_error"
    result: dict[str, Any] | Callable[[Job], dict[str, Any]] | None = None  # default: built from the input
    result_ttl_seconds: float | None = None  # result GET answers 404 after this long (fal expiry)
    reject_submit: tuple[int, Any] | None = None  # (status, detail) answered at submit
    lora_bytes: int = 4096  # payload size of generated LoRA files
    log_line: str | None = None  # an extra log line while running (e.g. text fal echoed back)


@dataclass
class Job:
    request_id: str
    endpoint: str  # as submitted, including any sub-path
    app: str  # owner/alias
    input: dict[str, Any]
    script: Script
    created: float = field(default_factory=time.monotonic)
    polls: int = 0
    cancelled: bool = False
    completed_at: float | None = None
    webhook: str | None = None
    result_cache: dict[str, Any] | None = None


@dataclass
class Fault:
    method: str  # GET/POST/PUT or "*"
    path: re.Pattern[str]
    # status | drop | drop_after | reset (mid-request-body) | delay | truncate | redirect | trickle | unannounced
    kind: str
    status: int = 500
    times: int = 1
    delay: float = 0.0
    body: Any = None
    ingress: bool = False  # answer like nginx (no x-fal-request-id): fal-client retries 502/503/504
    hits: int = 0


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    size: int


class FakeFal:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[Recorded] = []
        self.jobs: dict[str, Job] = {}
        self.files: dict[str, tuple[bytes, str]] = {}  # url path → (bytes, content type)
        self.scripts: dict[str, Script] = {}
        self.faults: list[Fault] = []
        self.default_script = Script()
        self.storage_elsewhere: FakeFal | None = None  # the upload-initiate answer names this server's URLs
        self.catalog = FakeCatalog()  # fal's /v1/models and /v1/models/pricing, from shared/fal-catalog
        self.lock = threading.RLock()
        self._srv = ThreadingHTTPServer((host, port), _make_handler(self))
        self._srv.daemon_threads = True
        self.base = f"http://{host}:{self._srv.server_address[1]}"
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> FakeFal:
        self._thread = threading.Thread(
            target=self._srv.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-fal", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()

    def __enter__(self) -> FakeFal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ------------------------------------------------------------------------------------

    def script(self, endpoint: str, **fields: Any) -> Script:
        """Set the behaviour of `endpoint` (fields of Script); returns the Script for later tweaks."""
        with self.lock:
            script = Script(**fields)
            self.scripts[endpoint.strip("/")] = script
            return script

    def inject(
        self,
        path: str,
        kind: str = "status",
        *,
        method: str = "*",
        status: int = 500,
        times: int = 1,
        delay: float = 0.0,
        body: Any = None,
        ingress: bool = False,
    ) -> Fault:
        """Add a fault for requests whose path matches the regex `path` (first match wins, `times` uses)."""
        fault = Fault(method.upper(), re.compile(path), kind, status, times, delay, body, ingress)
        with self.lock:
            self.faults.append(fault)
        return fault

    def add_file(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        path = f"/files/{uuid.uuid4().hex}/{name}"
        with self.lock:
            self.files[path] = (data, content_type)
        return self.base + path

    def expire_file(self, url: str) -> None:
        with self.lock:
            self.files.pop(urlparse(url).path, None)

    def submissions(self, endpoint: str | None = None) -> list[Job]:
        with self.lock:
            jobs = list(self.jobs.values())
        if endpoint is not None:
            jobs = [job for job in jobs if job.endpoint == endpoint or job.app == endpoint]
        return sorted(jobs, key=lambda job: job.created)

    def finish(self, request_id: str) -> None:
        """Make a job complete on its next status poll, whatever its script says."""
        with self.lock:
            job = self.jobs[request_id]
            job.polls = 10**6
            job.created -= 10**6

    def count(self, method: str, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        with self.lock:
            return sum(1 for r in self.requests if r.method == method and pattern.search(r.path))

    # -- behaviour ------------------------------------------------------------------------------------

    def _script_for(self, endpoint: str) -> Script:
        endpoint = endpoint.strip("/")
        app = "/".join(endpoint.split("/")[:2])
        return self.scripts.get(endpoint) or self.scripts.get(app) or self.default_script

    def _phase(self, job: Job) -> tuple[str, float]:
        """(IN_QUEUE | IN_PROGRESS | COMPLETED, fraction of the run done)."""
        script = job.script
        if job.cancelled:
            return "COMPLETED", 0.0
        if script.duration_seconds is not None:
            elapsed = time.monotonic() - job.created
            if elapsed < script.queue_seconds:
                return "IN_QUEUE", 0.0
            if elapsed < script.duration_seconds:
                run = max(script.duration_seconds - script.queue_seconds, 1e-9)
                return "IN_PROGRESS", (elapsed - script.queue_seconds) / run
            return "COMPLETED", 1.0
        if job.polls <= script.queue_polls:
            return "IN_QUEUE", 0.0
        if job.polls <= script.queue_polls + script.run_polls:
            return "IN_PROGRESS", (job.polls - script.queue_polls) / (script.run_polls + 1)
        return "COMPLETED", 1.0

    def _queue_position(self, job: Job) -> int:
        script = job.script
        if script.duration_seconds is not None:
            return max(0, int(script.queue_seconds - (time.monotonic() - job.created)))
        return max(0, script.queue_polls - job.polls)

    def _logs(self, job: Job, fraction: float) -> list[dict[str, Any]]:
        total = job.script.total_steps or _input_steps(job.input) or 100
        logs = [_log("Downloading training data" if _is_trainer(job.app) else "Loading model")]
        if job.script.log_line is not None:
            logs.append(_log(job.script.log_line))
        done = int(total * min(fraction, 1.0))
        stride = max(total // 10, 1)
        for step in range(stride, done + 1, stride):
            logs.append(_log(f"step {step}/{total} loss={0.2 - 0.1 * step / total:.4f}"))
        return logs

    def _result(self, job: Job) -> dict[str, Any]:
        if job.result_cache is not None:
            return job.result_cache
        script = job.script
        if callable(script.result):
            result = script.result(job)
        elif script.result is not None:
            result = script.result
        elif (entry := self.catalog.entry(job.endpoint)) is not None and entry.get("output"):
            result = build_result(
                entry["output"],
                job.input,
                add_file=self.add_file,
                picture=_picture,
                video=lambda: video_for_input(job.input, _seed_of(job.input)),
                audio=_wav,
                lora=lambda tag: safetensors_bytes(tag, script.lora_bytes),
                size=_size(job.input.get("image_size", "landscape_4_3")),
                request_id=job.request_id,
            )
        elif _is_trainer(job.app):
            result = self._trainer_result(job)
        else:
            result = self._inference_result(job)
        job.result_cache = result
        return result

    def _trainer_failure(self, job: Job) -> str | None:
        """What fal would fail a training job with, judging by the archive it was given."""
        url = next((job.input.get(name) for name in TRAINER_DATA_FIELDS if job.input.get(name)), None)
        if not url:
            return None
        stored = self.files.get(urlparse(url).path) if url.startswith(self.base) else None
        if stored is None:
            return f"Could not download training data from {url}"
        try:
            with zipfile.ZipFile(io.BytesIO(stored[0])) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return "Training data is not a valid zip archive"
        images = [n for n in names if n.lower().endswith((".jpg", ".jpeg", ".png", ".webp"))]
        if len(images) < 4:
            return f"At least 4 images are required for training, found {len(images)}"
        return None

    def _trainer_result(self, job: Job) -> dict[str, Any]:
        payload = safetensors_bytes(job.request_id, job.script.lora_bytes)
        lora_url = self.add_file("pytorch_lora_weights.safetensors", payload)
        config = json.dumps({"trained_from": job.endpoint, "input": job.input}).encode()
        config_url = self.add_file("config.json", config, "application/json")
        key = (
            "lora_file"
            if any(name in job.app for name in ("qwen-image-trainer", "wan-trainer"))
            else ("diffusers_lora_file")
        )
        return {
            key: {
                "url": lora_url,
                "content_type": "application/octet-stream",
                "file_name": "pytorch_lora_weights.safetensors",
                "file_size": len(payload),
            },
            "config_file": {"url": config_url, "content_type": "application/json", "file_name": "config.json"},
        }

    def _inference_result(self, job: Job) -> dict[str, Any]:
        data = job.input
        kind = _output_kind(job.endpoint)
        seed = data.get("seed") if isinstance(data.get("seed"), int) else random.randint(0, 2**31 - 1)
        if kind == "video":
            url = self.add_file("output.mp4", video_for_input(data, seed), "video/mp4")
            return {"video": {"url": url, "content_type": "video/mp4", "file_name": "output.mp4"}, "seed": seed}
        if kind == "audio":
            url = self.add_file("output.wav", _wav(), "audio/wav")
            return {"audio": {"url": url, "content_type": "audio/wav", "file_name": "output.wav"}}
        width, height = _size(data.get("image_size", "landscape_4_3"))
        fmt = data.get("output_format") or data.get("image_format") or "jpeg"
        count = int(data.get("num_images", 1) or 1)
        images = []
        for index in range(count):
            raw = _picture(width, height, seed + index, fmt)
            content_type = "image/png" if fmt == "png" else "image/jpeg"
            url = self.add_file(f"image_{index}.{'png' if fmt == 'png' else 'jpg'}", raw, content_type)
            images.append({"url": url, "width": width, "height": height, "content_type": content_type})
        result: dict[str, Any] = {
            "images": images,
            "seed": seed,
            "has_nsfw_concepts": [False] * count,
        }
        if job.app != "fal-ai/lora":
            result["timings"] = {"inference": 0.42}
            result["prompt"] = data.get("prompt", "")
        return result


# -- request handling ---------------------------------------------------------------------------------


def _make_handler(fake: FakeFal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        discard_reply = False  # drop_after: the request is processed, its answer never sent
        download_style: Fault | None = None  # trickle / unannounced: how a file download is sent

        def reply(self, code: int, obj: Any, headers: dict[str, str] | None = None, fal_id: bool = True) -> None:
            if self.discard_reply:
                return
            raw = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if fal_id:
                self.send_header("x-fal-request-id", uuid.uuid4().hex)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        def reply_bytes(
            self, data: bytes, content_type: str, truncate: bool = False, style: Fault | None = None
        ) -> None:
            if self.discard_reply:
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            if style is not None and style.kind == "unannounced":
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                return self._drop()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if style is not None and style.kind == "trickle":
                try:
                    for index in range(len(data)):
                        self.wfile.write(data[index : index + 1])
                        self.wfile.flush()
                        time.sleep(style.delay)
                except OSError:
                    pass  # the client gave up
                return None
            if truncate:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self._drop()
                return
            self.wfile.write(data)

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def route(self, method: str) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            path = url.path
            length = int(self.headers.get("Content-Length") or 0)
            with fake.lock:
                fault = next(
                    (f for f in fake.faults if f.times > 0 and f.method in ("*", method) and f.path.search(path)),
                    None,
                )
                if fault is not None:
                    fault.times -= 1
                    fault.hits += 1
                if fault is not None and fault.kind == "reset":  # connection cut while the body is still coming
                    fake.requests.append(Recorded(method, path, query, dict(self.headers), None, 0))
            if fault is not None and fault.kind == "reset":
                if length:
                    self.rfile.read(min(length, 1024))
                with contextlib.suppress(OSError):  # RST instead of FIN: the client's next write fails
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return self._drop()
            body = self.rfile.read(length) if length else b""
            try:
                payload = json.loads(body) if body and "json" in (self.headers.get("Content-Type") or "") else None
            except ValueError:
                payload = None
            with fake.lock:
                fake.requests.append(Recorded(method, path, query, dict(self.headers), payload, len(body)))
            truncate = False
            if fault is not None:
                if fault.kind == "drop":
                    return self._drop()
                if fault.kind == "drop_after":  # fal did the work (e.g. queued a paid job), the answer is lost
                    self.discard_reply = True
                    self.dispatch(method, path, query, body, payload, False)
                    return self._drop()
                if fault.kind == "delay":
                    time.sleep(fault.delay)
                elif fault.kind == "status":
                    detail = fault.body if fault.body is not None else f"injected HTTP {fault.status}"
                    if fault.ingress:
                        raw = f"<html><body>{fault.status} Bad Gateway nginx</body></html>".encode()
                        self.send_response(fault.status)
                        self.send_header("Content-Type", "text/html")
                        self.send_header("Content-Length", str(len(raw)))
                        self.end_headers()
                        self.wfile.write(raw)
                        return None
                    return self.reply(fault.status, {"detail": detail})
                elif fault.kind == "truncate":
                    truncate = True
                elif fault.kind == "redirect":
                    self.send_response(fault.status if 300 <= fault.status < 400 else 302)
                    self.send_header("Location", str(fault.body))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                elif fault.kind in ("trickle", "unannounced"):
                    self.download_style = fault
            return self.dispatch(method, path, query, body, payload, truncate)

        def dispatch(
            self, method: str, path: str, query: dict[str, list[str]], body: bytes, payload: Any, truncate: bool
        ) -> None:
            if method == "GET" and path.startswith("/v1/"):
                return self.reply(*fake.catalog.answer(path, query))
            # File downloads and signed upload URLs need no key, as on fal's real storage.
            if not self.headers.get("Authorization") and not path.startswith(("/files/", "/gcs-put/")):
                return self.reply(401, {"detail": "Missing authorization header"})
            if method == "POST" and path == "/rest/storage/auth/token":
                return self.reply(
                    200,
                    {
                        "token": "cdn-token",
                        "token_type": "Bearer",
                        "base_url": fake.base + "/cdn",
                        "expires_at": "2999-01-01T00:00:00+00:00",
                    },
                )
            if method == "POST" and path == "/cdn/files/upload":
                name = self.headers.get("X-Fal-File-Name", "blob")
                url = fake.add_file(name, body, self.headers.get("Content-Type", "application/octet-stream"))
                return self.reply(200, {"access_url": url})
            if method == "POST" and path == "/rest/storage/upload/initiate":
                name = (payload or {}).get("file_name", "blob")
                key = uuid.uuid4().hex
                store = (fake.storage_elsewhere or fake).base
                return self.reply(
                    200,
                    {"upload_url": f"{store}/gcs-put/{key}/{name}", "file_url": f"{store}/files/{key}/{name}"},
                )
            if method == "PUT" and path.startswith("/gcs-put/"):
                with fake.lock:
                    fake.files["/files/" + path[len("/gcs-put/") :]] = (
                        body,
                        self.headers.get("Content-Type", "application/octet-stream"),
                    )
                return self.reply(200, {})
            if method == "GET" and path.startswith("/files/"):
                with fake.lock:
                    stored = fake.files.get(unquote(path)) or fake.files.get(path)
                if stored is None:
                    return self.reply(404, {"detail": "File not found"})
                return self.reply_bytes(stored[0], stored[1], truncate, self.download_style)
            if method == "POST" and path.startswith("/run/"):
                endpoint = path[len("/run/") :]
                job = self._new_job(endpoint, payload or {}, None)
                if isinstance(job, tuple):
                    return self.reply(*job)
                return self.reply(200, fake._result(job))
            match = re.match(r"^/queue/([^/]+/[^/]+)/requests/([^/]+)(/status|/cancel)?$", path)
            if match:
                return self.queue_request(method, match.group(1), match.group(2), match.group(3), query)
            if method == "POST" and path.startswith("/queue/"):
                endpoint = path[len("/queue/") :]
                job = self._new_job(endpoint, payload if isinstance(payload, dict) else {}, query)
                if isinstance(job, tuple):
                    return self.reply(*job)
                base = f"{fake.base}/queue/{job.app}/requests/{job.request_id}"
                return self.reply(
                    200,
                    {
                        "request_id": job.request_id,
                        "response_url": base,
                        "status_url": base + "/status",
                        "cancel_url": base + "/cancel",
                        "queue_position": job.script.queue_polls,
                    },
                )
            return self.reply(404, {"detail": f"no fake route for {method} {path}"})

        def _new_job(self, endpoint: str, data: dict[str, Any], query: dict[str, list[str]] | None) -> Job | tuple:
            script = fake._script_for(endpoint)
            if script.reject_submit is not None:
                return script.reject_submit[0], {"detail": script.reject_submit[1]}
            errors = fake.catalog.check_submission(endpoint.strip("/"), data)
            if errors is None:  # an endpoint fal's catalogue has no schema for: the hand-written rules
                errors = validate_input(endpoint, data)
            if errors:
                return 422, {"detail": errors}
            app = "/".join(endpoint.split("/")[:2])
            job = Job(str(uuid.uuid4()), endpoint, app, data, script)
            job.webhook = (query or {}).get("fal_webhook", [None])[0]
            with fake.lock:
                fake.jobs[job.request_id] = job
            return job

        def queue_request(self, method: str, app: str, rid: str, tail: str | None, query: dict[str, list[str]]) -> None:
            with fake.lock:
                job = fake.jobs.get(rid)
            if job is None or job.app != app:
                return self.reply(404, {"detail": "Request not found"})
            if tail == "/cancel" and method == "PUT":
                with fake.lock:
                    phase, _ = fake._phase(job)
                    if phase == "COMPLETED":
                        return self.reply(400, {"status": "ALREADY_COMPLETED"})
                    job.cancelled = True
                    job.completed_at = time.monotonic()
                return self.reply(202, {"status": "CANCELLATION_REQUESTED"})
            if tail == "/status" and method == "GET":
                with_logs = query.get("logs", ["false"])[0].lower() in ("true", "1")
                with fake.lock:
                    job.polls += 1
                    phase, fraction = fake._phase(job)
                    if phase == "IN_QUEUE":
                        return self.reply(202, {"status": "IN_QUEUE", "queue_position": fake._queue_position(job)})
                    logs = fake._logs(job, fraction) if with_logs else None
                    if phase == "IN_PROGRESS":
                        return self.reply(202, {"status": "IN_PROGRESS", "logs": logs})
                    if job.completed_at is None:
                        job.completed_at = time.monotonic()
                    error, error_type = self._job_error(job)
                    return self.reply(
                        200,
                        {
                            "status": "COMPLETED",
                            "logs": logs,
                            "metrics": {"inference_time": 1.5},
                            "error": error,
                            "error_type": error_type,
                        },
                    )
            if tail is None and method == "GET":
                with fake.lock:
                    phase, _ = fake._phase(job)
                    if phase != "COMPLETED":
                        return self.reply(400, {"detail": "Request is still in progress"})
                    if job.completed_at is None:
                        job.completed_at = time.monotonic()
                    ttl = job.script.result_ttl_seconds
                    if ttl is not None and time.monotonic() - job.completed_at > ttl:
                        return self.reply(404, {"detail": "Request not found"})
                    error, error_type = self._job_error(job)
                    if error is not None:
                        status = 400 if job.cancelled else job.script.fail_status
                        return self.reply(status, {"detail": error}, {"x-fal-error-type": error_type or ""})
                    result = fake._result(job)
                return self.reply(200, result)
            return self.reply(405, {"detail": "Method not allowed"})

        def _job_error(self, job: Job) -> tuple[str | None, str | None]:
            if job.cancelled:
                return "Request was cancelled", "request_cancelled"
            if job.script.fail_with:
                return job.script.fail_with, job.script.fail_error_type
            if _is_trainer(job.app):
                failure = fake._trainer_failure(job)
                if failure:
                    return failure, "training_data_error"
            return None, None

        def do_GET(self) -> None:
            self.route("GET")

        def do_HEAD(self) -> None:  # whether a stored file is still there; fal keeps uploads ~7 days
            path = urlparse(self.path).path
            with fake.lock:
                stored = fake.files.get(unquote(path)) or fake.files.get(path)
                fake.requests.append(Recorded("HEAD", path, {}, dict(self.headers), None, 0))
            self.send_response(200 if stored is not None and path.startswith("/files/") else 404)
            self.send_header("Content-Length", str(len(stored[0]) if stored else 0))
            self.end_headers()

        def do_POST(self) -> None:
            self.route("POST")

        def do_PUT(self) -> None:
            self.route("PUT")

    return Handler


# -- endpoint knowledge (a small copy of fal's published schemas) -------------------------------------


def validate_input(endpoint: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """422 errors the way fal reports them: [{loc, msg, type}]."""
    errors: list[dict[str, Any]] = []

    def err(loc: str, msg: str, kind: str = "value_error") -> None:
        errors.append({"loc": ["body", loc], "msg": msg, "type": kind})

    def number(name: str, low: float, high: float) -> None:
        value = data.get(name)
        if value is None:
            return
        if not isinstance(value, int | float) or isinstance(value, bool):
            err(name, "Input should be a valid number", "type_error")
        elif not low <= value <= high:
            err(name, f"Input should be between {low} and {high}")

    app = "/".join(endpoint.split("/")[:2])
    if _is_trainer(app):
        if not any(data.get(name) for name in TRAINER_DATA_FIELDS):
            err("images_data_url", "Field required", "missing")
        number("steps", 1, 10000)
        number("number_of_steps", 1, 20000)
        number("learning_rate", 1e-7, 0.01)
        return errors
    if _output_kind(endpoint) == "image":
        if not isinstance(data.get("prompt"), str) or not data.get("prompt"):
            err("prompt", "Field required", "missing")
        number("num_images", 1, 8 if app == "fal-ai/lora" else 4)
        number("num_inference_steps", 1, 150 if app == "fal-ai/lora" else 50)
        number("guidance_scale", 0, 35)
        size = data.get("image_size")
        if size is not None and not (
            (isinstance(size, str) and size in IMAGE_SIZES)
            or (isinstance(size, dict) and isinstance(size.get("width"), int) and isinstance(size.get("height"), int))
        ):
            err("image_size", "Input should be a preset name or {width, height}")
        loras = data.get("loras")
        if loras is not None and (
            not isinstance(loras, list) or not all(isinstance(x, dict) and x.get("path") for x in loras)
        ):
            err("loras", "Each LoRA needs a path")
        if "/image-to-image" in endpoint and not data.get("image_url"):
            err("image_url", "Field required", "missing")
    return errors


def _is_trainer(app: str) -> bool:
    return "trainer" in app or "training" in app


def _output_kind(endpoint: str) -> str:
    lowered = endpoint.lower()
    if any(word in lowered for word in ("video", "wan-", "kling", "veo", "t2v", "i2v", "luma", "minimax")):
        return "video"
    if any(word in lowered for word in ("audio", "tts", "music", "speech")):
        return "audio"
    return "image"


def _input_steps(data: dict[str, Any]) -> int | None:
    for name in ("steps", "number_of_steps", "iterations"):
        if isinstance(data.get(name), int):
            return int(data[name])
    return None


def _log(message: str) -> dict[str, Any]:
    return {"message": message, "level": "INFO", "source": "user", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _size(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, dict):
        return int(image_size["width"]), int(image_size["height"])
    return IMAGE_SIZES.get(str(image_size), (1024, 768))


def _picture(width: int, height: int, seed: int, fmt: str) -> bytes:
    """A real, cheap-to-make picture: a seeded gradient with a disc, so files differ by seed."""
    from PIL import Image, ImageDraw

    rnd = random.Random(seed)
    base = tuple(rnd.randint(40, 200) for _ in range(3))
    img = Image.new("RGB", (width, height), base)
    draw = ImageDraw.Draw(img)
    r = min(width, height) // 4
    cx, cy = rnd.randint(r, width - r), rnd.randint(r, height - r)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(255 - c for c in base))
    out = io.BytesIO()
    img.save(out, "PNG" if fmt == "png" else "JPEG", quality=85)
    return out.getvalue()


def safetensors_bytes(tag: str, size: int) -> bytes:
    header = json.dumps(
        {
            "__metadata__": {"format": "pt", "fake": tag},
            "lora.weight": {"dtype": "F32", "shape": [size // 4], "data_offsets": [0, size // 4 * 4]},
        }
    ).encode()
    return struct.pack("<Q", len(header)) + header + random.Random(tag).randbytes(size // 4 * 4)


def _seed_of(data: dict[str, Any]) -> int:
    seed = data.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


def _wav() -> bytes:
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(bytes(1600))
    return out.getvalue()
