"""Model management tools: list/show models, set default, alias, rename, register external LoRAs, delete."""

import hashlib
import shutil
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from server.state import AppState
from tools.common import dedented, state_of, tool_meta
from tools.models.results import ModelSummary, ModelVersion
from tools.result_model import ResultModel

FLUX_ENDPOINT: Literal["fal-ai/flux-lora"] = "fal-ai/flux-lora"
SD_ENDPOINT = "fal-ai/lora"
EXTERNAL_ENDPOINTS = (FLUX_ENDPOINT, SD_ENDPOINT)
MAX_LORA_BYTES = 2 * 1024**3
LORA_SUFFIXES = (".safetensors",)


class ModelsResult(ResultModel):
    models: list[ModelSummary] = Field(default_factory=list, description="All registered models (no name given).")
    model: ModelSummary | None = Field(default=None, description="The model asked about.")
    versions: list[ModelVersion] = Field(default_factory=list, description="Its versions in full, oldest first.")
    hint: str


class ManageModelResult(ResultModel):
    action: str
    message: str
    model: ModelSummary
    version: ModelVersion | None = None
    warnings: list[str] = Field(default_factory=list)


class DeleteVersionResult(ResultModel):
    deleted: ModelVersion
    local_file_removed: str | None = None
    model: ModelSummary | None = Field(default=None, description="What remains of the model (None if no versions).")
    message: str


def _canonical(state: AppState, ref: str) -> str:
    """The model name behind a name, alias or endpoint-style id (ToolError with suggestions if none)."""
    from tools.models import registry

    base = registry.split_version(ref)[0]
    versions = registry.list_versions(state.store, base)
    if versions:
        return versions[0].model_name
    alias = state.store.query_one("SELECT model_name FROM model_aliases WHERE alias = ?", (base,))
    return alias["model_name"] if alias else base


def _summary(state: AppState, name: str) -> ModelSummary:
    from tools.models import registry

    for summary in registry.list_models(state.store):
        if summary.name == name:
            return summary
    raise ToolError(f"Model {name!r} is not registered.")


def register(server: MCPServer) -> None:
    @server.tool(**tool_meta("List models", read_only=True, idempotent=True, open_world=False))
    @dedented
    async def list_models(
        ctx: Context[Any],
        name: Annotated[str | None, Field(description="Show this model's versions in full.")] = None,
    ) -> ModelsResult:
        """Registered models with versions, default and aliases; name (or name@v2) is an endpoint to generate with."""
        from tools.models import registry

        state = state_of(ctx)
        if name is None:
            models = registry.list_models(state.store)
            hint = (
                "Show one with list_models(name=...)."
                if models
                else "No models yet: train one with start_training or add one with manage_model(register_external)."
            )
            return ModelsResult(models=models, hint=hint)
        canonical = _canonical(state, name)
        versions = registry.list_versions(state.store, canonical)
        model = _summary(state, canonical)
        return ModelsResult(
            model=model,
            versions=versions,
            hint=f"Generate with execute_custom_model(endpoint='{model.name}') (default version) or "
            f"'{model.name}@v<N>' for a specific version; change the default with manage_model(action='set_default').",
        )

    @server.tool(**tool_meta("Manage a model", read_only=False, idempotent=False, open_world=True))
    @dedented
    async def manage_model(
        action: Literal["set_default", "alias", "rename", "register_external"],
        name: str,
        ctx: Context[Any],
        version: Annotated[int | None, Field(description="set_default: omit to follow the newest.")] = None,
        alias: Annotated[str | None, Field(description="e.g. fal-ai/YOUR_USERNAME/sid-custom-model")] = None,
        new_name: str | None = None,
        lora_url: Annotated[str | None, Field(description="register_external: https .safetensors")] = None,
        lora_path: Annotated[str | None, Field(description="register_external: local .safetensors (copied)")] = None,
        trigger_word: str | None = None,
        base_endpoint: Annotated[
            Literal["fal-ai/flux-lora", "fal-ai/lora"], Field(description="fal-ai/lora: SD 1.5/SDXL LoRAs")
        ] = FLUX_ENDPOINT,
        base_model: Annotated[str | None, Field(description="fal-ai/lora: the SD checkpoint")] = None,
        scale: Annotated[float, Field(ge=0, le=4)] = 1.0,
        notes: str = "",
    ) -> ManageModelResult:
        """Pin the default version, alias an endpoint-style id to a model, rename, or register_external a LoRA
        trained elsewhere as the next version."""
        from tools.models import registry

        state = state_of(ctx)
        store = state.store
        if action == "set_default":
            canonical = _canonical(state, name)
            registry.set_default(store, canonical, version)
            message = (
                f"{canonical} now runs v{version} by default."
                if version is not None
                else f"{canonical} follows its newest version again."
            )
            return ManageModelResult(action=action, message=message, model=_summary(state, canonical))
        if action == "alias":
            if not alias:
                raise ToolError("action 'alias' needs alias=..., e.g. fal-ai/YOUR_USERNAME/sid-custom-model.")
            canonical = _canonical(state, name)
            registry.add_alias(store, alias, canonical)
            message = f"{alias.strip().strip('/')} now refers to model {canonical}."
            return ManageModelResult(action=action, message=message, model=_summary(state, canonical))
        if action == "rename":
            if not new_name:
                raise ToolError("action 'rename' needs new_name=....")
            canonical = _canonical(state, name)
            registry.rename(store, canonical, new_name)
            message = f"Renamed {canonical} to {new_name.strip()}; versions, aliases and trainings follow."
            return ManageModelResult(action=action, message=message, model=_summary(state, new_name.strip()))
        return await _register_external(
            state,
            name=name,
            lora_url=lora_url,
            lora_path=lora_path,
            trigger_word=trigger_word,
            base_endpoint=base_endpoint,
            base_model=base_model,
            scale=scale,
            notes=notes,
        )

    @server.tool(
        **tool_meta("Delete a model version", read_only=False, destructive=True, idempotent=False, open_world=False)
    )
    @dedented
    async def delete_model_version(
        name: str,
        version: Annotated[int, Field(ge=1)],
        ctx: Context[Any],
        confirm: Annotated[bool, Field(description="true after asking the user: cannot be undone.")] = False,
    ) -> DeleteVersionResult:
        """Delete a model version and our own copy of its LoRA. Irreversible: confirm=true only after the user
        agreed."""
        from tools.models import registry

        state = state_of(ctx)
        canonical = _canonical(state, name)
        target = next((v for v in registry.list_versions(state.store, canonical) if v.version == version), None)
        if target is None:
            known = registry.versions_of(state.store, canonical)
            raise ToolError(f"Model {canonical!r} has no version {version}; it has {known}.")
        if not confirm:
            raise ToolError(
                f"Deleting {canonical} v{version} cannot be undone (local file: {target.lora_path or 'none'}). "
                "Confirm with the user, then call again with confirm=true."
            )
        deleted = registry.delete_version(state.store, canonical, version)
        shared = deleted.lora_path and state.store.query_one(
            "SELECT 1 FROM model_versions WHERE lora_path = ?", (deleted.lora_path,)
        )
        removed = None
        if not shared:
            removed = await anyio.to_thread.run_sync(_remove_own_file, state.settings.loras_dir, deleted.lora_path)
        remaining = registry.versions_of(state.store, canonical)
        model = _summary(state, canonical) if remaining else None
        message = f"Deleted {canonical} v{version}." + (
            f" Remaining versions: {remaining}." if remaining else " The model has no versions left."
        )
        return DeleteVersionResult(deleted=deleted, local_file_removed=removed, model=model, message=message)


def _remove_own_file(loras_dir: Path, path: str | None) -> str | None:
    """Delete `path` only if it lives under our loras dir: files the user gave us are never touched."""
    if not path:
        return None
    target = Path(path).resolve()
    if not target.is_relative_to(loras_dir.resolve()) or not target.is_file():
        return None
    target.unlink()
    return str(target)


async def _register_external(
    state: AppState,
    *,
    name: str,
    lora_url: str | None,
    lora_path: str | None,
    trigger_word: str | None,
    base_endpoint: str,
    base_model: str | None,
    scale: float,
    notes: str,
) -> ManageModelResult:
    from server.fal_gateway import FalError
    from tools.models import registry
    from tools.training.trigger_words import check_trigger_word

    name = registry.validate_model_name(name)
    if bool(lora_url) == bool(lora_path):
        raise ToolError("register_external needs exactly one of lora_url (https URL) or lora_path (local file).")
    if not trigger_word:
        raise ToolError("register_external needs trigger_word: the token the LoRA was trained with.")
    warnings = check_trigger_word(trigger_word)
    if base_endpoint not in EXTERNAL_ENDPOINTS:
        raise ToolError(f"base_endpoint must be one of {', '.join(EXTERNAL_ENDPOINTS)}.")
    params: dict[str, Any] = {}
    if base_endpoint == SD_ENDPOINT:
        if not base_model:
            raise ToolError(
                "fal-ai/lora runs SD 1.5 / SDXL and needs base_model, e.g. stabilityai/stable-diffusion-xl-base-1.0 "
                "(SDXL) or runwayml/stable-diffusion-v1-5 (SD 1.5), matching what the LoRA was trained on."
            )
        params["model_name"] = base_model
    elif base_model:
        warnings.append("base_model is only used with fal-ai/lora; ignored for a FLUX LoRA.")
    url = lora_url
    local: str | None = None
    digest: str | None = None
    if lora_url:
        if not lora_url.startswith(("https://", "http://")):
            raise ToolError(f"lora_url must be an http(s) URL, got {lora_url!r}.")
    else:
        source = Path(lora_path or "").expanduser()
        if not source.is_file():
            raise ToolError(f"lora_path {source} is not a file.")
        if source.suffix.lower() not in LORA_SUFFIXES:
            raise ToolError(f"lora_path must be a .safetensors file (fal loads LoRA weights in that format): {source}")
        if source.stat().st_size > MAX_LORA_BYTES:
            raise ToolError(f"{source} is larger than 2 GB; that is not a LoRA.")
        problem = await anyio.to_thread.run_sync(safetensors_problem, source)
        if problem:
            raise ToolError(f"{source} is not a valid .safetensors file ({problem}); export the LoRA weights again.")
        copy, digest = await anyio.to_thread.run_sync(_copy_into, source, state.settings.loras_dir / name)
        local = str(copy)
        try:
            url, _ = await state.fal.upload_file_once(state.store, copy)
        except FalError as exc:
            url = None
            warnings.append(
                f"Registered with the local file only; uploading it to fal failed ({exc.message}). fal needs a URL to "
                "run it: register again once the connection works."
            )
    version = registry.register_version(
        state.store,
        name,
        trigger_word=trigger_word.strip(),
        base_endpoint=base_endpoint,
        source="external",
        lora_url=url,
        lora_path=local,
        lora_sha256=digest,
        lora_scale=scale,
        params=params,
        notes=notes,
    )
    message = (
        f"Registered {name} v{version.version} ({base_endpoint}); run it with execute_custom_model(endpoint='{name}')."
    )
    return ManageModelResult(
        action="register_external", message=message, model=_summary(state, name), version=version, warnings=warnings
    )


def _copy_into(source: Path, folder: Path) -> tuple[Path, str]:
    """Copy a user's LoRA into the data dir under a content-addressed name; the original is only read."""
    digest = hashlib.sha256()
    with source.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"external-{digest.hexdigest()[:16]}.safetensors"
    if not dest.exists():
        tmp = dest.with_name(dest.name + ".part")
        shutil.copyfile(source, tmp)
        tmp.replace(dest)
    return dest, digest.hexdigest()


def safetensors_problem(path: Path) -> str | None:
    """Why `path` is not a safetensors file (8-byte header length, JSON header, tensor data), or None."""
    import json
    import struct

    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return "shorter than its 8-byte header length"
        header_len = struct.unpack("<Q", head)[0]
        if header_len == 0 or 8 + header_len > size or header_len > 100_000_000:
            return "its header length does not fit the file"
        try:
            header = json.loads(handle.read(header_len))
        except (UnicodeDecodeError, ValueError):
            return "its header is not JSON"
    if not isinstance(header, dict) or not any(key != "__metadata__" for key in header):
        return "it holds no tensors"
    return None
