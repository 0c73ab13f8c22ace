"""The catalogue service: what fal says about an endpoint (schemas, pairing, status) and its unit price.

Three layers, newest first: entries fetched live from fal's Platform API (kept in the cache with their age),
the shipped snapshot, nothing. Loading is lazy (first use, not import). Live reads happen only with a key,
are short, back off after a failure, and never raise: a failed refresh leaves older data and a note.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio

from server.catalog import snapshot as snapshot_file
from server.catalog import validate
from server.catalog.cache import CatalogCache
from server.catalog.platform import CATEGORIES, ON_USE_TIMEOUT, PlatformClient, PlatformUnavailable
from server.catalog.trim import trim_model, trim_price
from server.config import Settings

SCHEMA_MAX_AGE_SECONDS = 7 * 86400  # an entry older than this is re-read from fal on use
PRICE_MAX_AGE_SECONDS = 86400
BACKOFF_SECONDS = 120.0  # after fal's Platform API failed, live reads pause this long
MISSING_RETRY_SECONDS = 600.0  # an id fal did not know is asked again after this long


@dataclass(frozen=True)
class CatalogEntry:
    endpoint_id: str
    category: str
    kind: str  # inference | training
    status: str  # active | deprecated
    display_name: str
    description: str
    inference_endpoint_ids: tuple[str, ...]
    training_endpoint_ids: tuple[str, ...]
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    source: str  # snapshot | live
    as_of: float  # epoch seconds the data was fetched/captured

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str, as_of: float) -> CatalogEntry:
        return cls(
            endpoint_id=data["endpoint_id"],
            category=data.get("category", ""),
            kind=data.get("kind", "inference"),
            status=data.get("status", "active"),
            display_name=data.get("display_name", ""),
            description=data.get("description", ""),
            inference_endpoint_ids=tuple(data.get("inference_endpoint_ids") or ()),
            training_endpoint_ids=tuple(data.get("training_endpoint_ids") or ()),
            input_schema=data.get("input"),
            output_schema=data.get("output"),
            source=source,
            as_of=as_of,
        )

    @property
    def properties(self) -> dict[str, Any]:
        return dict((self.input_schema or {}).get("properties") or {})

    @property
    def output_properties(self) -> dict[str, Any]:
        return dict((self.output_schema or {}).get("properties") or {})

    @property
    def age_note(self) -> str:
        return age_note(self.source, self.as_of)


@dataclass(frozen=True)
class UnitPrice:
    endpoint_id: str
    unit_price: float
    unit: str  # what one unit is: image, megapixel, second, step, ...
    currency: str
    source: str
    as_of: float

    @property
    def age_note(self) -> str:
        return age_note(self.source, self.as_of)


@dataclass
class RefreshReport:
    ok: bool
    note: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # schema, status or pairing differs
    prices_changed: list[str] = field(default_factory=list)
    models: int = 0
    prices: int = 0


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def age_note(source: str, as_of: float) -> str:
    if not as_of:
        return f"{source} data of unknown date"
    day = datetime.fromtimestamp(as_of, tz=timezone.utc).strftime("%Y-%m-%d")
    days = max(0, int((time.time() - as_of) // 86400))
    return f"{source} data from {day} ({days} day{'s' if days != 1 else ''} old)"


class Catalog:
    def __init__(self, settings: Settings, snapshot_path: Path = snapshot_file.SNAPSHOT_PATH) -> None:
        self._settings = settings
        self._snapshot_path = snapshot_path
        self._cache = CatalogCache(settings.home / "fal-catalog-cache.sqlite3")
        self._lock = threading.Lock()
        self._entries: dict[str, CatalogEntry] | None = None
        self._prices: dict[str, UnitPrice] = {}
        self._snapshot_note = ""
        self._backoff_until = 0.0
        self._asked: dict[str, float] = {}  # endpoint id → when fal was last asked about it (monotonic)
        self._price_asked: dict[str, float] = {}
        self._client: PlatformClient | None = None  # one connection pool for every live read
        self.last_note = ""  # why the data is older than wished, if a live read failed

    # -- loading --------------------------------------------------------------------------------------

    def _load(self) -> dict[str, CatalogEntry]:
        with self._lock:
            if self._entries is not None:
                return self._entries
            snap = snapshot_file.read(self._snapshot_path)
            captured = _epoch(snap.captured_at)
            self._snapshot_note = f"{snap.source}, captured {snap.captured_at[:10] or 'at an unknown date'}"
            entries = {eid: CatalogEntry.from_dict(data, "snapshot", captured) for eid, data in snap.models.items()}
            prices = {
                eid: UnitPrice(eid, p["unit_price"], p["unit"], p["currency"], "snapshot", captured)
                for eid, p in snap.prices.items()
            }
            for eid, (data, fetched_at) in self._cache.models().items():
                if fetched_at >= entries.get(eid, _NO_ENTRY).as_of:
                    entries[eid] = CatalogEntry.from_dict(data, "live", fetched_at)
            for eid, (p, fetched_at) in self._cache.prices().items():
                if eid not in prices or fetched_at >= prices[eid].as_of:
                    prices[eid] = UnitPrice(eid, p["unit_price"], p["unit"], p["currency"], "live", fetched_at)
            self._entries, self._prices = entries, prices
            return entries

    def warm(self) -> None:
        """Load the snapshot and the schema validator ahead of the first request (blocking: run in a thread)."""
        self._load()
        validate.validator_for({"type": "object"})
        if self._settings.has_fal_key:
            self._platform()  # its TLS context takes tens of ms to build

    def _platform(self) -> PlatformClient:
        with self._lock:  # the warm-up thread and the event loop may both ask first
            if self._client is None:
                self._client = PlatformClient.for_settings(self._settings)
            return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._cache.close()

    # -- reading --------------------------------------------------------------------------------------

    def get(self, endpoint_id: str) -> CatalogEntry | None:
        """What is known now, without asking fal."""
        return self._load().get(endpoint_id.strip("/"))

    def entries(self, *, kind: str | None = None) -> list[CatalogEntry]:
        return sorted(
            (entry for entry in self._load().values() if kind is None or entry.kind == kind),
            key=lambda entry: entry.endpoint_id,
        )

    def cached_price(self, endpoint_id: str) -> UnitPrice | None:
        self._load()
        return self._prices.get(endpoint_id)

    @property
    def snapshot_note(self) -> str:
        self._load()
        return self._snapshot_note

    def _live_allowed(self) -> bool:
        return self._settings.has_fal_key and time.monotonic() >= self._backoff_until

    def _failed(self, exc: PlatformUnavailable) -> None:
        self._backoff_until = time.monotonic() + BACKOFF_SECONDS
        self.last_note = f"{exc}; using older catalogue data"

    async def lookup(self, endpoint_id: str) -> CatalogEntry | None:
        """The entry for `endpoint_id`, read from fal first when it is missing here or stale. Never raises."""
        endpoint_id = endpoint_id.strip("/")
        known = self.get(endpoint_id)
        fresh = known is not None and known.source == "live" and time.time() - known.as_of < SCHEMA_MAX_AGE_SECONDS
        asked = self._asked.get(endpoint_id)
        recently_asked = asked is not None and time.monotonic() - asked < MISSING_RETRY_SECONDS
        if fresh or recently_asked or not self._live_allowed():
            return known
        self._asked[endpoint_id] = time.monotonic()
        try:
            raw = await self._platform().models(endpoint_ids=[endpoint_id], timeout=ON_USE_TIMEOUT)
        except PlatformUnavailable as exc:
            self._failed(exc)
            return known
        self._store_models([entry for entry in map(trim_model, raw) if entry is not None])
        return self.get(endpoint_id)

    async def lookup_priced(self, endpoint_id: str) -> CatalogEntry | None:
        """`lookup`, with the endpoint's price refreshed at the same time (one round trip, not two)."""
        async with anyio.create_task_group() as group:
            group.start_soon(self.prices, [endpoint_id.strip("/")])
            found = await self.lookup(endpoint_id)
        return found

    async def price(self, endpoint_id: str) -> UnitPrice | None:
        """fal's unit price for `endpoint_id`, refreshed when older than a day. Never raises."""
        await self.prices([endpoint_id])
        return self.cached_price(endpoint_id)

    async def prices(self, endpoint_ids: list[str]) -> None:
        """Refresh the stale prices among `endpoint_ids` in one call (when a key and the network allow)."""
        self._load()
        now = time.monotonic()
        stale = [
            eid
            for eid in dict.fromkeys(endpoint_ids)
            if (eid not in self._prices or self._prices[eid].source != "live"
                or time.time() - self._prices[eid].as_of > PRICE_MAX_AGE_SECONDS)
            and now - self._price_asked.get(eid, -1e9) > MISSING_RETRY_SECONDS
        ]  # fmt: skip
        if not stale or not self._live_allowed():
            return
        for eid in stale:
            self._price_asked[eid] = now
        try:
            raw = await self._platform().prices(stale, timeout=ON_USE_TIMEOUT)
        except PlatformUnavailable as exc:
            self._failed(exc)
            return
        self._store_prices([price for price in map(trim_price, raw) if price is not None])

    # -- writing --------------------------------------------------------------------------------------

    def _store_models(self, entries: list[dict[str, Any]]) -> None:
        now = time.time()
        self._cache.put_models(entries, now)
        loaded = self._load()
        with self._lock:
            for data in entries:
                loaded[data["endpoint_id"]] = CatalogEntry.from_dict(data, "live", now)

    def _store_prices(self, prices: list[dict[str, Any]]) -> None:
        now = time.time()
        self._cache.put_prices(prices, now)
        with self._lock:
            for p in prices:
                self._prices[p["endpoint_id"]] = UnitPrice(
                    p["endpoint_id"], p["unit_price"], p["unit"], p["currency"], "live", now
                )

    async def refresh(self, categories: tuple[str, ...] = CATEGORIES) -> RefreshReport:
        """Re-read every category and all their prices from fal; say what changed. Never raises."""
        if not self._settings.has_fal_key:
            return RefreshReport(False, f"No fal key: kept {self.snapshot_note}.")
        before = {eid: _fingerprint(entry) for eid, entry in self._load().items()}
        before_prices = {eid: (p.unit_price, p.unit) for eid, p in self._prices.items()}
        try:
            client = self._platform()
            raw: list[dict[str, Any]] = []
            for category in categories:
                raw += await client.models(category=category)
            entries = [entry for entry in map(trim_model, raw) if entry is not None]
            raw_prices = await client.prices([entry["endpoint_id"] for entry in entries])
        except PlatformUnavailable as exc:
            self._failed(exc)
            return RefreshReport(False, f"{exc}. Kept the cached catalogue ({self.snapshot_note} plus live reads).")
        prices = [price for price in map(trim_price, raw_prices) if price is not None]
        self._store_models(entries)
        self._store_prices(prices)
        self._backoff_until = 0.0
        self.last_note = ""
        seen = {entry["endpoint_id"] for entry in entries}
        in_scope = {eid for eid, entry in self._load().items() if entry.category in categories}
        report = RefreshReport(True, f"Read {len(entries)} endpoints and {len(prices)} prices from fal just now.")
        report.models, report.prices = len(entries), len(prices)
        for eid in sorted(seen):
            fingerprint = _fingerprint(self._load()[eid])
            if eid not in before:
                report.added.append(eid)
            elif fingerprint != before[eid]:
                report.changed.append(eid)
        report.removed = sorted(in_scope - seen)  # kept, but fal no longer lists them
        for p in prices:
            if before_prices.get(p["endpoint_id"]) != (p["unit_price"], p["unit"]):
                report.prices_changed.append(p["endpoint_id"])
        self._cache.set_meta("last_refresh", str(time.time()))
        return report


_NO_ENTRY = CatalogEntry("", "", "", "", "", "", (), (), None, None, "none", -1.0)


def _fingerprint(entry: CatalogEntry) -> tuple[Any, ...]:
    return (
        entry.status,
        entry.inference_endpoint_ids,
        entry.training_endpoint_ids,
        json.dumps(entry.input_schema, sort_keys=True),
        json.dumps(entry.output_schema, sort_keys=True),
    )
