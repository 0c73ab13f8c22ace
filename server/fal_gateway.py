"""The one way this project talks to fal.ai: queue jobs, uploads and file downloads.

Wraps the real `fal_client.AsyncClient` (which owns fal's HTTP protocol and its retries) and turns
every failure into a `FalError` whose message a person can act on. Knows nothing about MCP.

Longer than 500 lines because every call to fal (queue, uploads, downloads) goes through this one class and
shares its explanations of failures. The submit-once guard around fal-client's transport is
server/fal_transport.py. httpx and fal_client are imported on first use: the server starts without them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlparse

import anyio

from server.config import MISSING_KEY_HELP, Settings
from server.disk import disk_full, is_out_of_room
from server.fal_hosts import is_fal_media
from server.storage import Store, utc_now

if TYPE_CHECKING:
    import fal_client
    import httpx

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "completed"]

DOWNLOAD_ATTEMPTS = 4
DOWNLOAD_TIMEOUT_SECONDS = 60.0
DOWNLOAD_CONNECT_SECONDS = 15.0
MAX_REDIRECTS = 5
# fal-client gives each status/cancel request 120 s and retries timeouts up to 10 times: a stalled connection
# could hold a poll (and the background watcher behind it) for many minutes. Polls are idempotent, so we cut
# them off here and the next tick tries again.
POLL_DEADLINE_SECONDS = 30.0


class FalError(Exception):
    """A fal.ai failure explained for a person: what happened and what to do next."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        retryable: bool = False,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_type = error_type
        self.retryable = retryable
        # True only for a submission that may or may not have been accepted (and billed) by fal:
        # the caller must not resubmit, but mark the job as unknown and point the user at the dashboard.
        self.ambiguous = ambiguous


@dataclass
class JobStatus:
    state: JobState
    queue_position: int | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None


@dataclass
class Download:
    path: Path
    sha256: str
    size: int
    content_type: str | None


def redirect_fal_client(base_url: str) -> None:
    """Point fal-client's queue, run, storage-token and CDN hosts at `base_url` (plain http allowed).

    fal-client reads these module globals at call time; environment variables cannot express http
    or cover uploads. Used by end-to-end tests against a local fake fal server.
    """
    import fal_client.client as fal_client_module

    base = base_url.rstrip("/")
    fal_client_module.RUN_URL_FORMAT = base + "/run/"
    fal_client_module.QUEUE_URL_FORMAT = base + "/queue/"
    fal_client_module.REST_URL = base + "/rest"
    fal_client_module.CDN_URL = base + "/cdn"


def app_id(endpoint: str) -> str:
    """`owner/alias` part of an endpoint id: status/result/cancel URLs drop any sub-path."""
    parts = endpoint.strip("/").split("/")
    return "/".join(parts[:2])


class SecretRedactor(logging.Filter):
    """Masks registered secrets in log records (message, arguments and traceback text); never drops a record.

    fal-client logs the text of HTTP errors (retries, upload fallbacks); if fal ever echoed the key in an
    error body, that text would reach the host's log. Attached to those loggers and to the handlers present
    when the first gateway is built (the stderr handler of the CLI), so our own records are covered too.
    """

    LOGGERS = ("fal_client", "fal_client.client", "httpx", "httpcore.http11", "httpcore.connection")

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secret: str) -> None:
        self._secrets |= {part for part in (secret, *secret.split(":")) if len(part) >= 6}
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)
        for handler in logging.getLogger().handlers:
            if self not in handler.filters:
                handler.addFilter(self)

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


LOG_REDACTOR = SecretRedactor()


class FalGateway:
    """Async access to fal for one event loop (fal-client caches an HTTP client per loop)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._key = settings.fal_key.get_secret_value() if settings.fal_key else None
        if self._key:
            LOG_REDACTOR.add(self._key)
        if settings.fal_base_url:
            redirect_fal_client(settings.fal_base_url)
        self._client: fal_client.AsyncClient | None = None
        self._http: httpx.AsyncClient | None = None

    # -- plumbing -------------------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return bool(self._key)

    def require_key(self) -> None:
        if not self._key:
            raise FalError(MISSING_KEY_HELP)

    @property
    def client(self) -> fal_client.AsyncClient:
        self.require_key()
        if self._client is None:
            from server.fal_transport import submit_safe_client_class

            client: Any = submit_safe_client_class()(key=self._key)
            client.fal_base_url = self._settings.fal_base_url
            self._client = client
        return self._client

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            timeout = httpx.Timeout(DOWNLOAD_TIMEOUT_SECONDS, connect=DOWNLOAD_CONNECT_SECONDS)
            self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        guarded = self._client.__dict__.pop("_guarded", None) if self._client is not None else None
        if guarded is not None:
            await guarded.aclose()

    def redact(self, text: str) -> str:
        """Remove the API key (and its halves) from any text before it leaves the server."""
        if not self._key:
            return text
        for secret in {self._key, *self._key.split(":")}:
            if len(secret) >= 6:
                text = text.replace(secret, "***")
        return text

    def _explain(self, exc: BaseException, action: str) -> FalError:
        import fal_client
        import httpx
        from fal_client.auth import MissingCredentialsError

        if isinstance(exc, FalError):
            return exc
        if isinstance(exc, MissingCredentialsError):
            return FalError(MISSING_KEY_HELP)
        if isinstance(exc, fal_client.FalClientHTTPError):
            return self._explain_http(exc, action)
        if isinstance(exc, httpx.TimeoutException):
            return FalError(
                f"fal.ai did not answer in time while trying to {action}. Nothing was lost; try again in a minute.",
                retryable=True,
            )
        if isinstance(exc, httpx.HTTPError | OSError):
            return FalError(
                f"Could not reach fal.ai to {action} ({type(exc).__name__}: {self.redact(str(exc)) or 'no detail'}). "
                "Check the network connection and try again.",
                retryable=True,
            )
        return FalError(f"Unexpected failure while trying to {action}: {type(exc).__name__}: {self.redact(str(exc))}")

    def _explain_http(self, exc: fal_client.FalClientHTTPError, action: str) -> FalError:
        code = exc.status_code
        detail = self.redact(_format_detail(exc.message))
        kind = exc.error_type
        if code in (401, 403):
            text = (
                f"fal.ai refused the API key while trying to {action} (HTTP {code}: {detail}). Check that FAL_KEY is "
                "a valid, active key from https://fal.ai/dashboard/keys."
            )
            return FalError(text, status_code=code, error_type=kind)
        if code == 402 or (kind or "").lower() in {"insufficient_balance", "payment_required"}:
            text = f"fal.ai says the account cannot pay for this ({detail}). Add credit at https://fal.ai/dashboard/billing."
            return FalError(text, status_code=code, error_type=kind)
        if code == 404:
            return FalError(
                f"fal.ai does not know what was asked while trying to {action} (HTTP 404: {detail}). "
                "Check the endpoint id (e.g. fal-ai/flux-lora) or the request id.",
                status_code=code,
                error_type=kind,
            )
        if code == 422:
            return FalError(
                f"fal.ai rejected the input while trying to {action}: {detail}. Fix those fields and call again.",
                status_code=code,
                error_type=kind,
            )
        if code == 429:
            return FalError(
                f"fal.ai is rate-limiting this key (HTTP 429) while trying to {action}, even after retries. Wait a "
                "minute and try again.",
                status_code=code,
                error_type=kind,
                retryable=True,
            )
        if code >= 500:
            return FalError(
                f"fal.ai had a server error (HTTP {code}: {detail}) while trying to {action}. This is on fal's side; "
                "try again in a minute.",
                status_code=code,
                error_type=kind,
                retryable=True,
            )
        return FalError(
            f"fal.ai answered HTTP {code} while trying to {action}: {detail}", status_code=code, error_type=kind
        )

    # -- queue ----------------------------------------------------------------------------------------

    async def submit(self, endpoint: str, arguments: dict[str, Any]) -> str:
        """Queue a job; returns fal's request id. The caller records it before doing anything else.

        Never submits twice: fal-client retries its POST on any transport error, which would create a
        second paid job if fal had accepted the first one before the connection broke. Here the POST is
        retried only when it cannot have reached fal (connection refused, 429, ingress 503); otherwise
        a FalError with `ambiguous=True` says the job may exist and must not be blindly resubmitted.
        """
        from server.fal_transport import SUBMITTING, AmbiguousSubmission

        token = SUBMITTING.set(True)
        try:
            handle = await self.client.submit(endpoint, arguments)
        except BaseException as exc:
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            if isinstance(exc, AmbiguousSubmission):
                raise FalError(
                    f"The submission to {endpoint} may or may not have reached fal.ai: {exc.reason}. It was not "
                    "retried, so that the job (and its cost) cannot be doubled. Check https://fal.ai/dashboard "
                    "(Requests) for a new request before submitting again.",
                    # No status code: fal's application gave no answer (a 502/504 came from its ingress), and
                    # callers read `status_code is not None` as "fal refused, no job exists".
                    ambiguous=True,
                ) from exc
            raise self._explain(exc, f"submit a job to {endpoint}") from exc
        finally:
            SUBMITTING.reset(token)
        return handle.request_id

    async def status(self, endpoint: str, request_id: str, *, with_logs: bool = True) -> JobStatus:
        import fal_client

        try:
            with anyio.fail_after(POLL_DEADLINE_SECONDS):
                status = await self.client.status(app_id(endpoint), request_id, with_logs=with_logs)
        except TimeoutError as exc:
            raise FalError(
                f"fal.ai did not answer a status request for {endpoint} request {request_id} within "
                f"{POLL_DEADLINE_SECONDS:.0f} s. The job is unaffected; ask again in a minute.",
                retryable=True,
            ) from exc
        except Exception as exc:
            raise self._explain(exc, f"read the status of {endpoint} request {request_id}") from exc
        if isinstance(status, fal_client.Queued):
            return JobStatus("queued", queue_position=status.position)
        if isinstance(status, fal_client.InProgress):
            return JobStatus("running", logs=list(status.logs or []))
        if isinstance(status, fal_client.Completed):
            return JobStatus(
                "completed",
                logs=list(status.logs or []),
                metrics=dict(status.metrics or {}),
                error=self.redact(status.error) if status.error else None,
                error_type=status.error_type,
            )
        raise FalError(f"fal.ai returned an unknown status for request {request_id}: {status!r}")

    async def result(self, endpoint: str, request_id: str) -> dict[str, Any]:
        """The finished job's output. A failed job raises FalError carrying fal's own message."""
        try:
            result = await self.client.result(app_id(endpoint), request_id)
        except Exception as exc:
            if getattr(exc, "status_code", None) == 404:
                raise FalError(
                    f"fal.ai no longer has the result of {endpoint} request {request_id} (HTTP 404): results are kept "
                    "only for a limited time after the job finishes (about an hour, minutes for large results), so "
                    "it has expired, or the request id is wrong. Files already saved locally are unaffected; "
                    "otherwise the job must be run again.",
                    status_code=404,
                    error_type="result_expired",
                ) from exc
            raise self._explain(exc, f"fetch the result of {endpoint} request {request_id}") from exc
        if not isinstance(result, dict):
            raise FalError(f"fal.ai returned a result that is not a JSON object for request {request_id}.")
        return result

    async def cancel(self, endpoint: str, request_id: str) -> None:
        try:
            with anyio.fail_after(POLL_DEADLINE_SECONDS):
                await self.client.cancel(app_id(endpoint), request_id)
        except TimeoutError as exc:
            raise FalError(
                f"fal.ai did not confirm the cancellation of {endpoint} request {request_id} within "
                f"{POLL_DEADLINE_SECONDS:.0f} s; check its status before assuming it stopped.",
                retryable=True,
            ) from exc
        except Exception as exc:
            raise self._explain(exc, f"cancel {endpoint} request {request_id}") from exc

    # -- files ----------------------------------------------------------------------------------------

    async def upload_file(self, path: Path) -> str:
        try:
            return await self.client.upload_file(path)
        except Exception as exc:
            raise self._explain(exc, f"upload {path.name} to fal storage") from exc

    async def upload_file_once(self, store: Store, path: Path) -> tuple[str, bool]:
        """Upload unless these exact bytes were uploaded before. Returns (url, uploaded_now)."""
        digest, size = await anyio.to_thread.run_sync(_sha256_file, path)
        known = store.query_one("SELECT url FROM uploads WHERE sha256 = ?", (digest,))
        if known:
            return known["url"], False
        url = await self.upload_file(path)
        store.execute(
            "INSERT OR IGNORE INTO uploads (sha256, url, size, file_name, created_at) VALUES (?, ?, ?, ?, ?)",
            (digest, url, size, path.name, utc_now()),
        )
        return url, True

    async def file_alive(self, url: str) -> bool | None:
        """Whether a file in fal storage is still there (fal keeps uploads about 7 days): a HEAD, no key sent.

        True: it answers; False: gone (403/404/410); None: cannot tell (network error, another status, or not a
        fal storage URL), so the caller keeps what it has rather than uploading again on a hiccup.
        """
        if not is_fal_media(url, self._settings.fal_base_url):
            return None
        import httpx

        try:
            with anyio.fail_after(15):
                response = await self.http.head(url)
        except (httpx.HTTPError, TimeoutError):
            return None
        if response.status_code in (403, 404, 410):
            return False
        return True if response.status_code < 400 else None

    def forget_upload(self, store: Store, url: str) -> None:
        """Drop a dead URL from the upload cache, so the same bytes are uploaded again instead of reused."""
        store.execute("DELETE FROM uploads WHERE url = ?", (url,))

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int | None = None,
        deadline_seconds: float | None = None,
    ) -> Download:
        """Fetch a fal file URL (or a data: URI from sync mode) to `dest`, atomically, with retries.

        Only https URLs on fal's media hosts (or the configured base URL) are fetched, redirects included.
        Every attempt together must finish within `deadline_seconds` (default: the download deadline setting)
        and the file must not exceed `max_bytes` (default: the size cap setting): a trickling or endless answer
        cannot hold the caller. A partial download never replaces `dest`: bytes go to a temporary file that is
        renamed only once complete and of the announced length.
        """
        limit = self._settings.max_download_bytes if max_bytes is None else max_bytes
        deadline = self._settings.download_deadline_seconds if deadline_seconds is None else deadline_seconds
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if url.startswith("data:"):
                if len(url) > limit * 4 // 3 + 1024:
                    raise FalError(f"Inline file is over the {limit} byte limit; it was not saved.")
                payload, content_type = _decode_data_uri(url)
                if len(payload) > limit:
                    raise FalError(f"Inline file is {len(payload)} bytes, over the {limit} byte limit.")
                await anyio.to_thread.run_sync(_write_atomic, dest, payload)
                return Download(dest, hashlib.sha256(payload).hexdigest(), len(payload), content_type)
            self._check_media_url(url, url)
            with anyio.fail_after(deadline):
                return await self._download_with_retries(url, dest, limit)
        except TimeoutError as exc:
            raise FalError(
                f"The download of {url} did not finish within {deadline:.0f} s (the per-file deadline), so it was "
                "stopped and nothing was kept. fal or the network is slow; it is tried again later.",
                retryable=True,
            ) from exc
        except OSError as exc:
            if is_out_of_room(exc):
                raise disk_full(exc, dest.parent, f"save {dest.name}") from exc
            raise

    def _check_media_url(self, url: str, original: str) -> None:
        if not is_fal_media(url, self._settings.fal_base_url):
            via = "" if url == original else f" (a redirect from {original})"
            raise FalError(
                f"Refusing to download {url[:300]}{via}: result files are fetched only over https from fal's media "
                "hosts (*.fal.media, fal's storage buckets). The result may not come from fal; nothing was fetched."
            )

    async def _download_with_retries(self, url: str, dest: Path, max_bytes: int) -> Download:
        import httpx

        last: BaseException | None = None
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                return await self._download_once(url, dest, max_bytes)
            except FalError:
                raise
            except (httpx.HTTPError, OSError) as exc:
                if is_out_of_room(exc):
                    raise
                last = exc
                retryable = not isinstance(exc, httpx.HTTPStatusError) or exc.response.status_code in (
                    408,
                    429,
                    500,
                    502,
                    503,
                    504,
                )
                if not retryable or attempt == DOWNLOAD_ATTEMPTS:
                    break
                await anyio.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
        if isinstance(last, httpx.HTTPStatusError) and last.response.status_code in (403, 404, 410):
            raise FalError(
                f"The file at {url} is gone (HTTP {last.response.status_code}); fal file URLs expire. "
                "If it was a result, it must be fetched again from its job or regenerated."
            )
        raise self._explain(last or RuntimeError("download failed"), f"download {url}")

    @asynccontextmanager
    async def _open_checked(self, url: str) -> AsyncIterator[httpx.Response]:
        """GET `url`, following at most MAX_REDIRECTS redirects, each target checked like the URL itself."""
        import httpx

        target = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            request = self.http.build_request("GET", target)
            response = await self.http.send(request, stream=True)
            if not response.is_redirect:
                try:
                    yield response
                finally:
                    await response.aclose()
                return
            location = response.headers.get("location", "")
            await response.aclose()
            target = target.join(location)
            self._check_media_url(str(target), url)
        raise FalError(f"{url} redirected more than {MAX_REDIRECTS} times; nothing was fetched.")

    async def _download_once(self, url: str, dest: Path, max_bytes: int) -> Download:
        import httpx

        tmp = dest.with_name(dest.name + ".part")
        digest = hashlib.sha256()
        size = 0
        try:
            async with self._open_checked(url) as response:
                response.raise_for_status()
                announced = response.headers.get("content-length")
                if announced is not None and int(announced) > max_bytes:
                    raise FalError(f"{url} is {int(announced)} bytes, over the {max_bytes} byte limit.")
                with tmp.open("wb") as out:
                    async for chunk in response.aiter_bytes(1 << 16):
                        size += len(chunk)
                        if size > max_bytes:
                            raise FalError(f"{url} is over the {max_bytes} byte limit; download stopped.")
                        digest.update(chunk)
                        out.write(chunk)
                if announced is not None and size != int(announced):
                    raise httpx.ReadError(f"connection closed after {size} of {announced} bytes")
                content_type = response.headers.get("content-type")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return Download(dest, digest.hexdigest(), size, content_type)


def _format_detail(detail: Any) -> str:
    """fal's `detail` is a string, or a list of pydantic-style errors for 422."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                msg = item.get("msg", "invalid")
                parts.append(f"{loc}: {msg}" if loc else str(msg))
            else:
                parts.append(str(item))
        return "; ".join(parts) or "no detail"
    text = str(detail).strip()
    return text[:500] or "no detail"


def file_name_from_url(url: str, fallback: str) -> str:
    name = unquote(urlparse(url).path.rsplit("/", 1)[-1]) if not url.startswith("data:") else ""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return name or fallback


def _decode_data_uri(uri: str) -> tuple[bytes, str | None]:
    header, _, data = uri.partition(",")
    content_type = header[5:].split(";")[0] or None
    if header.endswith(";base64"):
        return base64.b64decode(data), content_type
    return unquote(data).encode(), content_type


def _write_atomic(dest: Path, payload: bytes) -> None:
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(payload)
    os.replace(tmp, dest)


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
