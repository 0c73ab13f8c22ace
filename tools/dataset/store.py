"""Rows of the `datasets` table (schema v1). Training reads fal_url, zip_path, trigger_word, image_count, status."""

from __future__ import annotations

import sqlite3
from typing import Any

from server.storage import Store, from_json, to_json, utc_now

SUMMARY_COLUMNS = "id AS dataset_id, name, version, image_count, status, trigger_word, fal_url, source_dir, created_at"


def find_by_source(store: Store, name: str, source_fingerprint: str) -> dict[str, Any] | None:
    """The version prepared from exactly these files with exactly these options, if any."""
    for row in store.query("SELECT * FROM datasets WHERE name = ? ORDER BY version DESC", (name,)):
        if from_json(row["options_json"], {}).get("source_fingerprint") == source_fingerprint:
            return row
    return None


def find_by_content(store: Store, name: str, content_hash: str) -> dict[str, Any] | None:
    return store.query_one(
        "SELECT * FROM datasets WHERE name = ? AND content_hash = ? ORDER BY version DESC", (name, content_hash)
    )


def next_version(store: Store, name: str) -> int:
    row = store.query_one("SELECT MAX(version) AS v FROM datasets WHERE name = ?", (name,))
    return int(row["v"] or 0) + 1 if row else 1


def insert(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    """Insert a version's row inside the caller's `Store.transaction()`, which also allocated its version number."""
    full = {**row, "created_at": utc_now()}
    conn.execute(f"INSERT INTO datasets ({', '.join(full)}) VALUES ({', '.join(':' + k for k in full)})", full)


def mark_uploaded(store: Store, dataset_id: str, url: str, report: dict[str, Any]) -> None:
    store.update("datasets", "id", dataset_id, {"fal_url": url, "status": "uploaded", "report_json": to_json(report)})


def mark_expired(store: Store, dataset_id: str) -> None:
    """The upload is gone from fal storage: back to prepared, no URL (the report keeps its history)."""
    store.update("datasets", "id", dataset_id, {"fal_url": None, "status": "prepared"})


def get(store: Store, dataset_id: str) -> dict[str, Any] | None:
    return store.query_one("SELECT * FROM datasets WHERE id = ?", (dataset_id,))


def summaries(store: Store, name: str | None = None) -> list[dict[str, Any]]:
    if name is None:
        return store.query(f"SELECT {SUMMARY_COLUMNS} FROM datasets ORDER BY created_at DESC, name, version DESC")
    return store.query(f"SELECT {SUMMARY_COLUMNS} FROM datasets WHERE name = ? ORDER BY version DESC", (name,))
