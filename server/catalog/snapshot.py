"""The catalogue snapshot shipped inside the package: gzip JSON of trimmed entries and prices, with source and date.

Built by `python -m server.catalog build` from fal's answer format (captured files or a live Platform API).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.catalog.trim import trim_model, trim_price

SNAPSHOT_PATH = Path(__file__).with_name("data") / "fal-catalog.json.gz"
FORMAT = 1


@dataclass
class Snapshot:
    models: dict[str, dict[str, Any]]
    prices: dict[str, dict[str, Any]]
    source: str
    captured_at: str  # when fal answered (ISO 8601, UTC)
    built_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        body = {
            "format": FORMAT,
            "source": self.source,
            "captured_at": self.captured_at,
            "built_at": self.built_at,
            "models": sorted(self.models.values(), key=lambda entry: entry["endpoint_id"]),
            "prices": sorted(self.prices.values(), key=lambda price: price["endpoint_id"]),
        }
        raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        return gzip.compress(raw, compresslevel=9, mtime=0)

    def write(self, path: Path) -> int:
        data = self.to_bytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return len(data)


def read(path: Path = SNAPSHOT_PATH) -> Snapshot:
    """The snapshot at `path`; an empty one (with a note) when it is missing or unreadable."""
    try:
        body = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, ValueError, EOFError):
        return Snapshot({}, {}, source=f"no readable catalogue snapshot at {path.name}", captured_at="")
    models = {entry["endpoint_id"]: entry for entry in body.get("models", []) if isinstance(entry, dict)}
    prices = {price["endpoint_id"]: price for price in body.get("prices", []) if isinstance(price, dict)}
    return Snapshot(
        models, prices, str(body.get("source", "")), str(body.get("captured_at", "")), body.get("built_at", "")
    )


def from_answers(
    model_pages: list[dict[str, Any]], price_pages: list[dict[str, Any]], *, source: str, captured_at: str
) -> Snapshot:
    """Trim fal's answers (`{models:[...]}` pages or joined captures; `{prices:[...]}` pages) into a snapshot."""
    models: dict[str, dict[str, Any]] = {}
    for page in model_pages:
        for raw in page.get("models") or []:
            entry = trim_model(raw) if isinstance(raw, dict) else None
            if entry is not None:
                models[entry["endpoint_id"]] = entry
    prices: dict[str, dict[str, Any]] = {}
    for page in price_pages:
        for raw in page.get("prices") or []:
            price = trim_price(raw) if isinstance(raw, dict) else None
            if price is not None:
                prices[price["endpoint_id"]] = price
    return Snapshot(models, prices, source=source, captured_at=captured_at)


def from_directory(directory: Path, prices: Path | None = None) -> Snapshot:
    """A folder of captured `models.*.json` answers, and optionally a `/v1/models/pricing` answer file."""
    model_files = sorted(directory.glob("models.*.json"))
    if not model_files:
        raise FileNotFoundError(f"no models.*.json files in {directory}")
    pages = [json.loads(path.read_text()) for path in model_files]
    price_pages = [json.loads(prices.read_text())] if prices else []
    captured = max((str(page.get("generated_at", "")) for page in pages), default="")
    source = f"fal /v1/models answers captured in {directory.name}" + (f", prices from {prices.name}" if prices else "")
    return from_answers(pages, price_pages, source=source, captured_at=captured)
