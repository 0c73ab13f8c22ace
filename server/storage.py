"""SQLite storage: one database file under the data dir, WAL mode, schema migrations by version number.

The `Store` is safe to share between the event loop and worker threads: every statement runs under one
lock on one connection, and `transaction()` holds that lock for a whole unit of work. Several server
processes on the same data dir are fine too (WAL + busy timeout).

Each tool family keeps its own queries next to its behaviour; this module only knows tables exist.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# (version, sql). Append only: a released migration is never edited, a change is a new migration.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE datasets (
            id            TEXT PRIMARY KEY,
            name          TEXT NOT NULL,
            version       INTEGER NOT NULL,
            source_dir    TEXT NOT NULL,
            trigger_word  TEXT NOT NULL,
            content_hash  TEXT NOT NULL,            -- hash of the prepared set (images + captions + options)
            image_count   INTEGER NOT NULL,
            status        TEXT NOT NULL,            -- prepared | uploaded
            dir           TEXT NOT NULL,            -- prepared images + captions
            zip_path      TEXT,
            zip_sha256    TEXT,
            fal_url       TEXT,
            report_json   TEXT NOT NULL,
            options_json  TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            UNIQUE (name, version)
        );
        CREATE TABLE uploads (
            sha256      TEXT PRIMARY KEY,           -- the same bytes are never uploaded twice
            url         TEXT NOT NULL,
            size        INTEGER NOT NULL,
            file_name   TEXT NOT NULL,
            created_at  TEXT NOT NULL
        );
        CREATE TABLE trainings (
            id              TEXT PRIMARY KEY,
            model_name      TEXT NOT NULL,
            model_type      TEXT NOT NULL,          -- preset name, e.g. flux-lora
            endpoint        TEXT NOT NULL,
            dataset_id      TEXT,
            request_json    TEXT NOT NULL,          -- the exact body sent to fal
            request_hash    TEXT NOT NULL,          -- idempotency key
            fal_request_id  TEXT,
            status          TEXT NOT NULL,          -- submitting | queued | running | completed | failed | cancelled
            queue_position  INTEGER,
            progress        REAL,
            eta_seconds     REAL,
            logs_json       TEXT NOT NULL DEFAULT '[]',
            result_json     TEXT,
            error           TEXT,
            estimated_cost  REAL NOT NULL DEFAULT 0,
            lora_path       TEXT,
            model_version_id TEXT,
            poll_interval   REAL,
            next_poll_at    REAL,
            started_at      TEXT,
            completed_at    TEXT,
            created_at      TEXT NOT NULL,
            updated_at      TEXT NOT NULL
        );
        CREATE INDEX trainings_by_hash ON trainings (request_hash);
        CREATE INDEX trainings_by_status ON trainings (status);
        CREATE TABLE models (
            name             TEXT PRIMARY KEY,
            default_version  INTEGER,
            description      TEXT NOT NULL DEFAULT '',
            created_at       TEXT NOT NULL
        );
        CREATE TABLE model_aliases (
            alias       TEXT PRIMARY KEY,           -- e.g. fal-ai/jane/sid-custom-model
            model_name  TEXT NOT NULL REFERENCES models (name) ON DELETE CASCADE
        );
        CREATE TABLE model_versions (
            id             TEXT PRIMARY KEY,
            model_name     TEXT NOT NULL REFERENCES models (name) ON DELETE CASCADE,
            version        INTEGER NOT NULL,
            trigger_word   TEXT NOT NULL,
            base_endpoint  TEXT NOT NULL,           -- inference endpoint that takes this LoRA
            lora_url       TEXT,
            lora_path      TEXT,
            lora_sha256    TEXT,
            lora_scale     REAL NOT NULL DEFAULT 1.0,
            source         TEXT NOT NULL,           -- trained | external
            training_id    TEXT,
            dataset_id     TEXT,
            params_json    TEXT NOT NULL DEFAULT '{}',
            cost_usd       REAL NOT NULL DEFAULT 0,
            notes          TEXT NOT NULL DEFAULT '',
            created_at     TEXT NOT NULL,
            UNIQUE (model_name, version)
        );
        CREATE TABLE generations (
            id              TEXT PRIMARY KEY,
            batch_id        TEXT,
            endpoint        TEXT NOT NULL,          -- the endpoint actually called
            requested_endpoint TEXT NOT NULL,       -- what the caller asked for
            category        TEXT NOT NULL,
            model_name      TEXT,
            model_version   INTEGER,
            request_json    TEXT NOT NULL,          -- resolved input sent to fal
            fal_request_id  TEXT,
            status          TEXT NOT NULL,          -- submitting | queued | running | completed | failed | cancelled
            result_json     TEXT,
            files_json      TEXT NOT NULL DEFAULT '[]',
            seed            INTEGER,
            estimated_cost  REAL NOT NULL DEFAULT 0,
            error           TEXT,
            scenario        TEXT,
            next_poll_at    REAL,
            poll_interval   REAL,
            created_at      TEXT NOT NULL,
            completed_at    TEXT
        );
        CREATE INDEX generations_by_status ON generations (status);
        CREATE INDEX generations_by_model ON generations (model_name, model_version);
        CREATE TABLE prompts (
            name           TEXT PRIMARY KEY,
            template       TEXT NOT NULL,
            description    TEXT NOT NULL DEFAULT '',
            settings_json  TEXT NOT NULL DEFAULT '{}',
            model_name     TEXT,
            model_version  INTEGER,
            created_at     TEXT NOT NULL,
            updated_at     TEXT NOT NULL
        );
        CREATE TABLE evaluations (
            id             TEXT PRIMARY KEY,
            model_name     TEXT NOT NULL,
            model_version  INTEGER NOT NULL,
            scenario       TEXT NOT NULL,
            quality        REAL,
            likeness       REAL,
            likeness_method TEXT,
            notes          TEXT NOT NULL DEFAULT '',
            generation_id  TEXT,
            created_at     TEXT NOT NULL
        );
        CREATE INDEX evaluations_by_model ON evaluations (model_name, model_version, scenario);
        CREATE TABLE cost_ledger (
            id          TEXT PRIMARY KEY,
            kind        TEXT NOT NULL,              -- training | generation | upload
            ref_id      TEXT NOT NULL,
            endpoint    TEXT NOT NULL,
            model_name  TEXT,
            amount_usd  REAL NOT NULL,
            estimated   INTEGER NOT NULL DEFAULT 1,
            created_at  TEXT NOT NULL,
            day         TEXT NOT NULL               -- UTC date, for per-day totals and the daily budget
        );
        CREATE INDEX cost_by_day ON cost_ledger (day);
        """,
    ),
    (
        3,
        """
        ALTER TABLE trainings ADD COLUMN options_json TEXT NOT NULL DEFAULT '{}';  -- trigger word, concepts, notes
        ALTER TABLE trainings ADD COLUMN first_step INTEGER;                       -- first progress seen, for ETA
        ALTER TABLE trainings ADD COLUMN first_step_at REAL;
        """,
    ),
    (
        4,
        """
        ALTER TABLE generations ADD COLUMN meta_json TEXT NOT NULL DEFAULT '{}';  -- warnings, loras, timings, nsfw
        CREATE INDEX generations_by_batch ON generations (batch_id);
        """,
    ),
    (
        5,
        """
        ALTER TABLE prompts ADD COLUMN variables_json TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE prompts ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]';
        CREATE TABLE test_suites (
            id            TEXT PRIMARY KEY,
            model_name    TEXT NOT NULL,
            options_json  TEXT NOT NULL,            -- versions, scenarios, seeds, variants as requested
            status        TEXT NOT NULL,            -- running | completed
            sheet_path    TEXT,
            columns       INTEGER,
            rows          INTEGER,
            created_at    TEXT NOT NULL,
            completed_at  TEXT
        );
        CREATE TABLE test_suite_cells (
            suite_id       TEXT NOT NULL REFERENCES test_suites (id) ON DELETE CASCADE,
            position       INTEGER NOT NULL,
            scenario       TEXT NOT NULL,
            model_version  INTEGER,                 -- the LoRA version, NULL for the no-LoRA baseline
            variant        TEXT NOT NULL,           -- lora | scale | baseline
            lora_scale     REAL,
            seed           INTEGER NOT NULL,
            prompt         TEXT NOT NULL,
            endpoint       TEXT NOT NULL,           -- model reference, e.g. sid@v2
            input_json     TEXT NOT NULL,           -- input_params for run_generation
            generation_id  TEXT,
            error          TEXT,
            PRIMARY KEY (suite_id, position)
        );
        """,
    ),
    (
        6,
        """
        ALTER TABLE generations ADD COLUMN request_hash TEXT;      -- identical paid requests (job engine)
        ALTER TABLE generations ADD COLUMN updated_at TEXT;
        ALTER TABLE generations ADD COLUMN finish_attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE trainings ADD COLUMN finish_attempts INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX generations_by_hash ON generations (request_hash);
        ALTER TABLE cost_ledger ADD COLUMN outcome TEXT NOT NULL DEFAULT 'recorded';  -- see server/costs.py
        CREATE INDEX cost_by_ref ON cost_ledger (ref_id);
        """,
    ),
    (
        7,
        """
        CREATE TABLE videos (                        -- one clip each, the job engine's common columns first
            id               TEXT PRIMARY KEY,
            endpoint         TEXT NOT NULL,
            request_json     TEXT NOT NULL,
            request_hash     TEXT,
            fal_request_id   TEXT,
            status           TEXT NOT NULL,          -- making_still, then the engine's states
            result_json      TEXT,
            error            TEXT,
            estimated_cost   REAL NOT NULL DEFAULT 0,
            model_name       TEXT,
            model_version    INTEGER,
            poll_interval    REAL,
            next_poll_at     REAL,
            finish_attempts  INTEGER NOT NULL DEFAULT 0,
            created_at       TEXT NOT NULL,
            updated_at       TEXT,
            completed_at     TEXT,
            start_kind       TEXT NOT NULL,          -- model | generation | image | text
            start_field      TEXT,                   -- the endpoint's start-image input (image_url, start_image_url …)
            still_generation_id TEXT,
            still_hash       TEXT,                   -- the still generation's request hash, to find it again
            still_path       TEXT,
            still_url        TEXT,
            motion           TEXT NOT NULL,
            seconds          REAL,
            scenario         TEXT,
            cost_note        TEXT,
            warnings_json    TEXT NOT NULL DEFAULT '[]',
            queue_position   INTEGER,
            clip_json        TEXT                    -- path, url, duration, fps, size once saved
        );
        CREATE INDEX videos_by_hash ON videos (request_hash);
        CREATE INDEX videos_by_status ON videos (status);
        """,
    ),
]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def utc_today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def new_id(prefix: str) -> str:
    """Short, sortable-enough, prefixed ids: `trn_1a2b3c4d5e6f` reads well in chat."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def from_json(raw: str | None, default: Any = None) -> Any:
    return default if raw is None else json.loads(raw)


class Store:
    """One SQLite database. Thread-safe; short statements only (no network I/O inside a transaction)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._migrate()

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        newest = max(version for version, _ in MIGRATIONS)
        if self.schema_version > newest:
            raise RuntimeError(
                f"The database {self.path} was written by a newer fal-video-mcp (schema {self.schema_version}, "
                f"this one knows {newest}). Upgrade fal-video-mcp or point FAL_VIDEO_MCP_HOME elsewhere."
            )
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                current = self.schema_version
                for version, sql in sorted(MIGRATIONS):
                    if version > current:
                        current = version
                        for statement in _split_sql(sql):
                            self._conn.execute(statement)
                        self._conn.execute(f"PRAGMA user_version={version}")
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        # SQLite has already rolled back after some errors (a full disk, an I/O error); a second ROLLBACK would
        # then raise "no transaction is active" and hide the error that explains what happened.
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and an IMMEDIATE transaction; commit on success, roll back on any error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._rollback()
                raise
            self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one write statement in its own transaction; returns the affected row count."""
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._conn.execute(sql, params).fetchall()]

    def query_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
            return dict(row) if row is not None else None

    def insert(self, table: str, row: dict[str, Any]) -> None:
        columns = ", ".join(row)
        marks = ", ".join(f":{name}" for name in row)
        self.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", row)

    def update(self, table: str, key: str, key_value: Any, changes: dict[str, Any]) -> int:
        if not changes:
            return 0
        assignments = ", ".join(f"{name} = :{name}" for name in changes)
        return self.execute(f"UPDATE {table} SET {assignments} WHERE {key} = :__key", {**changes, "__key": key_value})

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (no semicolons inside our literals or triggers)."""
    statements = []
    for chunk in script.split(";"):
        lines = [line.split("--", 1)[0] for line in chunk.splitlines()]
        statement = "\n".join(lines).strip()
        if statement:
            statements.append(statement)
    return statements
