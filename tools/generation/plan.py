"""Generation: run a registered LoRA model or any fal endpoint, keep every output, record every call.

Plain functions (`run_generation`, `generation_status`, `reproduce`) hold the behaviour and are used by the
prompt library too; `register` only wraps them as tools. Every generation is one row in `generations`:
inserted as 'submitting' before fal is called, then queued → running → completed | failed, with the exact
request sent to fal (for reproduction), the files saved locally, and its cost estimate in the ledger.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from server.catalog import CatalogEntry, requests
from server.catalog.pricing import estimate_inference
from server.costs import check_budget, record_cost
from server.disk import disk_full, is_out_of_room
from server.errors import DiskFull, InvalidInput
from server.fal_gateway import FalError, JobStatus
from server.state import AppState
from server.storage import from_json, new_id, to_json, utc_now
from tools.common import ProgressFn, user_errors
from tools.generation import endpoints, local_inputs, outputs
from tools.models import registry
from tools.models.registry import ModelVersion

log = logging.getLogger(__name__)

GenerationState = Literal["completed", "queued", "running", "failed"]
TERMINAL = ("completed", "failed", "cancelled")
MAX_TOOL_WAIT = 35.0
ENDPOINT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)+(@v?\d+)?$")
STALE_SUBMITTING_SECONDS = 600  # a row still 'submitting' this long means the process died mid-submit
MAX_DOWNLOAD_PASSES = 6  # background re-downloads of a finished generation's files before giving up


class OutputFile(BaseModel):
    path: str = Field(description="Local file ('' if the download failed; the url still works for a while).")
    url: str
    content_type: str | None
    width: int | None
    height: int | None
    seed: int | None


class GenerationOutput(BaseModel):
    generation_id: str
    status: GenerationState
    endpoint: str = Field(description="The fal endpoint actually called.")
    requested_endpoint: str
    model_name: str | None
    model_version: int | None
    files: list[OutputFile]
    seed: int | None
    error: str | None
    warnings: list[str]
    estimated_cost_usd: float
    scenario: str | None
    # Details beyond the shared interface (all optional).
    batch_id: str | None = None
    prompt: str | None = Field(default=None, description="The prompt as sent (trigger word included).")
    lora_applied: bool = False
    loras: list[dict[str, Any]] = Field(default_factory=list)
    trigger_word: str | None = None
    trigger_word_inserted: bool = False
    timings: dict[str, Any] = Field(default_factory=dict)
    has_nsfw_concepts: list[bool] = Field(default_factory=list)
    queue_position: int | None = None
    reproduces: str | None = Field(default=None, description="The generation this one re-ran.")
    request: dict[str, Any] = Field(default_factory=dict, description="Input sent to fal (long strings shortened).")
    created_at: str = ""
    completed_at: str | None = None


@dataclass
class Plan:
    """A fully resolved, checked request: what will be sent where, and what it will cost."""

    requested_endpoint: str
    endpoint: str
    kind: str
    params: dict[str, Any]
    warnings: list[str]
    estimate: float
    model: ModelVersion | None = None
    lora_applied: bool = False
    trigger_inserted: bool = False
    scenario: str | None = None
    reproduces: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    uploads: list[local_inputs.PendingUpload] = field(default_factory=list)  # uploaded after the budget check


# -- resolution ----------------------------------------------------------------------------------------


async def plan_generation(
    state: AppState,
    *,
    endpoint: str,
    input_params: dict[str, Any],
    category_hint: str | None = None,
    scenario: str | None = None,
    lora_scale: float | None = None,
    use_lora: bool = True,
) -> Plan:
    """Resolve the endpoint (registered model or raw id), check the input against fal's schema, price it.

    Nothing is uploaded or sent here: local files found in the input are validated and listed in
    `Plan.uploads`; `execute_plan` uploads them after the budget check.
    """
    requested = endpoint.strip()
    if not requested:
        raise ToolError("endpoint is empty: give a registered model name (e.g. sid-custom-model) or a fal endpoint id.")
    if "/" in requested and not ENDPOINT_ID.match(requested):
        raise ToolError(
            f"{requested!r} is not a fal endpoint id: use owner/alias[/path] with letters, digits, '.', '_' or '-' "
            "(e.g. fal-ai/flux-lora), or a registered model name."
        )
    if lora_scale is not None and not 0 <= lora_scale <= 4:
        raise ToolError(f"lora_scale={lora_scale} is out of range: use 0-4 (1.0 = as trained).")
    params = dict(input_params)
    warnings: list[str] = []
    catalog = state.catalog
    # A catalogued endpoint id always means that endpoint, even if a model happens to share its last segment.
    requested_entry = await catalog.lookup_priced(requested) if "/" in requested and "@" not in requested else None
    model = None if requested_entry is not None else registry.find(state.store, requested)
    if model is None and "/" not in requested:  # fal ids are owner/alias[/path]: this can only mean a model name
        registry.resolve(state.store, requested)
    trigger_inserted = False
    with user_errors():
        if model is not None:
            target, entry = await _model_target(state, model, params, warnings)
            trigger_inserted = _ensure_trigger(params, model.trigger_word, warnings)
            lora_applied = _apply_model_lora(model, entry, params, warnings, lora_scale, use_lora, target)
        else:
            target, entry = requested, requested_entry
            lora_applied = _apply_raw_loras(target, entry, params, warnings, lora_scale, use_lora)
        if entry is not None and entry.kind == "training":
            raise InvalidInput(f"{target} is a trainer: start it with start_training(model_type={target!r}).")
        kind = requests.output_kind(entry) if entry is not None else (category_hint or "image")
        if entry is not None and category_hint == "video" and kind != "video":
            raise InvalidInput(_not_video(target, kind, model))
        if entry is not None and category_hint and category_hint != kind:
            warnings.append(f"category_hint={category_hint!r} ignored: {target} produces {kind}.")
        if entry is not None:
            checked = requests.check_inference(entry, params)
            params = checked.body
            warnings += checked.warnings
            if entry.status != "active":
                warnings.append(f"fal lists {target} as {entry.status}: it may stop working.")
        else:
            warnings.append(
                f"{target} is not in fal's catalogue ({catalog.snapshot_note}; fal was asked when a key and the "
                f"network allowed): input sent unchecked, outputs read as {kind}."
            )
        own = frozenset({model.lora_path} if model is not None and model.lora_path else set())
        uploads = await anyio.to_thread.run_sync(local_inputs.pending_uploads, target, entry, params, own)
    estimate = estimate_inference(await catalog.price(target), params, entry, state.settings.max_cost_per_call_usd)
    if not estimate.known:
        warnings.append(f"Cost: {estimate.basis}.")
    return Plan(
        requested_endpoint=requested,
        endpoint=target,
        kind=kind,
        params=params,
        warnings=warnings,
        estimate=estimate.usd,
        model=model,
        lora_applied=lora_applied,
        trigger_inserted=trigger_inserted,
        scenario=scenario,
        meta={"price_basis": estimate.basis, "output_fields": requests.output_fields(entry) if entry else []},
        uploads=uploads,
    )


def _not_video(target: str, kind: str, model: ModelVersion | None) -> str:
    """category_hint='video' on an endpoint (or a model's endpoint) that makes something else: the way to a clip."""
    if model is not None:
        return (
            f"{model.model_name} makes {kind}s on {target}, not video: animate a still of it with "
            f"video(start={model.model_name!r}, prompt=<the motion>), which makes the still with its LoRA first"
        )
    return (
        f"{target} makes {kind}s, not video: animate one of its images with video(start=<its generation id>, "
        "prompt=<the motion>), or name an image-to-video or text-to-video endpoint"
    )


def _model_loras(model: ModelVersion, entry: CatalogEntry | None, scale: float) -> list[dict[str, Any]]:
    """The model's LoRA file(s) as `loras` items: all files a trainer returned (Wan 2.2: low + high noise)."""
    files = model.params.get("lora_files") if isinstance(model.params.get("lora_files"), list) else None
    takes_transformer = entry is not None and "transformer" in requests.lora_item_properties(entry)
    if not files:
        return [{"path": _lora_ref(model), "scale": scale}]
    items = []
    for index, file in enumerate(files):
        path = file.get("url") or (_lora_ref(model) if index == 0 else None)
        if not path:
            continue
        item: dict[str, Any] = {"path": path, "scale": scale}
        if takes_transformer and file.get("transformer"):
            item["transformer"] = file["transformer"]
        items.append(item)
    return items


def _apply_model_lora(
    model: ModelVersion,
    entry: CatalogEntry | None,
    params: dict[str, Any],
    warnings: list[str],
    lora_scale: float | None,
    use_lora: bool,
    target: str,
) -> bool:
    """loras = [the model's LoRA file(s)] (+ any extra ones given), or none for a baseline run. True if applied."""
    given = _pop_scale(params, warnings)
    scale = lora_scale if lora_scale is not None else given if given is not None else model.lora_scale
    extra = params.pop("loras", None)
    if not use_lora:
        warnings.append(
            f"Baseline run: {model.model_name} v{model.version}'s LoRA was NOT applied (use_lora=false); same "
            f"endpoint {target} and prompt, for comparison."
        )
        if extra:
            warnings.append("loras in input_params were not sent because use_lora=false.")
        return False
    params["loras"] = _model_loras(model, entry, scale)
    if isinstance(extra, list) and extra:
        params["loras"] += extra
        warnings.append(f"{len(extra)} extra LoRA(s) from input_params were stacked after {model.model_name}.")
    return True


def _apply_raw_loras(
    target: str,
    entry: CatalogEntry | None,
    params: dict[str, Any],
    warnings: list[str],
    lora_scale: float | None,
    use_lora: bool,
) -> bool:
    """LoRAs given by hand to a raw endpoint: scaled, kept, or (use_lora=false) removed. True if applied."""
    given = _pop_scale(params, warnings) if entry is not None else None  # unknown endpoints: input untouched
    scale = lora_scale if lora_scale is not None else given
    loras = params.get("loras")
    if not use_lora and loras:
        params.pop("loras")
        warnings.append("loras in input_params were not sent because use_lora=false.")
        return False
    if not (isinstance(loras, list) and loras):
        if scale is not None:
            warnings.append("A LoRA scale was given but no LoRA is used; it was ignored.")
        return False
    if scale is not None:
        params["loras"] = [{**item, "scale": scale} if isinstance(item, dict) else item for item in loras]
    if entry is None:
        warnings.append(
            f"{target} is not in fal's catalogue, so it is unknown whether it applies LoRAs; "
            "registered models are sent to their LoRA endpoint automatically."
        )
        return False
    if not requests.accepts_loras(entry):
        warnings.append(f"{target} has no 'loras' input in fal's schema: the LoRAs given will be ignored by fal.")
        return False
    return True


async def _model_target(
    state: AppState, model: ModelVersion, params: dict[str, Any], warnings: list[str]
) -> tuple[str, CatalogEntry | None]:
    target = model.base_endpoint
    variant = endpoints.IMAGE_VARIANTS.get(target)
    if variant and params.get("image_url"):
        target = variant
        warnings.append(f"image_url given: using {target} (image to image) with {model.model_name}'s LoRA.")
    entry = await state.catalog.lookup_priced(target)
    if entry is not None and not requests.accepts_loras(entry):
        raise InvalidInput(
            f"{model.model_name} v{model.version} is registered with base endpoint {target}, whose schema has no "
            "loras input, so the model would not be applied. Re-register the version with a LoRA endpoint such as "
            "fal-ai/flux-lora."
        )
    if entry is None:
        warnings.append(f"{target} is not in fal's catalogue; the LoRA is sent as loras=[{{path, scale}}] unchecked.")
    return target, entry


def _pop_scale(params: dict[str, Any], warnings: list[str]) -> float | None:
    found = None
    for name in endpoints.LORA_SCALE_NAMES:
        if name in params:
            value = params.pop(name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 4:
                raise InvalidInput(f"{name}={value!r} is not a valid LoRA scale: use a number from 0 to 4.")
            found = float(value)
            warnings.append(f"'{name}' was applied as the LoRA scale ({found:g}).")
    return found


def _ensure_trigger(params: dict[str, Any], trigger: str, warnings: list[str]) -> bool:
    prompt = params.get("prompt")
    if not trigger or not isinstance(prompt, str) or not prompt.strip():
        return False
    if re.search(rf"(?<!\w){re.escape(trigger)}(?!\w)", prompt, re.IGNORECASE):
        return False
    params["prompt"] = f"{trigger}, {prompt.strip()}"
    warnings.append(f"Trigger word {trigger!r} was missing from the prompt and was added at the start.")
    return True


def _lora_ref(model: ModelVersion) -> str:
    """The model's LoRA as fal will read it: its URL, or its local file (uploaded after the budget check)."""
    if model.lora_url:
        return model.lora_url
    if model.lora_path and Path(model.lora_path).is_file():
        return model.lora_path
    raise InvalidInput(
        f"{model.model_name} v{model.version} has no LoRA URL and its local file {model.lora_path!r} is missing. "
        "Register the version again with a LoRA URL or file."
    )


async def upload_pending(state: AppState, plan: Plan) -> None:
    """Upload the plan's local files (already validated) and put their URLs in the request. After the budget check."""
    for upload in plan.uploads:
        try:
            url, _ = await state.fal.upload_file_once(state.store, upload.path)
        except FalError as exc:
            raise ToolError(f"Could not upload {upload.path.name} for {upload.label}: {exc.message}") from exc
        local_inputs.set_at(plan.params, upload.location, url)
        plan.warnings.append(f"{upload.label}: the local file {upload.path.name} was uploaded to fal storage.")
    plan.uploads = []


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
) -> GenerationOutput:
    """Plan, budget-check, submit and wait up to `wait_seconds` for one generation.

    Raises ToolError for bad input or budget (nothing is recorded or spent). Once submitted it never raises
    for fal-side trouble: the output has status 'failed' with the error, or 'queued'/'running' with the
    generation_id to pass to `generation_status` later.
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
    return await execute_plan(state, plan, wait_seconds=_wait(state, wait_seconds), progress=progress)


def _wait(state: AppState, wait_seconds: float | None) -> float:
    wait = state.settings.tool_wait_seconds if wait_seconds is None else wait_seconds
    return max(0.0, min(wait, MAX_TOOL_WAIT))


async def execute_plan(
    state: AppState,
    plan: Plan,
    *,
    wait_seconds: float,
    progress: ProgressFn | None = None,
    batch_id: str | None = None,
    check: bool = True,
) -> GenerationOutput:
    if check:
        check_budget(state.settings, state.store, plan.estimate, f"Generating with {plan.endpoint}")
    await upload_pending(state, plan)
    deadline = time.monotonic() + wait_seconds
    generation_id = await submit(state, plan, batch_id=batch_id, hold_seconds=wait_seconds)
    if progress is not None:
        await progress(5, f"submitted to {plan.endpoint}")
    await wait_for(state, generation_id, deadline, progress)
    return load(state, generation_id)


async def submit(state: AppState, plan: Plan, *, batch_id: str | None = None, hold_seconds: float = 0.0) -> str:
    """Record the row, submit to fal, record fal's id and the cost. Returns the generation id."""
    generation_id = new_id("gen")
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
    state.store.insert(
        "generations",
        {
            "id": generation_id,
            "batch_id": batch_id,
            "endpoint": plan.endpoint,
            "requested_endpoint": plan.requested_endpoint,
            "category": plan.kind,
            "model_name": model.model_name if model else None,
            "model_version": model.version if model else None,
            "request_json": to_json(plan.params),
            "status": "submitting",
            "seed": plan.params.get("seed") if isinstance(plan.params.get("seed"), int) else None,
            "estimated_cost": plan.estimate,
            "scenario": plan.scenario,
            "created_at": utc_now(),
            "meta_json": to_json(meta),
        },
    )
    try:
        request_id = await state.fal.submit(plan.endpoint, plan.params)
    except FalError as exc:
        message = exc.message
        if exc.status_code == 404 and plan.model is None:
            names = [m.name for m in registry.list_models(state.store)]
            message += (
                f" If you meant a registered model: none matches {plan.requested_endpoint!r}"
                f" (registered: {', '.join(names) or 'none'})."
            )
        state.store.update("generations", "id", generation_id, {"status": "failed", "error": message})
        return generation_id
    # The tool itself watches the job until its deadline; the background poller takes over after that.
    interval = state.settings.poll_min_seconds
    state.store.update(
        "generations",
        "id",
        generation_id,
        {
            "fal_request_id": request_id,
            "status": "queued",
            "poll_interval": interval,
            "next_poll_at": time.time() + max(hold_seconds, interval) + 1,
        },
    )
    record_cost(
        state.store,
        kind="generation",
        ref_id=generation_id,
        endpoint=plan.endpoint,
        amount_usd=plan.estimate,
        model_name=model.model_name if model else None,
    )
    return generation_id


async def wait_for(state: AppState, generation_id: str, deadline: float, progress: ProgressFn | None) -> None:
    """Poll one generation until it is finished or the deadline passes; hand it to the poller if unfinished."""
    interval = 0.1  # fal-client itself polls every 0.1 s; back off quickly from there
    while True:
        row = _row(state, generation_id)
        if row["status"] in TERMINAL or row["fal_request_id"] is None:
            return
        try:
            status = await state.fal.status(row["endpoint"], row["fal_request_id"])
        except FalError as exc:
            if not exc.retryable:
                _fail(state, generation_id, exc.message)
                return
            status = None
        if status is not None and status.state == "completed":
            if progress is not None:
                await progress(90, "finished on fal; downloading outputs")
            await finalize(state, generation_id, status)
            if progress is not None:
                await progress(100, "done")
            return
        if status is not None:
            _record_status(state, generation_id, status)
            if progress is not None:
                await progress(*_progress_of(status))
        if time.monotonic() + interval >= deadline:
            state.store.update("generations", "id", generation_id, {"next_poll_at": time.time()})
            return
        await anyio.sleep(interval)
        interval = min(interval * 1.5, 2.0)


def _progress_of(status: JobStatus) -> tuple[float, str]:
    if status.state == "queued":
        return 10, f"queued on fal (position {status.queue_position})"
    last = status.logs[-1].get("message") if status.logs else None
    match = re.search(r"(\d+)\s*/\s*(\d+)", last or "")
    fraction = int(match.group(1)) / max(int(match.group(2)), 1) if match else 0.3
    return 15 + 70 * min(fraction, 1.0), f"running on fal{': ' + last if last else ''}"


def _record_status(state: AppState, generation_id: str, status: JobStatus) -> None:
    meta = _meta(state, generation_id)
    meta["queue_position"] = status.queue_position
    state.store.execute(
        "UPDATE generations SET status = ?, meta_json = ? "
        "WHERE id = ? AND status IN ('submitting', 'queued', 'running')",
        (status.state, to_json(meta), generation_id),
    )


async def finalize(state: AppState, generation_id: str, status: JobStatus) -> None:
    """A job fal reports finished: fetch and persist its result at once, download the files, mark it done."""
    async with state.lock(f"generation:{generation_id}"):
        row = _row(state, generation_id)
        if row["status"] in TERMINAL:
            return
        if status.error:
            _fail(state, generation_id, f"fal reported the job failed: {status.error}")
            return
        result = from_json(row["result_json"])
        if result is None:
            try:
                result = await state.fal.result(row["endpoint"], row["fal_request_id"])
            except FalError as exc:
                if exc.retryable:
                    _backoff(state, row)
                else:
                    _fail(state, generation_id, exc.message)
                return
            seed = result.get("seed") if isinstance(result.get("seed"), int) else row["seed"]
            state.store.update(
                "generations",
                "id",
                generation_id,
                {"result_json": to_json(result), "seed": seed, "status": "running"},
            )
        await _save_files(state, generation_id, result)


async def _save_files(state: AppState, generation_id: str, result: dict[str, Any]) -> None:
    row = _row(state, generation_id)
    meta = from_json(row["meta_json"], {})
    seed = row["seed"]
    found = outputs.find_files(result, row["category"], meta.get("output_fields") or None)
    folder = outputs.folder_for(state.settings.outputs_dir, model_name=row["model_name"], endpoint=row["endpoint"])
    label = row["scenario"] or meta.get("prompt") or from_json(row["request_json"], {}).get("prompt") or "output"
    stem = outputs.base_name(
        model_name=row["model_name"],
        version=row["model_version"],
        endpoint=row["endpoint"],
        label=label,
        seed=seed,
        lora=bool(meta.get("lora_applied")) or row["model_name"] is None,
    )
    files: list[OutputFile | None] = [None] * len(found)
    failures: list[str] = []
    retry_later = False
    # Files an earlier pass already saved are kept; only the missing ones are fetched again.
    saved_before = {
        f["url"]: OutputFile.model_validate(f)
        for f in from_json(row["files_json"], [])
        if f.get("path") and Path(f["path"]).is_file()
    }

    async def fetch(index: int, item: outputs.FoundFile) -> None:
        nonlocal retry_later
        if item.url in saved_before:
            files[index] = saved_before[item.url]
            return
        ext = outputs.extension(item.url, item.content_type, row["category"])
        path = ""
        content_type = item.content_type
        width, height = item.width, item.height
        try:
            dest = outputs.reserve(folder, f"{stem}_{index}", ext)
            got, got_type = await outputs.download(state.fal, item.url, dest)
            path, content_type = str(got), content_type or got_type
            if row["category"] == "image" and (width is None or height is None):
                width, height = await anyio.to_thread.run_sync(outputs.image_size_of, got)
        except FalError as exc:
            failures.append(f"file {index}: {exc.message}")
            retry_later = retry_later or exc.retryable
        except OSError as exc:
            if is_out_of_room(exc):
                exc = disk_full(exc, folder, "save the file")
            if isinstance(exc, DiskFull):
                failures.append(f"file {index}: {exc.message}")
            else:
                failures.append(f"file {index}: could not write to {folder} ({exc})")
        files[index] = OutputFile(
            path=path, url=item.url, content_type=content_type, width=width, height=height, seed=seed
        )

    async with anyio.create_task_group() as group:
        for index, item in enumerate(found):
            group.start_soon(fetch, index, item)
    saved = [f for f in files if f is not None]
    meta["timings"] = result.get("timings") if isinstance(result.get("timings"), dict) else {}
    nsfw = result.get("has_nsfw_concepts")
    meta["has_nsfw_concepts"] = [bool(x) for x in nsfw] if isinstance(nsfw, list) else []
    meta["queue_position"] = None
    if isinstance(result.get("prompt"), str):
        meta["prompt"] = result["prompt"]
    error = None
    next_poll_at = None
    if failures:
        attempts = int(meta.get("download_attempts", 0)) + 1
        meta["download_attempts"] = attempts
        retry_later = retry_later and attempts < MAX_DOWNLOAD_PASSES
        if retry_later:  # fal's file URLs expire: the background watcher tries again soon
            next_poll_at = time.time() + state.settings.poll_min_seconds * 2**attempts
        error = (
            f"{len(failures)} of {len(found)} files could not be downloaded ({'; '.join(failures)}); "
            "their fal URLs are listed and work for a limited time."
            + (" The server retries the download in the background." if retry_later else "")
        )
    elif not found:
        error = "fal finished but the result holds no output files; see the recorded result."
    state.store.update(
        "generations",
        "id",
        generation_id,
        {
            "status": "completed",
            "files_json": to_json([f.model_dump() for f in saved]),
            "meta_json": to_json(meta),
            "error": error,
            "completed_at": row["completed_at"] or utc_now(),
            "next_poll_at": next_poll_at,
        },
    )


async def _retry_downloads(state: AppState, generation_id: str) -> None:
    """A completed generation whose files could not all be fetched: try the missing ones again."""
    async with state.lock(f"generation:{generation_id}"):
        row = _row(state, generation_id)
        result = from_json(row["result_json"])
        if row["status"] != "completed" or row["next_poll_at"] is None or result is None:
            return
        await _save_files(state, generation_id, result)


def _fail(state: AppState, generation_id: str, message: str) -> None:
    state.store.update(
        "generations",
        "id",
        generation_id,
        {"status": "failed", "error": message, "completed_at": utc_now(), "next_poll_at": None},
    )


def _backoff(state: AppState, row: dict[str, Any]) -> None:
    settings = state.settings
    interval = min(
        max((row["poll_interval"] or settings.poll_min_seconds) * 1.5, settings.poll_min_seconds),
        settings.poll_max_seconds,
    )
    state.store.update(
        "generations", "id", row["id"], {"poll_interval": interval, "next_poll_at": time.time() + interval}
    )


# -- reading -------------------------------------------------------------------------------------------


def _row(state: AppState, generation_id: str) -> dict[str, Any]:
    row = state.store.query_one("SELECT * FROM generations WHERE id = ?", (generation_id,))
    if row is None:
        raise ToolError(f"No generation with id {generation_id!r}. Ids look like gen_1a2b3c4d5e6f.")
    return row


def _meta(state: AppState, generation_id: str) -> dict[str, Any]:
    return from_json(_row(state, generation_id)["meta_json"], {})


def load(state: AppState, generation_id: str) -> GenerationOutput:
    return output_of(_row(state, generation_id))


def output_of(row: dict[str, Any]) -> GenerationOutput:
    meta = from_json(row.get("meta_json"), {})
    status = row["status"]
    shown: GenerationState = (
        "failed" if status in ("failed", "cancelled") else "queued" if status == "submitting" else status
    )
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


async def generation_status(state: AppState, generation_id: str, wait_seconds: float = 0) -> GenerationOutput:
    """The generation as recorded; checks fal once (or until `wait_seconds`) if it is still open."""
    row = _row(state, generation_id)
    if row["status"] in ("queued", "running") and row["fal_request_id"]:
        await wait_for(state, generation_id, time.monotonic() + _wait(state, wait_seconds), None)
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
    output = await execute_plan(state, plan, wait_seconds=_wait(state, wait_seconds), progress=progress)
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
        raise ToolError(
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
        except ToolError as exc:
            raise ToolError(f"Batch item {number}: {exc}. Nothing was submitted.") from exc
    total = sum(plan.estimate for plan in plans)
    check_budget(state.settings, state.store, total, f"This batch of {len(plans)} generations")
    batch_id = new_id("batch")
    deadline = time.monotonic() + _wait(state, wait_seconds)
    limiter = anyio.CapacityLimiter(max(1, concurrency))
    results: list[GenerationOutput | None] = [None] * len(plans)
    done = 0

    async def one(index: int) -> None:
        nonlocal done
        async with limiter:
            results[index] = await execute_plan(
                state,
                plans[index],
                wait_seconds=max(0.0, deadline - time.monotonic()),
                batch_id=batch_id,
                check=False,
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
        raise ToolError(f"No batch with id {batch_id!r}. Ids look like batch_1a2b3c4d5e6f.")
    return [output_of(row) for row in rows]


# -- background poller ---------------------------------------------------------------------------------


async def poll_generations(state: AppState) -> None:
    """Finish generations nobody is waiting on (tool deadline passed, or the server restarted)."""
    now = time.time()
    stale = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - STALE_SUBMITTING_SECONDS))
    for row in state.store.query(
        "SELECT id FROM generations WHERE status = 'submitting' AND fal_request_id IS NULL AND created_at < ?",
        (stale,),
    ):
        _fail(
            state,
            row["id"],
            "The server stopped while submitting this job, so it is unknown whether fal received it. Check "
            "https://fal.ai/dashboard/requests before running it again.",
        )
    due = state.store.query(
        "SELECT * FROM generations WHERE status IN ('queued', 'running') AND fal_request_id IS NOT NULL "
        "AND (next_poll_at IS NULL OR next_poll_at <= ?) ORDER BY next_poll_at LIMIT 16",
        (now,),
    )
    for row in due:
        try:
            await _poll_one(state, row)
        except Exception:  # one bad row must not starve the others; it is retried after a backoff
            log.exception("polling generation %s failed", row["id"])
            _backoff(state, row)
    for row in state.store.query(
        "SELECT id FROM generations WHERE status = 'completed' AND next_poll_at IS NOT NULL AND next_poll_at <= ? "
        "LIMIT 16",
        (now,),
    ):
        try:
            await _retry_downloads(state, row["id"])
        except Exception:
            log.exception("retrying downloads of generation %s failed", row["id"])


async def _poll_one(state: AppState, row: dict[str, Any]) -> None:
    try:
        status = await state.fal.status(row["endpoint"], row["fal_request_id"], with_logs=False)
    except FalError as exc:
        if exc.retryable:
            _backoff(state, row)
        else:
            _fail(state, row["id"], exc.message)
        return
    if status.state == "completed":
        await finalize(state, row["id"], status)
    else:
        _record_status(state, row["id"], status)
        _backoff(state, row)
