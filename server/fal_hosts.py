"""Which URLs belong to fal: where the API key may be sent, and where result files may be fetched from.

Everything else is a stranger: a hostile answer from fal (or from something pretending to be fal) can name any
URL, loopback and private addresses included, and must not receive the key nor be fetched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

# Hosts that speak fal's API and are owned by fal (the key is sent to them): queue, sync run, REST, CDN.
API_DOMAINS = ("fal.run", "fal.ai", "fal.media", "falrun.com")
# Hosts result files are served from. fal's older results and the GCS upload fallback live in fal's own
# buckets on Google Cloud Storage; other buckets on that host are not fal's.
MEDIA_DOMAINS = ("fal.media", "fal.ai", "fal.run")
MEDIA_BUCKETS = {"storage.googleapis.com": ("falserverless", "fal_cdn")}


def _origin(url: str | httpx.URL) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) as httpx itself parses the URL: the check sees the host httpx will connect to."""
    import httpx  # on the first check: the server starts without it

    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return None
    host = parsed.host.lower().rstrip(".")
    if not parsed.scheme or not host:
        return None
    return parsed.scheme, host, parsed.port or {"https": 443, "http": 80}.get(parsed.scheme)


def _in_domains(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def is_test_origin(url: str | httpx.URL, base_url: str | None) -> bool:
    """The configured fal base URL (the tests' fake fal) counts as fal, matched on scheme, host and port."""
    return bool(base_url) and _origin(url) is not None and _origin(url) == _origin(base_url or "")


def may_carry_key(url: str | httpx.URL, base_url: str | None = None) -> bool:
    """Whether a request to `url` may carry the fal API key: https to fal's own API hosts, or the test base."""
    if is_test_origin(url, base_url):
        return True
    origin = _origin(url)
    return origin is not None and origin[0] == "https" and _in_domains(origin[1], API_DOMAINS)


def is_fal_media(url: str | httpx.URL, base_url: str | None = None) -> bool:
    """Whether a result file URL (or a redirect target) may be fetched: https on fal's media hosts, or the test base."""
    if is_test_origin(url, base_url):
        return True
    origin = _origin(url)
    if origin is None or origin[0] != "https":
        return False
    if _in_domains(origin[1], MEDIA_DOMAINS):
        return True
    buckets = MEDIA_BUCKETS.get(origin[1])
    if buckets is None:
        return False
    import httpx

    first = httpx.URL(url).path.lstrip("/").split("/", 1)[0]
    return first in buckets
