"""The model registry: named models with numbered LoRA versions, a default version and endpoint-style aliases.

Written by training (a completed run registers `name` v1, v2 …) and by manual registration of external
LoRAs; read by generation and the prompt library to turn a model reference into endpoint + LoRA.

A reference is `name`, `name@v2` / `name@2`, an alias (e.g. `fal-ai/jane/sid-custom-model`), or any
`owner/user/name` endpoint-style id whose last segment is a registered model name.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from server.errors import UserError
from server.storage import Store, from_json, new_id, to_json, utc_now
from tools.models.results import ModelSummary, ModelVersion

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_VERSION_SUFFIX = re.compile(r"^(?P<ref>.+?)@v?(?P<version>\d+)$")


def validate_model_name(name: str) -> str:
    name = name.strip()
    if not MODEL_NAME.match(name):
        raise UserError(
            f"Invalid model name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (e.g. sid-custom-model)."
        )
    return name


def split_version(ref: str) -> tuple[str, int | None]:
    match = _VERSION_SUFFIX.match(ref.strip())
    if match:
        return match.group("ref"), int(match.group("version"))
    return ref.strip(), None


def register_version(
    store: Store,
    model_name: str,
    *,
    trigger_word: str,
    base_endpoint: str,
    source: str,
    lora_url: str | None = None,
    lora_path: str | None = None,
    lora_sha256: str | None = None,
    lora_scale: float = 1.0,
    training_id: str | None = None,
    dataset_id: str | None = None,
    params: dict[str, Any] | None = None,
    cost_usd: float = 0.0,
    notes: str = "",
) -> ModelVersion:
    """Add the next version of `model_name` (creating the model on first use) atomically."""
    model_name = validate_model_name(model_name)
    if not lora_url and not lora_path:
        raise UserError("A model version needs a LoRA URL or a local LoRA file.")
    now = utc_now()
    with store.transaction() as conn:
        if training_id is not None:
            existing = conn.execute("SELECT id FROM model_versions WHERE training_id = ?", (training_id,)).fetchone()
            if existing is not None:  # a training registers exactly once, whoever sees it finish first
                version_id = existing["id"]
                row = conn.execute("SELECT * FROM model_versions WHERE id = ?", (version_id,)).fetchone()
                return _version(dict(row), _default_of(conn, model_name))
        conn.execute(
            "INSERT OR IGNORE INTO models (name, default_version, description, created_at) VALUES (?, NULL, '', ?)",
            (model_name, now),
        )
        number = conn.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model_name = ?", (model_name,)
        ).fetchone()[0]
        row = {
            "id": new_id("mv"),
            "model_name": model_name,
            "version": number,
            "trigger_word": trigger_word,
            "base_endpoint": base_endpoint,
            "lora_url": lora_url,
            "lora_path": lora_path,
            "lora_sha256": lora_sha256,
            "lora_scale": lora_scale,
            "source": source,
            "training_id": training_id,
            "dataset_id": dataset_id,
            "params_json": to_json(params or {}),
            "cost_usd": cost_usd,
            "notes": notes,
            "created_at": now,
        }
        conn.execute(f"INSERT INTO model_versions ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})", row)
        return _version(row, _default_of(conn, model_name))


def resolve(store: Store, ref: str) -> ModelVersion:
    """The model version a reference names; UserError with suggestions when it names none."""
    version = find(store, ref)
    if version is None:
        raise UserError(_unknown_message(store, ref))
    return version


def find(store: Store, ref: str) -> ModelVersion | None:
    """Like resolve, but None when `ref` is not a registered model (e.g. a plain fal endpoint id)."""
    base, number = split_version(ref)
    name = _model_name_for(store, base)
    if name is None:
        return None
    if number is None:
        model = store.query_one("SELECT default_version FROM models WHERE name = ?", (name,))
        number = model["default_version"] if model else None
    if number is None:
        row = store.query_one(
            "SELECT * FROM model_versions WHERE model_name = ? ORDER BY version DESC LIMIT 1", (name,)
        )
    else:
        row = store.query_one("SELECT * FROM model_versions WHERE model_name = ? AND version = ?", (name, number))
    if row is None:
        if number is not None:
            known = [str(v) for v in versions_of(store, name)]
            raise UserError(f"Model {name!r} has no version {number}. Known versions: {', '.join(known) or 'none'}.")
        return None
    return _version(row, effective_default(store, name))


def _model_name_for(store: Store, ref: str) -> str | None:
    if store.query_one("SELECT 1 FROM models WHERE name = ?", (ref,)):
        return ref
    alias = store.query_one("SELECT model_name FROM model_aliases WHERE alias = ?", (ref,))
    if alias:
        return alias["model_name"]
    parts = ref.strip("/").split("/")
    if len(parts) >= 3 and store.query_one("SELECT 1 FROM models WHERE name = ?", (parts[-1],)):
        return parts[-1]
    return None


def _unknown_message(store: Store, ref: str) -> str:
    names = [row["name"] for row in store.query("SELECT name FROM models ORDER BY name")]
    base = split_version(ref)[0].strip("/").split("/")[-1]
    close = difflib.get_close_matches(base, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    listing = f" Registered models: {', '.join(names)}." if names else " No models are registered yet."
    return f"No registered model matches {ref!r}.{hint}{listing} Train one with start_training or register a LoRA."


def versions_of(store: Store, name: str) -> list[int]:
    return [
        row["version"]
        for row in store.query("SELECT version FROM model_versions WHERE model_name = ? ORDER BY version", (name,))
    ]


def effective_default(store: Store, name: str) -> int | None:
    model = store.query_one("SELECT default_version FROM models WHERE name = ?", (name,))
    if model and model["default_version"] is not None:
        return int(model["default_version"])
    newest = versions_of(store, name)
    return newest[-1] if newest else None


def pinned_default(store: Store, name: str) -> int | None:
    """The version pinned as default, or None when the default is simply the newest version."""
    model = store.query_one("SELECT default_version FROM models WHERE name = ?", (name,))
    return int(model["default_version"]) if model and model["default_version"] is not None else None


def _default_of(conn: Any, name: str) -> int | None:
    model = conn.execute("SELECT default_version FROM models WHERE name = ?", (name,)).fetchone()
    if model and model["default_version"] is not None:
        return int(model["default_version"])
    newest = conn.execute("SELECT MAX(version) FROM model_versions WHERE model_name = ?", (name,)).fetchone()[0]
    return int(newest) if newest is not None else None


def _version(row: dict[str, Any], default: int | None) -> ModelVersion:
    data = {key: row[key] for key in row if key != "params_json"}
    data["params"] = from_json(row.get("params_json"), {})
    data["is_default"] = default == row["version"]
    return ModelVersion.model_validate(data)


def list_models(store: Store) -> list[ModelSummary]:
    summaries = []
    for model in store.query("SELECT * FROM models ORDER BY name"):
        name = model["name"]
        numbers = versions_of(store, name)
        effective = effective_default(store, name)
        current = store.query_one(
            "SELECT trigger_word, base_endpoint FROM model_versions WHERE model_name = ? AND version = ?",
            (name, effective),
        )
        aliases = [
            row["alias"]
            for row in store.query("SELECT alias FROM model_aliases WHERE model_name = ? ORDER BY alias", (name,))
        ]
        summaries.append(
            ModelSummary(
                name=name,
                default_version=model["default_version"],
                effective_version=effective,
                versions=numbers,
                aliases=aliases,
                trigger_word=current["trigger_word"] if current else None,
                base_endpoint=current["base_endpoint"] if current else None,
                description=model["description"],
            )
        )
    return summaries


def list_versions(store: Store, name: str) -> list[ModelVersion]:
    resolved = _model_name_for(store, name)
    if resolved is None:
        raise UserError(_unknown_message(store, name))
    default = effective_default(store, resolved)
    rows = store.query("SELECT * FROM model_versions WHERE model_name = ? ORDER BY version", (resolved,))
    return [_version(row, default) for row in rows]


def set_default(store: Store, name: str, version: int | None) -> None:
    """Pin `version` as the default (None: follow the newest version again)."""
    resolved = _model_name_for(store, name)
    if resolved is None:
        raise UserError(_unknown_message(store, name))
    if version is not None and version not in versions_of(store, resolved):
        raise UserError(f"Model {resolved!r} has no version {version}; it has {versions_of(store, resolved)}.")
    store.execute("UPDATE models SET default_version = ? WHERE name = ?", (version, resolved))


def add_alias(store: Store, alias: str, name: str) -> None:
    alias = alias.strip().strip("/")
    if not alias or len(alias) > 200 or any(ch.isspace() for ch in alias) or "@" in alias:
        raise UserError(
            f"Invalid alias {alias!r}: use an endpoint-style id without spaces or '@', e.g. fal-ai/jane/sid."
        )
    resolved = _model_name_for(store, name)
    if resolved is None:
        raise UserError(_unknown_message(store, name))
    taken = store.query_one("SELECT model_name FROM model_aliases WHERE alias = ?", (alias,))
    if taken and taken["model_name"] != resolved:
        raise UserError(f"Alias {alias!r} already points to model {taken['model_name']!r}; remove that first.")
    if store.query_one("SELECT 1 FROM models WHERE name = ?", (alias,)):
        raise UserError(f"{alias!r} is already a model name; an alias must differ from every model name.")
    store.execute("INSERT OR IGNORE INTO model_aliases (alias, model_name) VALUES (?, ?)", (alias, resolved))


def rename(store: Store, old: str, new: str) -> None:
    new = validate_model_name(new)
    resolved = _model_name_for(store, old)
    if resolved is None:
        raise UserError(_unknown_message(store, old))
    with store.transaction() as conn:
        if conn.execute("SELECT 1 FROM models WHERE name = ?", (new,)).fetchone():
            raise UserError(f"A model named {new!r} already exists.")
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute("UPDATE models SET name = ? WHERE name = ?", (new, resolved))
        conn.execute("UPDATE model_versions SET model_name = ? WHERE model_name = ?", (new, resolved))
        conn.execute("UPDATE model_aliases SET model_name = ? WHERE model_name = ?", (new, resolved))
        conn.execute("UPDATE trainings SET model_name = ? WHERE model_name = ?", (new, resolved))


def delete_version(store: Store, name: str, version: int) -> ModelVersion:
    """Remove one version (the caller deletes its local file). A pinned default on it is unpinned."""
    resolved = _model_name_for(store, name)
    if resolved is None:
        raise UserError(_unknown_message(store, name))
    row = store.query_one("SELECT * FROM model_versions WHERE model_name = ? AND version = ?", (resolved, version))
    if row is None:
        raise UserError(f"Model {resolved!r} has no version {version}; it has {versions_of(store, resolved)}.")
    deleted = _version(row, effective_default(store, resolved))
    with store.transaction() as conn:
        conn.execute("DELETE FROM model_versions WHERE id = ?", (row["id"],))
        conn.execute(
            "UPDATE models SET default_version = NULL WHERE name = ? AND default_version = ?", (resolved, version)
        )
    return deleted
