"""Planning a generation: resolve a model name or fal endpoint, fill in the LoRA, trigger word and scale, check the
input against the endpoint's rules, upload local files it names, and estimate the cost. Nothing is sent to fal here
except those uploads; running the plan is tools/generation/run.py.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.errors import UserError
from server.fal_gateway import FalError
from server.state import AppState
from tools.generation import endpoints
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
    """Resolve the endpoint (registered model or raw id), map and check the input, estimate the cost."""
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
    await _upload_local_files(state, params, warnings)
    # A known endpoint id always means that endpoint, even if a model happens to share its last segment.
    model = None if endpoints.get(requested) is not None else registry.find(state.store, requested)
    if model is None and "/" not in requested:  # fal ids are owner/alias[/path]: this can only mean a model name
        registry.resolve(state.store, requested)
    trigger_inserted = False
    if model is not None:
        target, spec = _model_target(model, params, warnings)
        trigger_inserted = _ensure_trigger(params, model.trigger_word, warnings)
        lora_applied = await _apply_model_lora(state, model, params, warnings, lora_scale, use_lora, target)
    else:
        target, spec = requested, endpoints.get(requested)
        lora_applied = _apply_raw_loras(target, spec, params, warnings, lora_scale, use_lora)
    kind = spec.kind if spec is not None else (category_hint or "image")
    if spec is not None and category_hint and category_hint != spec.kind:
        warnings.append(f"category_hint={category_hint!r} ignored: {target} produces {spec.kind}.")
    if spec is not None:
        params, more = endpoints.normalize(spec, params)
        warnings += more
    else:
        warnings.append(
            f"{target} is not in the endpoint table: input sent unchecked, outputs read as {kind}, cost is a rough "
            "estimate."
        )
    estimate, _estimated = endpoints.estimate_cost(spec, params, kind)
    return Plan(
        requested_endpoint=requested,
        endpoint=target,
        kind=kind,
        params=params,
        warnings=warnings,
        estimate=estimate,
        model=model,
        lora_applied=lora_applied,
        trigger_inserted=trigger_inserted,
        scenario=scenario,
    )


async def _apply_model_lora(
    state: AppState,
    model: ModelVersion,
    params: dict[str, Any],
    warnings: list[str],
    lora_scale: float | None,
    use_lora: bool,
    target: str,
) -> bool:
    """loras = [the model's LoRA] (+ any extra ones given), or none for a baseline run. True if applied."""
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
    params["loras"] = [{"path": await _lora_url(state, model), "scale": scale}]
    if isinstance(extra, list) and extra:
        params["loras"] += extra
        warnings.append(f"{len(extra)} extra LoRA(s) from input_params were stacked after {model.model_name}.")
    return True


def _apply_raw_loras(
    target: str,
    spec: endpoints.EndpointSpec | None,
    params: dict[str, Any],
    warnings: list[str],
    lora_scale: float | None,
    use_lora: bool,
) -> bool:
    """LoRAs given by hand to a raw endpoint: scaled, kept, or (use_lora=false) removed. True if applied."""
    given = _pop_scale(params, warnings) if spec is not None else None  # unknown endpoints: input untouched
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
    if spec is None:
        warnings.append(
            f"{target} is not in the endpoint table, so it is unknown whether it applies LoRAs; "
            "registered models are sent to their LoRA endpoint automatically."
        )
    return spec is not None and spec.accepts_lora  # a known endpoint that ignores LoRAs drops them in normalize


def _model_target(
    model: ModelVersion, params: dict[str, Any], warnings: list[str]
) -> tuple[str, endpoints.EndpointSpec | None]:
    target = model.base_endpoint
    spec = endpoints.get(target)
    if spec is not None and spec.image_variant and params.get("image_url"):
        target = spec.image_variant
        spec = endpoints.get(target)
        warnings.append(f"image_url given: using {target} (image to image) with {model.model_name}'s LoRA.")
    if spec is not None and not spec.accepts_lora:
        raise UserError(
            f"{model.model_name} v{model.version} is registered with base endpoint {target}, which ignores LoRAs, so "
            "the model would not be applied. Re-register the version with a LoRA endpoint such as fal-ai/flux-lora."
        )
    if spec is None:
        warnings.append(
            f"{target} is not in the endpoint table; the LoRA is sent as loras=[{{path, scale}}] unchecked."
        )
    return target, spec


def _pop_scale(params: dict[str, Any], warnings: list[str]) -> float | None:
    found = None
    for name in endpoints.LORA_SCALE_NAMES:
        if name in params:
            value = params.pop(name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 4:
                raise UserError(f"{name}={value!r} is not a valid LoRA scale: use a number from 0 to 4.")
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


async def _upload_local_files(state: AppState, params: dict[str, Any], warnings: list[str]) -> None:
    """`*_url` inputs given as local file paths (e.g. image_url for image to image) are uploaded to fal storage."""
    for name, value in list(params.items()):
        if (
            not name.endswith("_url")
            or not isinstance(value, str)
            or value.startswith(("http://", "https://", "data:"))
        ):
            continue
        path = Path(value).expanduser()
        if not path.is_file():
            continue
        try:
            url, _ = await state.fal.upload_file_once(state.store, path)
        except FalError as exc:
            raise UserError(f"Could not upload {path} for {name}: {exc.message}") from exc
        params[name] = url
        warnings.append(f"{name}: the local file {path.name} was uploaded to fal storage and sent as its URL.")


async def _lora_url(state: AppState, model: ModelVersion) -> str:
    if model.lora_url:
        return model.lora_url
    if model.lora_path and Path(model.lora_path).is_file():
        try:
            url, _ = await state.fal.upload_file_once(state.store, Path(model.lora_path))
        except FalError as exc:
            raise UserError(f"Could not upload {model.model_name}'s LoRA file: {exc.message}") from exc
        return url
    raise UserError(
        f"{model.model_name} v{model.version} has no LoRA URL and its local file {model.lora_path!r} is missing. "
        "Register the version again with a LoRA URL or file."
    )
