"""Training runs as rows in SQLite, moved forward by fal's answers.

One function, `refresh`, advances a run (status → result → model version → local LoRA file); the
training_status tool and the background watcher both call it, under one lock per training, so whoever
sees completion first registers the model and the other finds it done. A row whose `next_poll_at` is set
still has work to do; NULL means nothing is left to ask fal.
"""

from __future__ import annotations

import logging
import time
import weakref
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from server.catalog.trainers import TrainerProfile
from server.costs import check_budget, record_cost
from server.errors import DiskFull, UserError
from server.fal_gateway import FalError, JobStatus
from server.state import AppState
from server.storage import Store, from_json, new_id, to_json, utc_now
from tools.dataset.upload import live_upload
from tools.models import registry
from tools.training.progress import KEEP_LOG_LINES, eta_seconds, latest_step, log_messages
from tools.training.request import DatasetSource, TrainingPlan, ZipFacts, inspect_zip
from tools.training.trainers import trainer_for_endpoint

log = logging.getLogger(__name__)

ACTIVE = ("submitting", "queued", "running")
# An identical request in these states is reused instead of paid for again. 'unknown' = a submission whose answer
# was lost: fal may have queued (and billed) it, so only force=true submits the same request again.
BLOCKING = ("submitting", "queued", "running", "completed", "unknown")
UNKNOWN_OUTCOME_HELP = (
    "Check https://fal.ai/dashboard/requests: if the run is not there, call start_training again with force=true."
)
SUBMIT_GRACE_SECONDS = 120.0  # a 'submitting' row older than this without a fal id was interrupted
SHOWN_LOG_LINES = 8
# A LoRA file is hundreds of MB: it gets longer than a generated image, still bounded.
LORA_DOWNLOAD_DEADLINE_SECONDS = 300.0


class TrainingRun(BaseModel):
    id: str
    model_name: str
    model_type: str
    endpoint: str
    status: str = Field(description="submitting | queued | running | completed | failed | cancelled | unknown")
    dataset_id: str | None = None
    trigger_word: str | None = None
    steps: int | None = None
    fal_request_id: str | None = None
    queue_position: int | None = None
    progress_percent: float | None = None
    current_step: int | None = None
    total_steps: int | None = None
    eta_seconds: float | None = None
    last_logs: list[str] = Field(default_factory=list)
    error: str | None = Field(default=None, description="fal's error for a failed run, or a pending-work note.")
    estimated_cost_usd: float
    cost_note: str | None = None
    model_version: int | None = Field(default=None, description="Registered version of model_name (v1, v2, ...).")
    model_version_id: str | None = None
    lora_url: str | None = None
    lora_path: str | None = Field(default=None, description="Local copy of the trained LoRA weights.")
    pending_work: bool = Field(description="True while the server still polls fal or fetches the LoRA for this run.")
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None
    next_step: str


# -- reading rows ---------------------------------------------------------------------------------------


def load(state: AppState, training_id: str) -> dict[str, Any]:
    row = state.store.query_one("SELECT * FROM trainings WHERE id = ?", (training_id,))
    if row is None:
        recent = [r["id"] for r in state.store.query("SELECT id FROM trainings ORDER BY created_at DESC LIMIT 5")]
        hint = f" Recent trainings: {', '.join(recent)}." if recent else " No trainings have been started yet."
        raise ToolError(f"No training with id {training_id!r}.{hint} Call training_status() to list them.")
    return row


def latest_for_model(state: AppState, model_name: str) -> dict[str, Any]:
    name = model_name.strip()
    alias = state.store.query_one("SELECT model_name FROM model_aliases WHERE alias = ?", (name,))
    if alias:
        name = alias["model_name"]
    row = state.store.query_one(
        "SELECT * FROM trainings WHERE model_name = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", (name,)
    )
    if row is None:
        raise ToolError(f"No training found for model {model_name!r}. Call training_status() to list trainings.")
    return row


def recent(state: AppState, limit: int = 20) -> list[TrainingRun]:
    rows = state.store.query("SELECT * FROM trainings ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,))
    return [to_run(state, row) for row in rows]


def to_run(state: AppState, row: dict[str, Any]) -> TrainingRun:
    request = from_json(row["request_json"], {})
    options = from_json(row.get("options_json"), {}) or {}
    trainer = trainer_for_endpoint(state.catalog, row["endpoint"])
    messages = from_json(row["logs_json"], [])
    step = latest_step(messages)
    version = None
    lora_url = None
    if row["model_version_id"]:
        found = state.store.query_one(
            "SELECT version, lora_url FROM model_versions WHERE id = ?", (row["model_version_id"],)
        )
        if found:
            version, lora_url = found["version"], found["lora_url"]
    if lora_url is None and row["result_json"] and trainer:
        lora_url = _lora_url(from_json(row["result_json"], {}), trainer)
    run = TrainingRun(
        id=row["id"],
        model_name=row["model_name"],
        model_type=row["model_type"],
        endpoint=row["endpoint"],
        status=row["status"],
        dataset_id=row["dataset_id"],
        trigger_word=options.get("trigger_word") or _request_trigger(request, trainer),
        steps=_request_steps(request, trainer),
        fal_request_id=row["fal_request_id"],
        queue_position=row["queue_position"] if row["status"] == "queued" else None,
        progress_percent=row["progress"],
        current_step=step.step if step else None,
        total_steps=step.total if step else _request_steps(request, trainer),
        eta_seconds=row["eta_seconds"] if row["status"] == "running" else None,
        last_logs=messages[-SHOWN_LOG_LINES:],
        error=row["error"],
        estimated_cost_usd=row["estimated_cost"],
        cost_note=options.get("price_note"),
        model_version=version,
        model_version_id=row["model_version_id"],
        lora_url=lora_url,
        lora_path=row["lora_path"],
        pending_work=row["next_poll_at"] is not None,
        created_at=row["created_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        next_step="",
    )
    run.next_step = _next_step(run)
    return run


def _next_step(run: TrainingRun) -> str:
    if run.status in ("submitting", "queued", "running"):
        return (
            f"Check again with training_status(training_id='{run.id}', wait_seconds=30); the server also watches it "
            "in the background and registers the model when it finishes."
        )
    if run.status == "completed" and run.model_version is not None:
        return (
            f"Model {run.model_name} v{run.model_version} is ready: generate with "
            f"execute_custom_model(endpoint='{run.model_name}', input_params={{'prompt': 'photo of "
            f"{run.trigger_word} ...'}}). Always include the trigger word {run.trigger_word!r} in prompts."
        )
    if run.status == "completed":
        return "Finished on fal; the model version is being registered. Call training_status again in a moment."
    if run.status == "failed":
        return "Fix what the error says and call start_training again; a failed run does not block a retry."
    return "Cancelled. Start again with start_training when ready (a cancelled run does not block a retry)."


# -- datasets -------------------------------------------------------------------------------------------


async def resolve_dataset(state: AppState, ref: str) -> tuple[DatasetSource, ZipFacts | None]:
    """A dataset id/name from prepare_dataset, a local .zip, or an http(s) URL of a zip in fal storage."""
    ref = ref.strip()
    if ref.startswith(("http://", "https://")):
        return DatasetSource(url=ref), None
    row = state.store.query_one("SELECT * FROM datasets WHERE id = ?", (ref,)) or state.store.query_one(
        "SELECT * FROM datasets WHERE name = ? ORDER BY version DESC LIMIT 1", (ref,)
    )
    if row is None:
        local = Path(ref).expanduser()
        if local.suffix.lower() == ".zip" and local.is_file():
            facts = await anyio.to_thread.run_sync(inspect_zip, local)
            url, _ = await _upload(state, local)
            return DatasetSource(url=url, image_count=facts.image_count, zip_path=local), facts
        raise ToolError(
            f"No dataset {ref!r}. Pass a dataset id from prepare_dataset, a local .zip file, or an https URL of a "
            "zip already in fal storage."
        )
    zip_path = Path(row["zip_path"]) if row.get("zip_path") else None
    facts = None
    if zip_path is not None and zip_path.is_file():
        facts = await anyio.to_thread.run_sync(inspect_zip, zip_path)
    try:  # a stored fal URL may have expired (fal keeps files ~7 days): checked, re-uploaded when gone
        url, _ = await live_upload(state.fal, state.store, row)
    except UserError as exc:
        raise ToolError(exc.message) from exc
    except FalError as exc:
        raise ToolError(exc.message) from exc
    assert url is not None
    source = DatasetSource(
        url=url,
        dataset_id=row["id"],
        trigger_word=row.get("trigger_word") or None,
        image_count=row.get("image_count"),
        zip_path=zip_path,
    )
    return source, facts


async def _renew_dataset(state: AppState, row: dict[str, Any]) -> str:
    """After fal could not use a training's data: if the dataset's upload expired, upload it again (once: a live
    file is left alone) and say so, so that calling start_training again can work. Nothing is resubmitted."""
    dataset = state.store.query_one("SELECT * FROM datasets WHERE id = ?", (row["dataset_id"],))
    if dataset is None or not dataset.get("fal_url"):
        return ""
    try:
        url, now = await live_upload(state.fal, state.store, dataset)
    except (UserError, FalError) as exc:
        return f" The dataset's upload is gone and could not be renewed: {exc}"
    if not now:
        return ""
    return (
        f" The dataset's upload had expired from fal storage; it was uploaded again ({url}): call start_training again."
    )


async def _upload(state: AppState, path: Path) -> tuple[str, bool]:
    try:
        return await state.fal.upload_file_once(state.store, path)
    except FalError as exc:
        raise ToolError(exc.message) from exc


# -- starting -------------------------------------------------------------------------------------------


def find_duplicate(state: AppState, plan: TrainingPlan) -> dict[str, Any] | None:
    marks = ", ".join("?" for _ in BLOCKING)
    return state.store.query_one(
        f"SELECT * FROM trainings WHERE request_hash = ? AND status IN ({marks}) ORDER BY created_at DESC LIMIT 1",
        (plan.request_hash, *BLOCKING),
    )


async def submit(state: AppState, plan: TrainingPlan, dataset_id: str | None, force: bool) -> tuple[TrainingRun, bool]:
    """Submit `plan` once; returns (run, reused). The row exists before fal is called."""
    settings, store = state.settings, state.store
    trainer = plan.trainer
    async with state.lock(f"training-submit:{plan.request_hash}"):
        duplicate = None if force else find_duplicate(state, plan)
        if duplicate is not None:
            return to_run(state, duplicate), True
        check_budget(
            settings, store, plan.estimate_usd, f"Training {plan.model_name} on {trainer.endpoint} ({plan.steps} steps)"
        )
        now = utc_now()
        training_id = new_id("trn")
        options = {
            "trigger_word": plan.trigger_word,
            "concepts": plan.concepts,
            "style": plan.style,
            "warnings": plan.warnings,
            "notes": plan.notes,
            "price_note": plan.price_note,
        }
        store.insert(
            "trainings",
            {
                "id": training_id,
                "model_name": plan.model_name,
                "model_type": trainer.alias,
                "endpoint": trainer.endpoint,
                "dataset_id": dataset_id,
                "request_json": to_json(plan.body),
                "request_hash": plan.request_hash,
                "status": "submitting",
                "estimated_cost": plan.estimate_usd,
                "options_json": to_json(options),
                "poll_interval": settings.poll_min_seconds,
                "next_poll_at": time.time() + SUBMIT_GRACE_SECONDS,
                "created_at": now,
                "updated_at": now,
            },
        )
        try:
            request_id = await state.fal.submit(trainer.endpoint, plan.body)
        except FalError as exc:
            # A crash or cancellation here leaves the row 'submitting'; the poller marks it 'unknown' later.
            if exc.status_code is not None and not exc.ambiguous:  # fal answered and refused: no job exists
                outcome = f"Training {training_id} was not started; nothing was charged."
                new_status = "failed"
            else:  # the answer was lost: fal may have queued it anyway
                outcome = (
                    f"Training {training_id} is recorded as 'unknown': fal may have received it before the "
                    f"connection failed. {UNKNOWN_OUTCOME_HELP}"
                )
                new_status = "unknown"
            _update(
                state, training_id, {"status": new_status, "error": f"{exc.message} {outcome}", "next_poll_at": None}
            )
            raise ToolError(f"{exc.message} ({outcome})") from exc
        _update(
            state,
            training_id,
            {"fal_request_id": request_id, "status": "queued", "next_poll_at": time.time() + settings.poll_min_seconds},
        )
        record_cost(
            store,
            kind="training",
            ref_id=training_id,
            endpoint=trainer.endpoint,
            amount_usd=plan.estimate_usd,
            model_name=plan.model_name,
        )
    state.watcher.wake()
    return to_run(state, load(state, training_id)), False


# -- advancing ------------------------------------------------------------------------------------------


def _update(state: AppState, training_id: str, changes: dict[str, Any]) -> None:
    state.store.update("trainings", "id", training_id, {**changes, "updated_at": utc_now()})


def _backoff(state: AppState, row: dict[str, Any], changed: bool) -> dict[str, Any]:
    settings = state.settings
    previous = row.get("poll_interval") or settings.poll_min_seconds
    interval = settings.poll_min_seconds if changed else min(previous * 1.5, settings.poll_max_seconds)
    interval = max(settings.poll_min_seconds, min(interval, settings.poll_max_seconds))
    return {"poll_interval": interval, "next_poll_at": time.time() + interval}


async def refresh(state: AppState, training_id: str) -> dict[str, Any]:
    """Move one run forward as far as fal allows right now; returns the fresh row. Never raises on fal errors."""
    async with state.lock(f"training:{training_id}"):
        row = load(state, training_id)
        if row["next_poll_at"] is None:
            return row
        try:
            await _advance(state, row)
        except FalError as exc:
            if exc.status_code == 404:  # fal no longer knows the request: nothing more will come
                _update(state, training_id, {"status": "failed", "error": f"fal: {exc.message}", "next_poll_at": None})
            else:  # transient fal trouble: note it and try again later
                note = {"error": f"Last check failed: {exc.message}", **_backoff(state, row, False)}
                _update(state, training_id, note)
        except Exception:
            log.exception("advancing training %s failed", training_id)
            _update(state, training_id, {"next_poll_at": time.time() + state.settings.poll_max_seconds})
        return load(state, training_id)


async def _advance(state: AppState, row: dict[str, Any]) -> None:
    training_id = row["id"]
    if row["status"] == "submitting":
        if row["fal_request_id"] is None:
            if datetime.fromisoformat(row["created_at"]).timestamp() + SUBMIT_GRACE_SECONDS <= time.time():
                _update(
                    state,
                    training_id,
                    {
                        "status": "unknown",
                        "next_poll_at": None,
                        "error": "The server stopped while submitting, before fal confirmed the job, so fal may "
                        f"or may not have it. {UNKNOWN_OUTCOME_HELP}",
                    },
                )
            return
        _update(state, training_id, {"status": "queued"})
        row = load(state, training_id)
    if row["status"] in ("queued", "running", "cancelled") and row["result_json"] is None:
        status = await state.fal.status(row["endpoint"], row["fal_request_id"], with_logs=True)
        row = await _apply_status(state, row, status)
    if row["status"] == "completed" and row["next_poll_at"] is not None:
        await _finalize(state, row)


async def _apply_status(state: AppState, row: dict[str, Any], status: JobStatus) -> dict[str, Any]:
    training_id = row["id"]
    cancelled = row["status"] == "cancelled"
    if status.state == "queued":
        changed = row["queue_position"] != status.queue_position
        _update(
            state,
            training_id,
            {
                "status": row["status"] if cancelled else "queued",
                "queue_position": status.queue_position,
                "error": row["error"] if cancelled else None,
                **_backoff(state, row, changed),
            },
        )
        return load(state, training_id)
    changes: dict[str, Any] = {}
    messages = log_messages(status.logs)
    if messages:
        changes["logs_json"] = to_json(messages[-KEEP_LOG_LINES:])
    if row["started_at"] is None:
        changes["started_at"] = utc_now()
    if status.state == "running":
        changes.update(_progress(row, messages))
        changed = changes.get("progress") != row["progress"] or row["status"] != "running"
        changes["status"] = row["status"] if cancelled else "running"
        changes["queue_position"] = None
        changes["error"] = row["error"] if cancelled else None
        _update(state, training_id, {**changes, **_backoff(state, row, changed)})
        return load(state, training_id)
    # COMPLETED: fal reports failure (and cancellation) as COMPLETED with an error
    if status.error:
        was_cancel = cancelled or status.error_type == "request_cancelled"
        note = await _renew_dataset(state, row) if status.error_type == "training_data_error" else ""
        _update(
            state,
            training_id,
            {
                **changes,
                "status": "cancelled" if was_cancel else "failed",
                "error": f"fal: {status.error}" + (f" ({status.error_type})" if status.error_type else "") + note,
                "completed_at": utc_now(),
                "eta_seconds": None,
                "next_poll_at": None,
            },
        )
        return load(state, training_id)
    try:
        result = await state.fal.result(row["endpoint"], row["fal_request_id"])
    except FalError as exc:
        if exc.retryable:
            raise
        final = "cancelled" if cancelled else "failed"
        message = f"fal: {exc.message}"
        if exc.status_code == 404:
            message = (
                "fal no longer has this training's result (fal keeps results about 1 hour, only ~6 minutes for "
                "large ones, and nobody polled in time). Look for the LoRA file under "
                f"https://fal.ai/dashboard/requests (request {row['fal_request_id']}) and register it with "
                "manage_model(action='register_external'), or train again."
            )
        _update(
            state,
            training_id,
            {
                **changes,
                "status": final,
                "error": message,
                "completed_at": utc_now(),
                "next_poll_at": None,
            },
        )
        return load(state, training_id)
    # persisted the moment it is seen: fal keeps results for minutes to an hour only
    _update(
        state,
        training_id,
        {
            **changes,
            "status": "completed",
            "result_json": to_json(result),
            "progress": 100.0,
            "eta_seconds": 0.0,
            "queue_position": None,
            "error": "Finished before the cancellation took effect (fal charged the run)." if cancelled else None,
            "completed_at": utc_now(),
            "poll_interval": state.settings.poll_min_seconds,
            "next_poll_at": time.time(),
        },
    )
    return load(state, training_id)


def _progress(row: dict[str, Any], messages: list[str]) -> dict[str, Any]:
    step = latest_step(messages)
    if step is None:
        return {}
    now = time.time()
    changes: dict[str, Any] = {"progress": step.percent}
    if row["first_step_at"] is None:
        changes.update({"first_step": step.step, "first_step_at": now})
    else:
        changes["eta_seconds"] = eta_seconds(row["first_step"], row["first_step_at"], step.step, now, step.total)
    return changes


def _lora_files(result: dict[str, Any], trainer: TrainerProfile | None) -> list[dict[str, Any]]:
    """Every LoRA file the trainer's output schema names, main one first: [{field, url, transformer?}]."""
    fields = trainer.lora_outputs if trainer else tuple(name for name in result if "lora" in name)
    files = []
    for name in fields:
        file = result.get(name)
        if isinstance(file, dict) and isinstance(file.get("url"), str):
            entry = {"field": name, "url": file["url"][:2000]}
            if trainer and name in trainer.lora_transformers:
                entry["transformer"] = trainer.lora_transformers[name]
            files.append(entry)
    return files


def _lora_url(result: dict[str, Any], trainer: TrainerProfile | None) -> str | None:
    files = _lora_files(result, trainer)
    return files[0]["url"] if files else None


def _request_trigger(request: dict[str, Any], trainer: TrainerProfile | None) -> str | None:
    value = request.get(trainer.trigger_field) if trainer and trainer.trigger_field else None
    return value if isinstance(value, str) else None


def _request_steps(request: dict[str, Any], trainer: TrainerProfile | None) -> int | None:
    value = request.get(trainer.steps_field if trainer and trainer.steps_field else "steps")
    return value if isinstance(value, int) else None


async def _finalize(state: AppState, row: dict[str, Any]) -> None:
    """Register the model version (once) and keep a local copy of the LoRA file."""
    training_id = row["id"]
    trainer = trainer_for_endpoint(state.catalog, row["endpoint"])
    result = from_json(row["result_json"], {})
    files = _lora_files(result, trainer)
    expected = trainer.lora_outputs if trainer else ("a *lora* field",)
    if not files or (trainer and len(files) < len(trainer.lora_outputs)):
        _update(
            state,
            training_id,
            {
                "status": "failed",
                "next_poll_at": None,
                "error": f"fal finished but its result lacks the LoRA file(s) {list(expected)}: {list(result)[:20]}",
            },
        )
        return
    url = files[0]["url"]
    options = from_json(row.get("options_json"), {}) or {}
    request = from_json(row["request_json"], {})
    version = registry.register_version(
        state.store,
        row["model_name"],
        trigger_word=options.get("trigger_word") or _request_trigger(request, trainer) or "",
        base_endpoint=trainer.inference_endpoints[0] if trainer and trainer.inference_endpoints else "fal-ai/flux-lora",
        source="trained",
        lora_url=url,
        training_id=training_id,
        dataset_id=row["dataset_id"],
        params={
            "trainer": row["endpoint"],
            "model_type": row["model_type"],
            "request": {k: v for k, v in request.items() if not trainer or k != trainer.data_field},
            "lora_files": files,
            "inference_endpoints": list(trainer.inference_endpoints) if trainer else [],
            "concepts": options.get("concepts") or [],
            "style": bool(options.get("style")),
        },
        cost_usd=row["estimated_cost"],
        notes=f"Trained by {training_id}; fal request {row['fal_request_id']}.",
    )
    _update(state, training_id, {"model_version_id": version.id})
    if version.lora_path and Path(version.lora_path).is_file():
        _update(state, training_id, {"lora_path": version.lora_path, "next_poll_at": None})
        return
    dest = state.settings.loras_dir / version.model_name / f"v{version.version}-{training_id}.safetensors"
    try:
        deadline = max(LORA_DOWNLOAD_DEADLINE_SECONDS, state.settings.download_deadline_seconds)
        download = await state.fal.download(url, dest, deadline_seconds=deadline)
    except (FalError, DiskFull) as exc:
        if isinstance(exc, FalError) and exc.retryable:
            note = f"LoRA registered by URL; local copy pending (will retry): {exc.message}"
            _update(state, training_id, {"error": note, **_backoff(state, row, False)})
            return
        note = f"LoRA registered by URL only; the local copy could not be made: {exc.message}"
        _update(state, training_id, {"error": note, "next_poll_at": None})
        return
    state.store.update(
        "model_versions", "id", version.id, {"lora_path": str(download.path), "lora_sha256": download.sha256}
    )
    _update(state, training_id, {"lora_path": str(download.path), "error": None, "next_poll_at": None})
    log.info("training %s: %s v%s saved to %s", training_id, version.model_name, version.version, download.path)


async def cancel(state: AppState, training_id: str) -> tuple[str, dict[str, Any]]:
    row = load(state, training_id)
    if row["status"] in ("completed", "failed", "cancelled"):
        raise ToolError(f"Training {training_id} is already {row['status']}; there is nothing to cancel.")
    if row["fal_request_id"] is None:
        raise ToolError(f"Training {training_id} has no fal request id yet; call training_status and try again.")
    try:
        await state.fal.cancel(row["endpoint"], row["fal_request_id"])
    except FalError as exc:
        fresh = await refresh(state, training_id)
        if fresh["status"] == "completed":
            return "already_completed", fresh
        raise ToolError(f"Could not cancel training {training_id}: {exc.message}") from exc
    async with state.lock(f"training:{training_id}"):
        _update(
            state,
            training_id,
            {
                "status": "cancelled",
                "error": "Cancellation requested; waiting for fal to confirm.",
                "eta_seconds": None,
                "poll_interval": state.settings.poll_min_seconds,
                "next_poll_at": time.time(),
            },
        )
    fresh = await refresh(state, training_id)
    return "cancellation_requested", fresh


# -- background -----------------------------------------------------------------------------------------


_resumed: weakref.WeakSet[Store] = weakref.WeakSet()


async def poll_due_trainings(state: AppState) -> None:
    """Watcher hook: advance every run whose next poll is due (each run keeps its own backoff).

    On the first tick of a server process, every unfinished run is made due at once: after a restart the
    backoff a previous process chose is stale, and a finished job's result may be about to expire on fal.
    """
    if state.store not in _resumed:
        _resumed.add(state.store)
        state.store.execute(
            "UPDATE trainings SET next_poll_at = ? WHERE next_poll_at IS NOT NULL AND status != 'submitting'",
            (time.time(),),
        )
    due = state.store.query(
        "SELECT id FROM trainings WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? ORDER BY next_poll_at LIMIT 25",
        (time.time(),),
    )
    for row in due:
        await refresh(state, row["id"])
