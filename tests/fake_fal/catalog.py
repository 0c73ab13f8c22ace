"""fal's Platform API for the fake: `/v1/models` and `/v1/models/pricing` served from the shared catalogue data.

The data lives in `shared/fal-catalog/` beside the repository (`<repo>/../shared/fal-catalog`): fal's real
`/v1/models?expand=openapi-3.0` answers and the unit prices its README transcribes from fal's model pages.
Tests may add or replace entries (an endpoint newer than the capture, a changed schema, a new price).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from server.catalog import validate
from server.catalog.trim import trim_model

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_CATALOG = REPO_ROOT.parent / "shared" / "fal-catalog"
PRICE_ROW = re.compile(
    r"^\|\s*(?P<id>[\w.-]+/[\w./-]+)(?:\s*\([^)]*\))?\s*\|\s*\$(?P<price>[\d.]+)\s+per\s+(?P<unit>.+?)\s*\|\s*$"
)


class SharedCatalogMissing(RuntimeError):
    pass


def shared_dir() -> Path:
    if not (SHARED_CATALOG / "README.md").is_file():
        raise SharedCatalogMissing(
            f"fal's catalogue data is missing: expected {SHARED_CATALOG} (shared/fal-catalog beside the repository "
            "checkout). Clone or copy it there; the fake fal serves fal's schemas and prices from it."
        )
    return SHARED_CATALOG


@lru_cache(maxsize=1)
def _captured() -> dict[str, dict[str, Any]]:
    models: dict[str, dict[str, Any]] = {}
    for path in sorted(shared_dir().glob("models.*.json")):
        for raw in json.loads(path.read_text())["models"]:
            models[raw["endpoint_id"]] = raw
    return models


def parse_prices(readme: str) -> list[dict[str, Any]]:
    """The README's price table in `/v1/models/pricing` form; "$X per 1000 steps" becomes X/1000 per step."""
    prices = []
    for line in readme.splitlines():
        match = PRICE_ROW.match(line.strip())
        if not match:
            continue
        unit_text = match["unit"].lower()
        price = float(match["price"])
        if unit_text.startswith("1000 steps"):
            price, unit = price / 1000, "step"
        elif unit_text.startswith("step"):
            unit = "step"
        elif unit_text.startswith("megapixel"):
            unit = "megapixel"
        elif unit_text.startswith("run"):  # "$2 per run at the default size (1000 steps), linear in steps"
            price, unit = price / 1000, "step"
        else:
            continue
        prices.append({"endpoint_id": match["id"], "unit_price": round(price, 8), "unit": unit, "currency": "USD"})
    return prices


@lru_cache(maxsize=1)
def _published_prices() -> tuple[dict[str, Any], ...]:
    return tuple(parse_prices((shared_dir() / "README.md").read_text()))


class FakeCatalog:
    """One fake's view of fal's catalogue: the shared data plus what a test changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.models: dict[str, dict[str, Any]] = dict(_captured())
        self.prices: dict[str, dict[str, Any]] = {p["endpoint_id"]: dict(p) for p in _published_prices()}
        self._trimmed: dict[str, dict[str, Any] | None] = {}
        self.unreachable = False  # the Platform API answers 503 (the queue keeps working)

    def add_model(self, raw: dict[str, Any]) -> None:
        with self._lock:
            self.models[raw["endpoint_id"]] = raw
            self._trimmed.pop(raw["endpoint_id"], None)

    def copy_model(self, endpoint_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.models[endpoint_id])

    def set_price(self, endpoint_id: str, unit_price: float, unit: str) -> None:
        with self._lock:
            self.prices[endpoint_id] = {
                "endpoint_id": endpoint_id, "unit_price": unit_price, "unit": unit, "currency": "USD"
            }  # fmt: skip

    def entry(self, endpoint_id: str) -> dict[str, Any] | None:
        """Trimmed entry (input/output schemas with $refs inlined) for an endpoint, or None if fal has none."""
        with self._lock:
            if endpoint_id not in self._trimmed:
                raw = self.models.get(endpoint_id)
                self._trimmed[endpoint_id] = trim_model(raw) if raw else None
            return self._trimmed[endpoint_id]

    def check_submission(self, endpoint_id: str, body: dict[str, Any]) -> list[dict[str, Any]] | None:
        """fal's 422 detail list for a bad body; [] when valid; None when the endpoint has no schema here."""
        entry = self.entry(endpoint_id)
        if entry is None or not entry.get("input"):
            return None
        return [problem.as_fal_detail() for problem in validate.problems(entry["input"], body)]

    # -- the Platform API -----------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if self.unreachable:
            return 503, {"error": {"type": "server_error", "message": "Platform API unavailable (fake)"}}
        if path == "/v1/models":
            return self._models(query)
        if path == "/v1/models/pricing":
            return self._pricing(query)
        return 404, {"error": {"type": "not_found", "message": f"no route {path}"}}

    @staticmethod
    def _page(rows: list[Any], query: dict[str, list[str]], key: str) -> dict[str, Any]:
        limit = max(1, min(int(query.get("limit", ["50"])[0]), 100))
        start = int(query.get("cursor", ["0"])[0] or 0)
        chunk = rows[start : start + limit]
        more = start + limit < len(rows)
        return {key: chunk, "next_cursor": str(start + limit) if more else None, "has_more": more}

    def _models(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        ids = query.get("endpoint_id", [])
        if len(ids) > 50:
            return 422, {"error": {"type": "validation_error", "message": "at most 50 endpoint_id"}}
        with self._lock:
            models = list(self.models.values())
        if ids:
            models = [raw for raw in models if raw["endpoint_id"] in ids]
        category = query.get("category", [None])[0]
        if category:
            models = [raw for raw in models if (raw.get("metadata") or {}).get("category") == category]
        if "openapi-3.0" not in query.get("expand", []):
            models = [{k: v for k, v in raw.items() if k != "openapi"} for raw in models]
        return 200, self._page(models, query, "models")

    def _pricing(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        ids = query.get("endpoint_id", [])
        if not 1 <= len(ids) <= 50:
            return 422, {"error": {"type": "validation_error", "message": "give 1-50 endpoint_id"}}
        with self._lock:
            rows = [dict(self.prices[eid]) for eid in ids if eid in self.prices]
        return 200, self._page(rows, query, "prices")
