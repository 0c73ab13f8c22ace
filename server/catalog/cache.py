"""The live catalogue cache: fal entries and prices fetched at run time, each with the time it was fetched.

Its own small SQLite file beside the main database: it is disposable (deleting it only loses freshness),
so it needs no migrations shared with the rest of the project.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (endpoint_id TEXT PRIMARY KEY, entry_json TEXT NOT NULL, fetched_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS prices (endpoint_id TEXT PRIMARY KEY, price_json TEXT NOT NULL, fetched_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class CatalogCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            self._db = db
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _rows(self, table: str, column: str) -> dict[str, tuple[dict[str, Any], float]]:
        with self._lock:
            try:
                rows = self._conn().execute(f"SELECT endpoint_id, {column}, fetched_at FROM {table}").fetchall()
            except sqlite3.Error:
                return {}
        out: dict[str, tuple[dict[str, Any], float]] = {}
        for endpoint_id, raw, fetched_at in rows:
            try:
                out[endpoint_id] = (json.loads(raw), float(fetched_at))
            except ValueError:
                continue
        return out

    def _put(self, table: str, column: str, rows: list[dict[str, Any]], fetched_at: float) -> None:
        with self._lock:
            try:
                with self._conn() as db:
                    db.executemany(
                        f"INSERT OR REPLACE INTO {table} (endpoint_id, {column}, fetched_at) VALUES (?, ?, ?)",
                        [(row["endpoint_id"], json.dumps(row, separators=(",", ":")), fetched_at) for row in rows],
                    )
            except sqlite3.Error:
                pass  # a cache that cannot be written only costs freshness

    def models(self) -> dict[str, tuple[dict[str, Any], float]]:
        return self._rows("models", "entry_json")

    def prices(self) -> dict[str, tuple[dict[str, Any], float]]:
        return self._rows("prices", "price_json")

    def put_models(self, entries: list[dict[str, Any]], fetched_at: float | None = None) -> None:
        self._put("models", "entry_json", entries, time.time() if fetched_at is None else fetched_at)

    def put_prices(self, prices: list[dict[str, Any]], fetched_at: float | None = None) -> None:
        self._put("prices", "price_json", prices, time.time() if fetched_at is None else fetched_at)

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            try:
                row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error:
                return None
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            try:
                with self._conn() as db:
                    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
            except sqlite3.Error:
                pass
