"""Running generations: record, reserve, submit once, wait a little, answer; the job engine does the rest.

Plain functions (`run_generation`, `generation_status`, `reproduce`, `run_batch`) hold the behaviour and are used
by the prompt library and the quality suite too. Every generation is one row in `generations`, driven by the job
engine (server/jobs.py) with the generation kind (tools/generation/job.py): recorded as 'submitting' with its cost
reserved before fal is called, then queued → running → completed | failed (or 'unknown' if fal's answer to the
submission was lost), with the exact request sent (for reproduction) and the files saved locally.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import anyio
from pydantic import BaseModel

from server.catalog.pricing import estimate_inference
from server.errors import InvalidInput, NotFound, UserError
from server.jobs import DuplicateUnknown, JobState, SubmitFailed
from server.state import AppState
from server.storage import from_json, new_id, to_json
from tools.generation.kind import GENERATION
from tools.generation.plan import Plan, plan_generation, upload_pending
from tools.generation.results import GenerationOutput, GenerationState, OutputFile
from tools.models import registry
from tools.shared import ProgressFn

MAX_TOOL_WAIT = 35.0


# -- running -------------------------------------------------------------------------------------------


async def run_generation(
    state: AppState,
    *,
    endpoint: str,
    input_params: dict[str, Any],
    category_hint: str | None = None,
    scenario: str | None = None,
    lora_scale: float | None = None,
    use_lora: bool = True,
    progress: ProgressFn | None = None,
    wait_seconds: float | None = None,
    force: bool = False,
) -> GenerationOutput:
    """Plan, budget-check, submit and wait up to `wait_seconds` for one generation.

    Raises UserError for bad input, budget, or an identical request whose outcome is unknown (nothing is
    recorded or spent). Once recorded it never raises for fal-side trouble: the output has status 'failed' or
    'unknown' with the error, or 'queued'/'running' with the generation_id to pass to `generation_status` later.
    """
    plan = await plan_generation(
        state,
        endpoint=endpoint,
        input_params=input_params,
        category_hint=category_hint,
        scenario=scenario,
        lora_scale=lora_scale,
        use_lora=use_lora,
    )
    digest = request_hash(endpoint, input_params, category=category_hint, lora_scale=lora_scale, use_lora=use_lora)
    wait = _wait(state, wait_seconds)
    return await execute_plan(state, plan, wait_seconds=wait, progress=progress, force=force, digest=digest)


def _wait(state: AppState, wait_seconds: float | None) -> float:
    wait = state.settings.tool_wait_seconds if wait_seconds is None else wait_seconds
    return max(0.0, min(wait, MAX_TOOL_WAIT))


def request_hash(endpoint: str, input_params: dict[str, Any], **options: Any) -> str:
    """The identity of a request as the caller gave it (before the server picks a seed): equal means identical."""
    return hashlib.sha256(to_json({"endpoint": endpoint, "input": input_params, **options}).encode()).hexdigest()


async def execute_plan(
    state: AppState,
    plan: Plan,
    *,
    wait_seconds: float,
    progress: ProgressFn | None = None,
    force: bool = False,
    digest: str | None = None,
) -> GenerationOutput:
    deadline = time.monotonic() + wait_seconds
    digest = digest or request_hash(plan.endpoint, plan.params)
    what = f"Generating with {plan.endpoint}"
    (generation_id,) = _record(state, [plan], [digest], batch_id=None, what=what, force=force)
    return await _submit_and_wait(
        state, plan, generation_id, wait_seconds=deadline - time.monotonic(), progress=progress
    )


def _record(
    state: AppState, plans: list[Plan], digests: list[str], *, batch_id: str | None, what: str, force: bool
) -> list[str]:
    """Write the rows and reserve their cost (all or nothing); refuse a request whose twin's outcome is unknown."""
    rows = []
    for plan, digest in zip(plans, digests, strict=True):
        twin = None if force else state.jobs.blocking_duplicate(GENERATION, digest)
        if twin is not None:
            raise DuplicateUnknown(
                f"An identical request ({twin['id']}) was sent to {plan.endpoint} before and its outcome is unknown: "
                "fal may have run and billed it. Check https://fal.ai/dashboard/requests; to send it again anyway, "
                "pass force=true."
            )
        rows.append(_row_for(plan, new_id("gen"), batch_id, digest))
    state.jobs.record(GENERATION, rows, what=what)
    return [row["id"] for row in rows]


def _row_for(plan: Plan, generation_id: str, batch_id: str | None, digest: str) -> dict[str, Any]:
    model = plan.model
    meta = {
        "warnings": plan.warnings,
        "prompt": plan.params.get("prompt") if isinstance(plan.params.get("prompt"), str) else None,
        "lora_applied": plan.lora_applied,
        "loras": plan.params.get("loras") or [],
        "trigger_word": model.trigger_word if model else None,
        "trigger_word_inserted": plan.trigger_inserted,
        "model_version_id": model.id if model else None,
        "reproduces": plan.reproduces,
        **plan.meta,
    }
    return {
        "id": generation_id,
        "batch_id": batch_id,
        "endpoint": plan.endpoint,
        "requested_endpoint": plan.requested_endpoint,
        "category": plan.kind,
        "model_name": model.model_name if model else None,
        "model_version": model.version if model else None,
        "request_json": to_json(plan.params),
        "request_hash": digest,
        "seed": plan.params.get("seed") if isinstance(plan.params.get("seed"), int) else None,
        "estimated_cost": plan.estimate,
        "scenario": plan.scenario,
        "meta_json": to_json(meta),
    }


async def _submit_and_wait(
    state: AppState, plan: Plan, generation_id: str, *, wait_seconds: float, progress: ProgressFn | None = None
) -> GenerationOutput:
    """Upload the plan's local files (its cost is reserved by now), then submit once and wait a little."""
    if plan.uploads:
        try:
            await upload_pending(state, plan)
        except UserError as exc:
            state.jobs.abandon(GENERATION, generation_id, f"{exc.message} Nothing was sent to fal.")
            raise
        meta = from_json(_row(state, generation_id)["meta_json"], {})
        meta["warnings"] = plan.warnings
        changes = {"request_json": to_json(plan.params), "meta_json": to_json(meta)}
        state.store.update("generations", "id", generation_id, changes)
    try:
        await state.jobs.submit(GENERATION, generation_id, hold_seconds=wait_seconds)
    except SubmitFailed as exc:
        _explain_unknown_endpoint(state, generation_id, exc)
        return load(state, generation_id)
    if progress is not None:
        await progress(5, "submitted to fal")
    await _wait_for(state, generation_id, wait_seconds, progress)
    return load(state, generation_id)


def _explain_unknown_endpoint(state: AppState, generation_id: str, exc: SubmitFailed) -> None:
    row = _row(state, generation_id)
    if exc.fal_error.status_code == 404 and row["model_name"] is None:
        names = [m.name for m in registry.list_models(state.store)]
        hint = (
            f" If you meant a registered model: none matches {row['requested_endpoint']!r}"
            f" (registered: {', '.join(names) or 'none'})."
        )
        state.store.update("generations", "id", generation_id, {"error": (row["error"] or "") + hint})


async def _wait_for(state: AppState, generation_id: str, seconds: float, progress: ProgressFn | None) -> None:
    async def report(row: dict[str, Any]) -> None:
        if progress is not None and row["next_poll_at"] is not None:
            await progress(*_progress_of(row))

    await state.jobs.wait(GENERATION, generation_id, seconds, report)
    if progress is not None and _row(state, generation_id)["next_poll_at"] is None:
        await progress(100, "done")


def _progress_of(row: dict[str, Any]) -> tuple[float, str]:
    status = row["status"]
    if status in (JobState.SUBMITTING, JobState.QUEUED):
        position = from_json(row["meta_json"], {}).get("queue_position")
        return 10, f"queued on fal (position {position})"
    if status == JobState.COMPLETED:
        return 90, "finished on fal; downloading outputs"
    return 50, "running on fal"


def _shown_status(row: dict[str, Any]) -> GenerationState:
    status = row["status"]
    if status in (JobState.FAILED, JobState.CANCELLED):
        return "failed"
    if status == JobState.SUBMITTING:
        return "queued"
    if status == JobState.COMPLETED and row["next_poll_at"] is not None and not row.get("finish_attempts"):
        return "running"  # the result is in; its files are being saved
    return status


# -- reading -------------------------------------------------------------------------------------------


def _row(state: AppState, generation_id: str) -> dict[str, Any]:
    row = state.store.query_one("SELECT * FROM generations WHERE id = ?", (generation_id,))
    if row is None:
        raise NotFound(f"No generation with id {generation_id!r}. Ids look like gen_1a2b3c4d5e6f.")
    return row


def load(state: AppState, generation_id: str) -> GenerationOutput:
    return output_of(_row(state, generation_id))


def output_of(row: dict[str, Any]) -> GenerationOutput:
    meta = from_json(row.get("meta_json"), {})
    shown = _shown_status(row)
    return GenerationOutput(
        generation_id=row["id"],
        status=shown,
        endpoint=row["endpoint"],
        requested_endpoint=row["requested_endpoint"],
        model_name=row["model_name"],
        model_version=row["model_version"],
        files=[OutputFile.model_validate(f) for f in from_json(row["files_json"], [])],
        seed=row["seed"],
        error=row["error"],
        warnings=meta.get("warnings", []),
        estimated_cost_usd=row["estimated_cost"],
        scenario=row["scenario"],
        batch_id=row["batch_id"],
        prompt=meta.get("prompt"),
        lora_applied=bool(meta.get("lora_applied")),
        loras=meta.get("loras") or [],
        trigger_word=meta.get("trigger_word"),
        trigger_word_inserted=bool(meta.get("trigger_word_inserted")),
        timings=meta.get("timings") or {},
        has_nsfw_concepts=meta.get("has_nsfw_concepts") or [],
        queue_position=meta.get("queue_position"),
        reproduces=meta.get("reproduces"),
        request=_shorten(from_json(row["request_json"], {})),
        created_at=row["created_at"],
        completed_at=row["completed_at"],
    )


def _shorten(value: Any) -> Any:
    """Keep results small: data URIs and other long strings in the echoed request are abbreviated."""
    if isinstance(value, str) and len(value) > 300:
        return value[:80] + f"... ({len(value)} chars)"
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    return value


async def generation_status(
    state: AppState, generation_id: str, wait_seconds: float = 0, progress: ProgressFn | None = None
) -> GenerationOutput:
    """The generation as recorded; if it is still open, the job engine checks fal now (and keeps following it
    for up to `wait_seconds`). Only reads: the engine's poller records the result and saves the files."""
    row = _row(state, generation_id)
    if row["next_poll_at"] is not None and row["fal_request_id"]:

        async def report(fresh: dict[str, Any]) -> None:
            if progress is not None and fresh["next_poll_at"] is not None:
                await progress(*_progress_of(fresh))

        await state.jobs.watch(GENERATION, generation_id, _wait(state, wait_seconds), report)
    return load(state, generation_id)


async def reproduce(
    state: AppState, generation_id: str, *, wait_seconds: float | None = None, progress: ProgressFn | None = None
) -> GenerationOutput:
    """Send the exact recorded request (same endpoint, LoRA, seed, parameters) again as a new generation."""
    row = _row(state, generation_id)
    params = from_json(row["request_json"], {})
    meta = from_json(row["meta_json"], {})
    model = None
    if meta.get("model_version_id"):
        found = state.store.query_one("SELECT * FROM model_versions WHERE id = ?", (meta["model_version_id"],))
        if found is not None:
            model = registry.find(state.store, f"{found['model_name']}@{found['version']}")
    entry = await state.catalog.lookup(row["endpoint"])
    priced = estimate_inference(
        await state.catalog.price(row["endpoint"]), params, entry, state.settings.max_cost_per_call_usd
    )
    plan = Plan(
        requested_endpoint=row["requested_endpoint"],
        endpoint=row["endpoint"],
        kind=row["category"],
        params=params,
        warnings=[f"Reproduction of {generation_id}: the recorded request was sent unchanged."],
        estimate=priced.usd,
        model=model,
        lora_applied=bool(meta.get("lora_applied")),
        trigger_inserted=bool(meta.get("trigger_word_inserted")),
        scenario=row["scenario"],
        reproduces=generation_id,
    )
    if model is None and row["model_name"]:
        plan.warnings.append(f"{row['model_name']} v{row['model_version']} is no longer registered; reran as recorded.")
        plan.meta = {"trigger_word": meta.get("trigger_word")}
    output = await execute_plan(state, plan, wait_seconds=_wait(state, wait_seconds), progress=progress, force=True)
    if model is None and row["model_name"]:  # keep the attribution of the original
        state.store.update(
            "generations",
            "id",
            output.generation_id,
            {"model_name": row["model_name"], "model_version": row["model_version"]},
        )
        output = load(state, output.generation_id)
    return output


# -- batches -------------------------------------------------------------------------------------------

MAX_BATCH_ITEMS = 16
BATCH_CONCURRENCY = 4


class BatchItem(BaseModel):
    input_params: dict[str, Any]
    scenario: str | None = None


def expand_batch(
    input_params: dict[str, Any],
    batch: list[dict[str, Any] | str] | None,
    seeds: list[int] | None,
    scenario: str | None,
) -> list[BatchItem]:
    """Items = each batch entry (a prompt string or a dict of overrides) merged over input_params, × each seed."""
    bases: list[BatchItem] = []
    for entry in batch or [{}]:
        override = {"prompt": entry} if isinstance(entry, str) else dict(entry)
        label = override.pop("scenario", None) or scenario
        bases.append(BatchItem(input_params={**input_params, **override}, scenario=label))
    items = bases
    if seeds:
        items = [
            BatchItem(input_params={**base.input_params, "seed": seed}, scenario=base.scenario)
            for base in bases
            for seed in seeds
        ]
    if len(items) > MAX_BATCH_ITEMS:
        raise UserError(
            f"This batch has {len(items)} items (entries × seeds); the limit is {MAX_BATCH_ITEMS} per call. "
            "Split it into several calls."
        )
    return items


async def run_batch(
    state: AppState,
    *,
    endpoint: str,
    items: list[BatchItem],
    category_hint: str | None = None,
    lora_scale: float | None = None,
    use_lora: bool = True,
    progress: ProgressFn | None = None,
    wait_seconds: float | None = None,
    concurrency: int = BATCH_CONCURRENCY,
    force: bool = False,
) -> tuple[str, list[GenerationOutput]]:
    """Check every item first (nothing is spent if one is invalid or the total is over budget), then run them
    concurrently under one deadline. Per-item fal failures come back as status 'failed' items."""
    plans = []
    for number, item in enumerate(items, 1):
        try:
            plans.append(
                await plan_generation(
                    state,
                    endpoint=endpoint,
                    input_params=item.input_params,
                    category_hint=category_hint,
                    scenario=item.scenario,
                    lora_scale=lora_scale,
                    use_lora=use_lora,
                )
            )
        except UserError as exc:
            raise InvalidInput(f"Batch item {number}: {exc}. Nothing was submitted.") from exc
    batch_id = new_id("batch")
    digests = [
        request_hash(endpoint, item.input_params, category=category_hint, lora_scale=lora_scale, use_lora=use_lora)
        for item in items
    ]
    what = f"This batch of {len(plans)} generations"
    ids = _record(state, plans, digests, batch_id=batch_id, what=what, force=force)
    deadline = time.monotonic() + _wait(state, wait_seconds)
    limiter = anyio.CapacityLimiter(max(1, concurrency))
    results: list[GenerationOutput | None] = [None] * len(plans)
    done = 0

    async def one(index: int) -> None:
        nonlocal done
        async with limiter:
            results[index] = await _submit_and_wait(
                state, plans[index], ids[index], wait_seconds=max(0.0, deadline - time.monotonic())
            )
        done += 1
        if progress is not None:
            await progress(100 * done / len(plans), f"{done}/{len(plans)} items handled")

    async with anyio.create_task_group() as group:
        for index in range(len(plans)):
            group.start_soon(one, index)
    return batch_id, [result for result in results if result is not None]


def batch_outputs(state: AppState, batch_id: str) -> list[GenerationOutput]:
    rows = state.store.query("SELECT * FROM generations WHERE batch_id = ? ORDER BY created_at, rowid", (batch_id,))
    if not rows:
        raise NotFound(f"No batch with id {batch_id!r}. Ids look like batch_1a2b3c4d5e6f.")
    return [output_of(row) for row in rows]
