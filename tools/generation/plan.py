"""Planning a generation: resolve a model name or fal endpoint, fill in the LoRA, trigger word and scale, check the
input against fal's schema, list the local files it names (uploaded after the budget check) and price it. Nothing
is sent to fal here; `upload_pending` uploads a plan's files, and running it is tools/generation/run.py.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from server.catalog import CatalogEntry, requests
from server.catalog.pricing import estimate_inference
from server.errors import InvalidInput, UserError
from server.fal_gateway import FalError
from server.state import AppState
from tools.generation import endpoints, local_inputs
from tools.models import registry
from tools.models.registry import ModelVersion

log = logging.getLogger(__name__)

ENDPOINT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)+(@v?\d+)?$")


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
        raise UserError("endpoint is empty: give a registered model name (e.g. sid-custom-model) or a fal endpoint id.")
    if "/" in requested and not ENDPOINT_ID.match(requested):
        raise UserError(
            f"{requested!r} is not a fal endpoint id: use owner/alias[/path] with letters, digits, '.', '_' or '-' "
            "(e.g. fal-ai/flux-lora), or a registered model name."
        )
    if lora_scale is not None and not 0 <= lora_scale <= 4:
        raise UserError(f"lora_scale={lora_scale} is out of range: use 0-4 (1.0 = as trained).")
    params = dict(input_params)
    warnings: list[str] = []
    catalog = state.catalog
    # A catalogued endpoint id always means that endpoint, even if a model happens to share its last segment.
    requested_entry = await catalog.lookup_priced(requested) if "/" in requested and "@" not in requested else None
    model = None if requested_entry is not None else registry.find(state.store, requested)
    if model is None and "/" not in requested:  # fal ids are owner/alias[/path]: this can only mean a model name
        registry.resolve(state.store, requested)
    trigger_inserted = False
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
            raise UserError(f"Could not upload {upload.path.name} for {upload.label}: {exc.message}") from exc
        local_inputs.set_at(plan.params, upload.location, url)
        plan.warnings.append(f"{upload.label}: the local file {upload.path.name} was uploaded to fal storage.")
    plan.uploads = []
