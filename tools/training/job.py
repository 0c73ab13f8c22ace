"""The training kind of job: rows in `trainings`, driven through their life by the job engine (server/jobs.py).

This module adds what is particular to trainings: the dataset to train on, the duplicate rule (an identical
request that is running, done or unknown is returned instead of paid for again), progress and ETA from fal's
log lines, and the "on finished" hook that registers the model version and keeps a local copy of the LoRA.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from server.catalog.trainers import TrainerProfile
from server.errors import DiskFull, InvalidInput, NotFound, UserError
from server.eta import Eta
from server.fal_gateway import FalError, JobStatus
from server.jobs import CancelOutcome, Finish, JobHooks, JobState
from server.state import AppState
from server.storage import from_json, new_id, to_json, utc_now
from tools.dataset.upload import live_upload
from tools.models import registry
from tools.training.kind import TRAINING
from tools.training.progress import (
    KEEP_LOG_LINES,
    eta_seconds,
    latest_step,
    log_messages,
    measured_eta,
    planned_eta,
)
from tools.training.request import DatasetSource, TrainingPlan, ZipFacts, inspect_zip
from tools.training.results import TrainingProgress, TrainingRun
from tools.training.trainers import trainer_for_endpoint

log = logging.getLogger(__name__)

SHOWN_LOG_LINES = 8
BRIEF_LOG_CHARS = 120
MAX_LOG_LINE_CHARS = 500
# A LoRA file is hundreds of MB: it gets longer than a generated image, still bounded.
LORA_DOWNLOAD_DEADLINE_SECONDS = 300.0


# -- reading rows ---------------------------------------------------------------------------------------


def load(state: AppState, training_id: str) -> dict[str, Any]:
    row = state.store.query_one("SELECT * FROM trainings WHERE id = ?", (training_id,))
    if row is None:
        recent = [r["id"] for r in state.store.query("SELECT id FROM trainings ORDER BY created_at DESC LIMIT 5")]
        hint = f" Recent trainings: {', '.join(recent)}." if recent else " No trainings have been started yet."
        raise NotFound(f"No training with id {training_id!r}.{hint} Call training_status() to list them.")
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
        raise NotFound(f"No training found for model {model_name!r}. Call training_status() to list trainings.")
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
    total = step.total if step else _request_steps(request, trainer)
    eta = _eta(row, total, step.step if step else 0)
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
        total_steps=total,
        eta_seconds=eta.seconds if eta else None,
        eta_basis=eta.basis if eta else None,
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


def is_open(row: dict[str, Any]) -> bool:
    return row["status"] in (JobState.SUBMITTING, JobState.QUEUED, JobState.RUNNING)


def to_progress(state: AppState, row: dict[str, Any]) -> TrainingProgress:
    run = to_run(state, row)
    latest = run.last_logs[-1:] if run.last_logs else []
    return TrainingProgress(
        id=run.id,
        model_name=run.model_name,
        status=run.status,
        queue_position=run.queue_position,
        progress_percent=run.progress_percent,
        current_step=run.current_step,
        total_steps=run.total_steps,
        eta_seconds=run.eta_seconds,
        eta_basis=run.eta_basis,
        last_logs=[line if len(line) <= BRIEF_LOG_CHARS else line[: BRIEF_LOG_CHARS - 3] + "..." for line in latest],
        next_step=f"training_status(training_id='{run.id}', wait_seconds=30)",
    )


def _eta(row: dict[str, Any], total_steps: int | None, done_steps: int) -> Eta | None:
    if row["status"] == JobState.RUNNING and row["eta_seconds"]:
        return measured_eta(row["eta_seconds"])
    if row["status"] in (JobState.SUBMITTING, JobState.QUEUED, JobState.RUNNING):
        return planned_eta(row["endpoint"], total_steps, done_steps, queued=row["status"] != JobState.RUNNING)
    return None


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


async def resolve_dataset(state: AppState, ref: str, *, upload: bool = True) -> tuple[DatasetSource, ZipFacts | None]:
    """A dataset id/name from prepare_dataset, a local .zip, or an http(s) URL of a zip in fal storage.

    With `upload=False` (a dry run) nothing is uploaded: a zip not yet in fal storage shows where it would come from.
    """
    ref = ref.strip()
    if ref.startswith(("http://", "https://")):
        return DatasetSource(url=ref), None
    row = state.store.query_one("SELECT * FROM datasets WHERE id = ?", (ref,)) or state.store.query_one(
        "SELECT * FROM datasets WHERE name = ? ORDER BY version DESC LIMIT 1", (ref,)
    )
    if row is None:
        local = Path(ref).expanduser()
        if local.suffix.lower() == ".zip" and local.is_file():
            local_facts = await anyio.to_thread.run_sync(inspect_zip, local)
            local_url = (await _upload(state, local))[0] if upload else _not_uploaded(local)
            return DatasetSource(url=local_url, image_count=local_facts.image_count, zip_path=local), local_facts
        raise NotFound(
            f"No dataset {ref!r}. Pass a dataset id from prepare_dataset, a local .zip file, or an https URL of a "
            "zip already in fal storage."
        )
    zip_path = Path(row["zip_path"]) if row.get("zip_path") else None
    facts: ZipFacts | None = None
    if zip_path is not None and zip_path.is_file():
        facts = await anyio.to_thread.run_sync(inspect_zip, zip_path)
    if upload:
        try:  # a stored fal URL may have expired (fal keeps files ~7 days): checked, re-uploaded when gone
            url, _ = await live_upload(state.fal, state.store, row)
        except FalError as exc:
            raise UserError(exc.message) from exc
    elif row.get("fal_url"):
        url = row["fal_url"]
    elif zip_path is not None and zip_path.is_file():
        url = _not_uploaded(zip_path)
    else:
        raise InvalidInput(
            f"Dataset {row['id']} has no uploaded zip and its local zip is missing ({zip_path}). Run "
            "prepare_dataset on the photo folder again."
        )
    assert url is not None
    source = DatasetSource(
        url=url,
        dataset_id=row["id"],
        trigger_word=row.get("trigger_word") or None,
        image_count=row.get("image_count"),
        zip_path=zip_path,
    )
    return source, facts


def _not_uploaded(path: Path) -> str:
    return f"(not uploaded by a dry run: {path.name} is uploaded to fal storage when the training starts)"


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
        raise UserError(exc.message) from exc


# -- starting -------------------------------------------------------------------------------------------


def find_duplicate(state: AppState, plan: TrainingPlan) -> dict[str, Any] | None:
    return state.jobs.blocking_duplicate(TRAINING, plan.request_hash)


async def submit(state: AppState, plan: TrainingPlan, dataset_id: str | None, force: bool) -> tuple[TrainingRun, bool]:
    """Submit `plan` once; returns (run, reused). The row exists, and its cost is reserved, before fal is called."""
    trainer = plan.trainer
    async with state.lock(f"training-submit:{plan.request_hash}"):
        duplicate = None if force else find_duplicate(state, plan)
        if duplicate is not None:
            return to_run(state, duplicate), True
        training_id = new_id("trn")
        options = {
            "trigger_word": plan.trigger_word,
            "concepts": plan.concepts,
            "style": plan.style,
            "warnings": plan.warnings,
            "notes": plan.notes,
            "price_note": plan.price_note,
        }
        row = {
            "id": training_id,
            "model_name": plan.model_name,
            "model_type": trainer.alias,
            "endpoint": trainer.endpoint,
            "dataset_id": dataset_id,
            "request_json": to_json(plan.body),
            "request_hash": plan.request_hash,
            "estimated_cost": plan.estimate_usd,
            "options_json": to_json(options),
        }
        what = f"Training {plan.model_name} on {trainer.endpoint} ({plan.steps} steps)"
        state.jobs.record(TRAINING, [row], what=what)
        await state.jobs.submit(TRAINING, training_id)
    return to_run(state, load(state, training_id)), False


# -- advancing ------------------------------------------------------------------------------------------


async def watch(
    state: AppState, training_id: str, seconds: float, on_row: Callable[[dict[str, Any]], Awaitable[None]]
) -> dict[str, Any]:
    """Have the job engine check the run now and follow it for up to `seconds`; only reads the row itself."""
    load(state, training_id)
    return await state.jobs.watch(TRAINING, training_id, seconds, on_row)


def _on_status(state: AppState, row: dict[str, Any], status: JobStatus) -> dict[str, Any]:
    """Queue position, log lines (redacted, capped), progress and ETA from one status answer."""
    if status.state == "queued":
        return {"queue_position": status.queue_position} if row["queue_position"] != status.queue_position else {}
    changes: dict[str, Any] = {"queue_position": None}
    messages = [state.jobs.copied(m, MAX_LOG_LINE_CHARS) or "" for m in log_messages(status.logs)]
    if messages:
        changes["logs_json"] = to_json(messages[-KEEP_LOG_LINES:])
    if row["started_at"] is None:
        changes["started_at"] = utc_now()
    if status.state == "running":
        changes.update(_progress(row, messages))
        if changes.get("progress") == row["progress"]:
            changes.pop("progress", None)
    else:
        changes.update({"eta_seconds": None})
    return changes


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


async def _on_finished(state: AppState, row: dict[str, Any], result: dict[str, Any]) -> Finish:
    """Register the model version (once) and keep a local copy of the LoRA file."""
    training_id = row["id"]
    trainer = trainer_for_endpoint(state.catalog, row["endpoint"])
    files = _lora_files(result, trainer)
    expected = trainer.lora_outputs if trainer else ("a *lora* field",)
    if not files or (trainer and len(files) < len(trainer.lora_outputs)):
        keys = state.jobs.copied(str(list(result)[:20]), 500)
        return Finish(failed=True, note=f"fal finished but its result lacks the LoRA file(s) {list(expected)}: {keys}")
    url = files[0]["url"]
    done: dict[str, Any] = {"progress": 100.0, "eta_seconds": 0.0}
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
    done["model_version_id"] = version.id
    if version.lora_path and Path(version.lora_path).is_file():
        return Finish(changes={**done, "lora_path": version.lora_path})
    dest = state.settings.loras_dir / version.model_name / f"v{version.version}-{training_id}.safetensors"
    try:
        deadline = max(LORA_DOWNLOAD_DEADLINE_SECONDS, state.settings.download_deadline_seconds)
        download = await state.jobs.download(url, dest, deadline_seconds=deadline)
    except (FalError, DiskFull) as exc:
        if isinstance(exc, FalError) and exc.retryable:
            note = f"LoRA registered by URL; local copy pending (will retry): {exc.message}"
            return Finish(done=False, note=note, changes=done)
        return Finish(
            note=f"LoRA registered by URL only; the local copy could not be made: {exc.message}", changes=done
        )
    state.store.update(
        "model_versions", "id", version.id, {"lora_path": str(download.path), "lora_sha256": download.sha256}
    )
    log.info("training %s: %s v%s saved to %s", training_id, version.model_name, version.version, download.path)
    return Finish(changes={**done, "lora_path": str(download.path)})


async def _on_failed(state: AppState, row: dict[str, Any], status: JobStatus) -> str:
    """fal could not use the training data: renew an expired dataset upload so that a new start can work."""
    return await _renew_dataset(state, row) if status.error_type == "training_data_error" else ""


HOOKS = JobHooks(
    on_finished=_on_finished,
    on_status=_on_status,
    on_failed=_on_failed,
)


async def cancel(state: AppState, training_id: str) -> tuple[CancelOutcome, dict[str, Any]]:
    load(state, training_id)
    return await state.jobs.cancel(TRAINING, training_id)
