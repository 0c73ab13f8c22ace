"""prompt_library: tested prompt templates per scenario, rendered for a model's trigger word and run."""

from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from prompts.loader import Template, TemplateError, build_template
from server.state import AppState
from tools.common import Progress, dedented, state_of, tool_meta, with_previews
from tools.generation.results import GenerationOutput
from tools.library.results import Rendered
from tools.result_model import ResultModel

Action = Literal["list", "get", "save", "delete", "render", "run", "export", "import"]


class TemplateSummary(ResultModel):
    name: str
    description: str
    source: str = Field(description="builtin | user")
    variables: dict[str, str | None] = Field(description="Variable → default (null: required).")
    tags: list[str]
    model: str | None = Field(default=None, description="Model the template is tied to, if any.")


class LibraryResult(ResultModel):
    action: str
    message: str
    templates: list[TemplateSummary] | None = None
    template: Template | None = None
    rendered: Rendered | None = None
    generation: GenerationOutput | None = Field(
        default=None, description="For run: the generation (status, files, generation_id for generation_status)."
    )
    yaml: str | None = Field(default=None, description="For export: the library in the guide's YAML format.")
    path: str | None = Field(default=None, description="For export: where the YAML was written.")
    imported: list[str] | None = None
    unchanged: list[str] | None = None
    warnings: list[str] = Field(default_factory=list)


def _summary(template: Template) -> TemplateSummary:
    model = template.model_name
    if model and template.model_version is not None:
        model = f"{model}@v{template.model_version}"
    return TemplateSummary(
        name=template.name,
        description=template.description,
        source=template.source,
        variables=template.variables,
        tags=template.tags,
        model=model,
    )


def _parse_template(**fields: Any) -> Template:
    try:
        return build_template(**fields)
    except TemplateError as exc:
        raise ToolError(str(exc)) from exc


def _model_tie(state: AppState, model: str | None) -> tuple[str | None, int | None]:
    from tools.models import registry

    if not model:
        return None, None
    number = registry.split_version(model)[1]
    resolved = registry.resolve(state.store, model)
    return resolved.model_name, number


def register(server: MCPServer) -> None:

    @server.tool(**tool_meta("Prompt library", read_only=False, destructive=True, idempotent=False, open_world=True))
    @dedented
    async def prompt_library(
        action: Action,
        ctx: Context[Any],
        name: Annotated[str | None, Field(description="e.g. professional-headshot")] = None,
        values: Annotated[dict[str, str] | None, Field(description="Variable values, e.g. {outfit: navy suit}")] = None,
        model: Annotated[str | None, Field(description="Registered model: its trigger word; run uses it")] = None,
        trigger_word: Annotated[str | None, Field(description="When no model is given")] = None,
        template: Annotated[str | None, Field(description="save: text with {trigger} and {variables}")] = None,
        description: str | None = None,
        variables: Annotated[dict[str, str | None] | None, Field(description="save: defaults; null = required")] = None,
        settings: Annotated[
            dict[str, Any] | None, Field(description="save: guidance_scale, num_inference_steps, image_size...")
        ] = None,
        tags: Annotated[list[str] | None, Field(description="list: filter by the first")] = None,
        overwrite: bool = False,
        input_params: Annotated[dict[str, Any] | None, Field(description="run: extra input, e.g. {seed: 7}")] = None,
        lora_scale: Annotated[float | None, Field(ge=0, le=4)] = None,
        yaml_text: str | None = None,
        path: Annotated[str | None, Field(description="import: file to read; export: file in the output dir")] = None,
        include_builtin: bool = False,
    ) -> Annotated[CallToolResult, LibraryResult]:
        """Tested prompts for headshots, LinkedIn, thumbnails, covers... rendered with a model's trigger word.

        list, then render (name + model: the exact prompt, free), then run (generates, paid). save/delete your own
        (overwrite=true shadows a built-in). import/export the guide's YAML (name: {prompt, guidance_scale,
        steps}); a literal trigger word in imported prompts becomes {trigger} given model or trigger_word.
        """
        from tools.library import prompt_store
        from tools.library.render import render_for
        from tools.models import registry

        state = state_of(ctx)
        store = state.store
        need = _requirer(action)

        if action == "list":
            templates = list(prompt_store.all_templates(store).values())
            if tags:
                wanted = tags[0].strip().lower()
                templates = [t for t in templates if wanted in t.tags]
            if model:
                wanted_model = registry.split_version(model)[0]
                templates = [t for t in templates if t.model_name in (None, wanted_model)]
            message = f"{len(templates)} template(s). Render one with action=render, name=<name>, model=<model>."
            return with_previews(
                LibraryResult(action=action, message=message, templates=[_summary(t) for t in templates]), []
            )

        if action == "get":
            found = prompt_store.get_template(store, need(name, "name"))
            return with_previews(LibraryResult(action=action, message=f"Template {found.name!r}.", template=found), [])

        if action == "save":
            model_name, model_version = _model_tie(state, model)
            parsed = _parse_template(
                name=need(name, "name"),
                template=need(template, "template"),
                description=description or "",
                variables=variables,
                settings=settings,
                tags=tags,
                model_name=model_name,
                model_version=model_version,
            )
            saved = prompt_store.save_template(store, parsed, overwrite=overwrite)
            note = " It shadows the built-in of the same name." if saved.overrides_builtin else ""
            return with_previews(
                LibraryResult(action=action, message=f"Saved {saved.name!r}.{note}", template=saved), []
            )

        if action == "delete":
            deleted, restored = prompt_store.delete_template(store, need(name, "name"))
            note = " The built-in template of that name is active again." if restored else ""
            return with_previews(
                LibraryResult(action=action, message=f"Deleted {deleted.name!r}.{note}", template=deleted), []
            )

        if action == "render":
            found = prompt_store.get_template(store, need(name, "name"))
            rendered = render_for(state, found, model=model, trigger_word=trigger_word, values=values)
            return with_previews(
                LibraryResult(action=action, message="Rendered; nothing was generated.", rendered=rendered), []
            )

        if action == "run":
            found = prompt_store.get_template(store, need(name, "name"))
            rendered = render_for(state, found, model=model, trigger_word=trigger_word, values=values)
            if found.is_video:
                raise ToolError(
                    f"{found.name} is a video scenario: make the clip with video(start={rendered.model or '<model>'!r}"
                    f", scenario={found.name!r}), which makes this still first and then animates it."
                )
            if not rendered.model:
                raise ToolError("run needs model=<registered model name or fal endpoint> to generate with.")
            return await _run(ctx, state, found, rendered, input_params or {}, lora_scale)

        if action == "export":
            word = _trigger_of_request(state, model, trigger_word)
            chosen = prompt_store.all_templates(store) if include_builtin else prompt_store.user_templates(store)
            text = prompt_store.export_yaml(list(chosen.values()), word)
            dest = _export_path(state.settings, path, overwrite)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")
            form = f"with the trigger word {word!r}" if word else "with the [trigger] placeholder"
            message = f"Exported {len(chosen)} template(s) {form} to {dest}."
            return with_previews(LibraryResult(action=action, message=message, yaml=text, path=str(dest)), [])

        # import
        if bool(yaml_text) == bool(path):
            raise ToolError("import needs exactly one of yaml_text (the YAML itself) or path (a .yaml file).")
        text = yaml_text or _read_text(Path(path or "").expanduser(), _import_roots(state))
        word = _trigger_of_request(state, model, trigger_word)
        return with_previews(_import(store, text, overwrite, word), [])


def _requirer(action: str) -> Any:
    def need(value: str | None, field: str) -> str:
        if value is None or not str(value).strip():
            raise ToolError(f"action={action} needs {field}.")
        return value

    return need


def _import_roots(state: AppState) -> tuple[Path, ...]:
    return (state.settings.home, state.settings.outputs_dir)


def _read_text(path: Path, roots: tuple[Path, ...]) -> str:
    """A library YAML from inside the data or output dir; errors never quote the file."""
    where = " or ".join(str(root) for root in roots)
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ToolError(f"No file at {path}; give the full path of the library YAML, or pass yaml_text.") from None
    if not any(real.is_relative_to(root.resolve()) for root in roots):
        raise ToolError(
            f"import reads files only under {where} (e.g. an earlier export). Copy the YAML there, or pass its "
            "content as yaml_text."
        )
    if real.suffix.lower() not in (".yaml", ".yml") or not real.is_file():
        raise ToolError(f"{path} is not a .yaml/.yml file; import reads only prompt library YAML files.")
    if real.stat().st_size > 2_000_000:
        raise ToolError(f"{path} is over 2 MB; a prompt library YAML is a few KB. Check the path.")
    try:
        return real.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"{path} is not UTF-8 text, so it is not a prompt library YAML.") from None


def _trigger_of_request(state: AppState, model: str | None, trigger_word: str | None) -> str | None:
    """The trigger word given, or the one of the model given; None when neither was given."""
    from tools.models import registry

    if trigger_word and trigger_word.strip():
        return trigger_word.strip()
    if not model:
        return None
    version = registry.find(state.store, model)
    if version is None:
        raise ToolError(f"{model!r} is not a registered model; pass trigger_word=<the word> instead.")
    return version.trigger_word


def _export_path(settings: Any, path: str | None, overwrite: bool) -> Path:
    """Where an export goes: only ever under the data dir or the output dir."""
    from server.storage import utc_now

    if not path:
        stamp = utc_now().replace(":", "").replace("+0000", "Z")
        return settings.home / "exports" / f"prompt-library-{stamp}.yaml"
    given = Path(path).expanduser()
    dest = (given if given.is_absolute() else settings.outputs_dir / given).resolve()
    roots = (settings.home.resolve(), settings.outputs_dir.resolve())
    if not any(dest.is_relative_to(root) for root in roots):
        raise ToolError(
            f"export writes only under the data dir ({roots[0]}) or the output dir ({roots[1]}); {path!r} is "
            "outside both. Give a file name (it goes under the output dir) or a path inside one of them."
        )
    if dest.suffix.lower() not in (".yaml", ".yml"):
        raise ToolError(f"export writes YAML: give a file name ending in .yaml, not {dest.name!r}.")
    if dest.exists() and not overwrite:
        raise ToolError(f"{dest} already exists; pass overwrite=true to replace it, or another file name.")
    return dest


def _import(store: Any, text: str, overwrite: bool, trigger_word: str | None) -> LibraryResult:
    from tools.library import prompt_store
    from tools.models import registry

    def trigger_of(ref: str) -> str | None:
        version = registry.find(store, ref)
        return version.trigger_word if version else None

    parsed = prompt_store.parse_import(text, trigger_word, trigger_of)
    current = prompt_store.all_templates(store)
    unchanged = [e.name for e in parsed if e.name in current and prompt_store.same_content(current[e.name], e)]
    clashes = {e.name: current[e.name].source for e in parsed if e.name in current and e.name not in unchanged}
    if clashes and not overwrite:
        listing = ", ".join(f"{name} ({source})" for name, source in clashes.items())
        raise ToolError(
            f"Nothing was imported: these entries would replace existing templates: {listing}. Rename them in the "
            "YAML, or pass overwrite=true to replace them (your copy of a built-in shadows it; deleting the copy "
            "restores the built-in)."
        )
    changed = [entry for entry in parsed if entry.name not in unchanged]
    prompt_store.save_templates(store, changed, overwrite=True)
    imported = [entry.name for entry in changed]
    message = f"Imported {len(imported)}, unchanged {len(unchanged)}."
    if clashes:
        message += f" Replaced: {', '.join(clashes)}."
    if trigger_word:
        message += f" {trigger_word!r} in the prompts became the {{trigger}} placeholder."
    return LibraryResult(action="import", message=message, imported=imported, unchanged=unchanged)


async def _run(
    ctx: Context[Any],
    state: AppState,
    template: Template,
    rendered: Rendered,
    overrides: dict[str, Any],
    lora_scale: float | None,
) -> CallToolResult:
    from server.previews import thumbnails_within_budget
    from tools.generation.run import run_generation

    if "prompt" in overrides:
        raise ToolError("input_params must not contain 'prompt'; the template renders it. Use values instead.")
    output = await run_generation(
        state,
        endpoint=rendered.model or "",
        input_params={**rendered.input_params, **overrides},
        category_hint="image",
        scenario=template.name,
        lora_scale=lora_scale if lora_scale is not None else rendered.lora_scale,
        progress=Progress(ctx),
    )
    import anyio

    paths = [Path(f.path) for f in output.files if f.path]
    previews = await anyio.to_thread.run_sync(thumbnails_within_budget, paths) if paths else []
    if output.status == "completed":
        message = f"Generated {len(output.files)} file(s) with {template.name!r}. Score them with quality_matrix."
    elif output.status == "failed":
        message = f"Generation failed: {output.error}"
    else:
        message = (
            f"Still {output.status}; call generation_status(generation_id={output.generation_id!r}) for the files."
        )
    result = LibraryResult(
        action="run",
        message=message,
        rendered=rendered,
        generation=output,
        warnings=list(output.warnings),
    )
    return with_previews(result, previews)
