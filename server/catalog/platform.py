"""fal's Platform API (`/v1/models`, `/v1/models/pricing`): paged reads of the catalogue and unit prices.

The base is `https://api.fal.ai/v1`, or `<fal base URL>/v1` when the project's fal base URL setting points
elsewhere (tests). The key goes only to that base. Every failure is a `PlatformUnavailable`. httpx is imported
when a client is made: the catalogue is read from its snapshot at start, and the server starts without httpx.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from server.config import Settings

if TYPE_CHECKING:
    import httpx

Params = list[tuple[str, str | int | float | bool | None]]
Timeout = tuple[float, float]  # (seconds for the whole request, seconds to connect)

PLATFORM_BASE = "https://api.fal.ai/v1"
TIMEOUT: Timeout = (30.0, 5.0)  # a full refresh reads pages of schemas
ON_USE_TIMEOUT: Timeout = (6.0, 3.0)  # reads inside a tool call: short, older data is the fallback
PAGE_LIMIT = 50
MAX_PAGES = 40  # 2000 models per category: a runaway cursor stops here
IDS_PER_CALL = 50  # fal accepts 1–50 endpoint_id per call
CATEGORIES = ("training", "text-to-image", "image-to-video", "text-to-video")


class PlatformUnavailable(Exception):
    """fal's Platform API could not be read (no network, an error answer, a malformed page)."""


def platform_base(settings: Settings) -> str:
    return f"{settings.fal_base_url}/v1" if settings.fal_base_url else PLATFORM_BASE


class PlatformClient:
    def __init__(self, base: str, key: str | None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        import httpx

        self.base = base.rstrip("/")
        headers = {"Authorization": f"Key {key}"} if key else {}
        # a plain-http base (the test fake on loopback) needs no TLS context, which takes ~0.2 s to build
        tls = not self.base.startswith("http://")
        self._http = httpx.AsyncClient(
            timeout=_httpx_timeout(TIMEOUT), headers=headers, transport=transport, follow_redirects=False, verify=tls
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> PlatformClient:
        key = settings.fal_key.get_secret_value() if settings.fal_key else None
        return cls(platform_base(settings), key)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> PlatformClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get(self, path: str, params: Params, timeout: Timeout) -> dict[str, Any]:
        import httpx

        try:
            response = await self._http.get(self.base + path, params=params, timeout=_httpx_timeout(timeout))
        except httpx.HTTPError as exc:
            raise PlatformUnavailable(f"fal's Platform API is unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise PlatformUnavailable(f"fal's Platform API answered HTTP {response.status_code} for {path}")
        try:
            body = response.json()
        except ValueError:
            raise PlatformUnavailable(f"fal's Platform API answered non-JSON for {path}") from None
        if not isinstance(body, dict):
            raise PlatformUnavailable(f"fal's Platform API answered an unexpected shape for {path}")
        return body

    async def _paged(self, path: str, params: Params, items: str, timeout: Timeout = TIMEOUT) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            paging: Params = [("limit", str(PAGE_LIMIT))]
            if cursor:
                paging.append(("cursor", cursor))
            page = await self._get(path, [*params, *paging], timeout)
            rows = page.get(items)
            if not isinstance(rows, list):
                raise PlatformUnavailable(f"fal's Platform API page for {path} has no {items!r} list")
            out.extend(row for row in rows if isinstance(row, dict))
            cursor = page.get("next_cursor") if page.get("has_more") else None
            if not isinstance(cursor, str) or not cursor:
                break
        return out

    async def models(
        self,
        *,
        category: str | None = None,
        endpoint_ids: Iterable[str] = (),
        expand: bool = True,
        timeout: Timeout = TIMEOUT,
    ) -> list[dict[str, Any]]:
        """Raw `models` entries in fal's answer format (all pages)."""
        params: Params = [("expand", "openapi-3.0")] if expand else []
        if category:
            params.append(("category", category))
        ids = list(endpoint_ids)
        if not ids:
            return await self._paged("/models", params, "models", timeout)
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), IDS_PER_CALL):
            chunk: Params = [("endpoint_id", endpoint_id) for endpoint_id in ids[start : start + IDS_PER_CALL]]
            out += await self._paged("/models", params + chunk, "models", timeout)
        return out

    async def prices(self, endpoint_ids: Iterable[str], timeout: Timeout = TIMEOUT) -> list[dict[str, Any]]:
        """Raw `prices` entries: `{endpoint_id, unit_price, unit, currency}`."""
        ids = list(dict.fromkeys(endpoint_ids))
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), IDS_PER_CALL):
            chunk: Params = [("endpoint_id", endpoint_id) for endpoint_id in ids[start : start + IDS_PER_CALL]]
            out += await self._paged("/models/pricing", chunk, "prices", timeout)
        return out


def _httpx_timeout(timeout: Timeout) -> httpx.Timeout:
    import httpx

    return httpx.Timeout(timeout[0], connect=timeout[1])
