"""fal-client's HTTP transport, wrapped: the key only goes to fal's hosts, and a submit is never sent twice.

Loaded on the first call to fal (server/fal_gateway.py), with fal_client and httpx.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

import httpx

from server.fal_hosts import may_carry_key

log = logging.getLogger(__name__)

# Set only while FalGateway.submit (server/fal_gateway.py) awaits fal-client, so the guard acts on that one POST
# and nothing else (a context variable is per task: concurrent status polls and uploads are untouched).
SUBMITTING: contextvars.ContextVar[bool] = contextvars.ContextVar("fal_gateway_submitting", default=False)

# Failures that prove the request never left this machine: retrying them cannot create a second job.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class AmbiguousSubmission(Exception):
    """Raised inside fal-client's retry loop to stop it: not an httpx error, so fal-client does not retry it."""

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class FalOnlyKeyTransport(httpx.AsyncBaseTransport):
    """Drops the `Authorization` header from any request to a host that is not fal's.

    fal-client sends every request of its shared client with the key, including the PUT to the `upload_url`
    that fal's storage fallback answers with (a signed URL on another host). Whatever an answer names, the key
    only goes to fal's own hosts.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, base_url: str | None) -> None:
        self._inner = inner
        self._base_url = base_url

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "authorization" in request.headers and not may_carry_key(request.url, self._base_url):
            del request.headers["authorization"]
            log.info("sent %s %s without the API key: not a fal host", request.method, request.url.host)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class SubmitGuardTransport(httpx.AsyncBaseTransport):
    """Wraps fal-client's transport; during a submit, turns every failure after sending into AmbiguousSubmission.

    fal-client retries transport errors and ingress 502/503/504 on every request, the submit POST included.
    A job POST that was sent and then lost its connection, timed out reading, or got a gateway error from
    fal's ingress (502/504: the upstream may have accepted it) may have queued a paid job already.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not (SUBMITTING.get() and request.method == "POST"):
            return await self._inner.handle_async_request(request)
        try:
            response = await self._inner.handle_async_request(request)
        except NOT_SENT:
            raise  # fal-client may retry: nothing reached fal
        except httpx.TransportError as exc:
            reason = f"the connection failed after the request was sent ({type(exc).__name__})"
            raise AmbiguousSubmission(reason) from exc
        if response.status_code in (502, 504) and "x-fal-request-id" not in response.headers:
            await response.aclose()
            raise AmbiguousSubmission(
                f"fal.ai's gateway answered HTTP {response.status_code} after receiving the request",
                response.status_code,
            )
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


_client_class: type | None = None


def submit_safe_client_class() -> type:
    """A `fal_client.AsyncClient` whose HTTP client routes through `SubmitGuardTransport`.

    Built on first use so that importing this module does not import fal_client. The HTTP client is
    made exactly as fal-client 1.0.3 makes it (auth header, user agent, timeout, backup-domain
    transport); only the transport is wrapped.
    """
    global _client_class
    if _client_class is None:
        import fal_client
        import fal_client.client as fc

        class SubmitSafeAsyncClient(fal_client.AsyncClient):
            fal_base_url: str | None = None  # the configured test base URL: it counts as a fal host

            @property
            def _client(self) -> Any:  # fal-client awaits `self._client`
                return self._guarded_http()

            async def _guarded_http(self) -> httpx.AsyncClient:
                cached = self.__dict__.get("_guarded")
                if cached is not None:
                    return cached
                auth = await self._auth
                cached = self.__dict__.get("_guarded")  # another task may have built it meanwhile
                if cached is None:
                    # fal-client's own transport (falls back to backup domains); plain httpx if a release drops it
                    inner = getattr(fc, "AsyncBackupDomainTransport", httpx.AsyncHTTPTransport)()
                    keyed = FalOnlyKeyTransport(inner, self.fal_base_url)
                    cached = httpx.AsyncClient(
                        transport=SubmitGuardTransport(keyed),
                        headers={
                            "Authorization": auth.header_value,
                            "User-Agent": getattr(fc, "USER_AGENT", "fal-client"),
                        },
                        timeout=self.default_timeout,
                    )
                    self.__dict__["_guarded"] = cached
                return cached

        _client_class = SubmitSafeAsyncClient
    return _client_class
