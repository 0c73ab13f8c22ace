"""The generation tools as an agent sees them: execute_custom_model, generation_status, reproduce_generation,
and the endpoint table as a resource. Behaviour (tools.generation.run, .plan) is imported on a tool's first call,
not at start."""

from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from server import costs
from server.errors import UserError
from server.state import AppState
from tools.common import Progress, state_of, tool_meta, with_previews
from tools.generation.results import GenerationOutput, GenerationProgress, RunningGeneration
from tools.result_model import ResultModel

PREVIEW_BUDGET_BYTES = 500_000  # inline thumbnails of one result together; the JSON part stays far below 1 MB


class DryRunPlan(ResultModel):
    endpoint: str = Field(description="The fal endpoint that would be called.")
    request: dict[str, Any] = Field(description="The exact body that would be sent (local files not yet uploaded).")
    estimated_cost_usd: float
    cost_basis: str
    warnings: list[str]
    uploads: list[str] = Field(description="Inputs holding local files that would be uploaded after the budget check.")
    budget_ok: bool
    budget_message: str | None = None


class GenerationResult(ResultModel):
    status: Literal["completed", "pending", "partial", "failed", "dry_run"] = Field(
        description="completed: all done; pending: some still on fal (call generation_status); partial: some failed; "
        "dry_run: nothing sent, see plans."
    )
    generations: list[GenerationOutput | RunningGeneration] = Field(
        description="Finished items in full; one still on fal as id and state (a batch's: counted in progress)."
    )
    batch_id: str | None = None
    completed: int
    pending: int
    failed: int
    estimated_cost_usd: float
    previews: int = Field(description="How many thumbnails are attached inline (full files: see files[].path).")
    progress: GenerationProgress | None = Field(default=None, description="While items are on fal: ETA.")
    next_step: str
    plans: list[DryRunPlan] = Field(default_factory=list, description="dry_run only.")


async def _respond(state: AppState, outputs: list[GenerationOutput], batch_id: str | None) -> CallToolResult:
    from server.previews import thumbnails_within_budget
    from tools.generation import progress as still_on_fal

    completed = sum(o.status == "completed" for o in outputs)
    failed = sum(o.status in ("failed", "unknown") for o in outputs)
    pending = len(outputs) - completed - failed
    status: Literal["completed", "pending", "partial", "failed", "dry_run"]
    if pending:
        status, next_step = "pending", still_on_fal.next_call(outputs, batch_id)
    elif failed and completed:
        status, next_step = "partial", "Some items failed (see each error); the others are saved."
    elif failed:
        status, next_step = "failed", "Every item failed; see the errors."
    else:
        status = "completed"
        next_step = "Files are saved at files[].path; reproduce_generation(generation_id) re-runs one exactly."
    paths = [
        Path(f.path)
        for o in outputs
        for f in o.files
        if f.path and f.readable and (f.content_type or "image/").startswith("image/") and Path(f.path).is_file()
    ]
    thumbs = await anyio.to_thread.run_sync(thumbnails_within_budget, paths, PREVIEW_BUDGET_BYTES) if paths else []
    result = GenerationResult(
        status=status,
        generations=still_on_fal.shown(outputs, batch=batch_id is not None),
        batch_id=batch_id,
        completed=completed,
        pending=pending,
        failed=failed,
        estimated_cost_usd=round(sum(o.estimated_cost_usd for o in outputs), 6),
        previews=len(thumbs),
        progress=still_on_fal.summary(state.store, outputs, batch=batch_id is not None),
        next_step=next_step,
    )
    return with_previews(result, thumbs, brief=bool(pending))


async def _dry_run(
    state: AppState,
    endpoint: str,
    params: dict[str, Any],
    category_hint: str | None,
    scenario: str | None,
    lora_scale: float | None,
    use_lora: bool,
) -> DryRunPlan:
    from tools.generation.plan import plan_generation

    plan = await plan_generation(
        state,
        endpoint=endpoint,
        input_params=params,
        category_hint=category_hint,
        scenario=scenario,
        lora_scale=lora_scale,
        use_lora=use_lora,
    )
    budget_message = None
    try:
        costs.check_budget(state.settings, state.store, plan.estimate, f"Generating with {plan.endpoint}")
    except UserError as refusal:
        budget_message = str(refusal)
    return DryRunPlan(
        endpoint=plan.endpoint,
        request=plan.params,
        estimated_cost_usd=plan.estimate,
        cost_basis=str(plan.meta.get("price_basis", "")),
        warnings=plan.warnings,
        uploads=[upload.label for upload in plan.uploads],
        budget_ok=budget_message is None,
        budget_message=budget_message,
    )


def _raise_if_single_failure(outputs: list[GenerationOutput]) -> None:
    if len(outputs) == 1 and outputs[0].status in ("failed", "unknown"):
        out = outputs[0]
        raise ToolError(f"Generation {out.generation_id} on {out.endpoint} {out.status}: {out.error}")


def register(server: MCPServer) -> None:
    @server.tool(**tool_meta("Run a custom model", read_only=False, idempotent=False, open_world=True))
    async def execute_custom_model(
        endpoint: Annotated[
            str,
            Field(description="A registered model (name, name@v2, fal-ai/<user>/name) or a fal endpoint id."),
        ],
        ctx: Context[Any],
        input_params: Annotated[
            dict[str, Any] | None,
            Field(description="{prompt, image_size, num_images, guidance_scale, num_inference_steps, seed}"),
        ] = None,
        category_hint: Annotated[
            Literal["image", "video", "audio"] | None,
            Field(description="Output kind of an unknown endpoint."),
        ] = None,
        scenario: Annotated[str | None, Field(description="Label for file names, e.g. headshot.")] = None,
        batch: Annotated[
            list[dict[str, Any] | str] | None,
            Field(description="Several runs: prompts, or dicts overriding input_params."),
        ] = None,
        seeds: Annotated[list[int] | None, Field(description="Run every item once per seed.")] = None,
        lora_scale: Annotated[float | None, Field(ge=0, le=4, description="Default: the model's.")] = None,
        use_lora: Annotated[bool, Field(description="false: no-LoRA baseline for comparison.")] = True,
        wait_seconds: Annotated[
            float | None,
            Field(ge=0, le=35, description="Default 30."),
        ] = None,
        dry_run: Annotated[
            bool, Field(description="Return the exact body, endpoint, cost and warnings; nothing sent or uploaded.")
        ] = False,
        force: Annotated[
            bool, Field(description="Send even if an identical request's outcome is unknown (fal may have billed it).")
        ] = False,
    ) -> Annotated[CallToolResult, GenerationResult]:
        """Generate with a registered model (its LoRA and trigger word filled in) or any fal endpoint.

        Input is checked against fal's schema and the cost capped before paying (dry_run: the plan only); local
        media files are uploaded after that; results are saved locally and returned as paths plus thumbnails.
        Still running after wait_seconds: generation ids for generation_status. Prompt templates: prompt_library.
        """
        from tools.generation.run import expand_batch, run_batch, run_generation

        state = state_of(ctx)
        progress = Progress(ctx)
        params = dict(input_params or {})
        if dry_run:
            items = expand_batch(params, batch, seeds, scenario)
            plans = [
                await _dry_run(state, endpoint, item.input_params, category_hint, item.scenario, lora_scale, use_lora)
                for item in items
            ]
            total = round(sum(plan.estimated_cost_usd for plan in plans), 6)
            result = GenerationResult(
                status="dry_run",
                generations=[],
                completed=0,
                pending=0,
                failed=0,
                estimated_cost_usd=total,
                previews=0,
                next_step="Nothing was sent. Call again without dry_run to run it.",
                plans=plans,
            )
            return with_previews(result, [])
        if batch or seeds:
            items = expand_batch(params, batch, seeds, scenario)
            batch_id, outputs = await run_batch(
                state,
                endpoint=endpoint,
                items=items,
                category_hint=category_hint,
                lora_scale=lora_scale,
                use_lora=use_lora,
                progress=progress,
                wait_seconds=wait_seconds,
                force=force,
            )
            if all(o.status in ("failed", "unknown") for o in outputs):
                errors = "; ".join(f"{o.generation_id}: {o.error}" for o in outputs)
                raise ToolError(f"Every item of batch {batch_id} failed: {errors}")
            return await _respond(state, outputs, batch_id)
        output = await run_generation(
            state,
            endpoint=endpoint,
            input_params=params,
            category_hint=category_hint,
            scenario=scenario,
            lora_scale=lora_scale,
            use_lora=use_lora,
            progress=progress,
            wait_seconds=wait_seconds,
            force=force,
        )
        _raise_if_single_failure([output])
        return await _respond(state, [output], None)

    @server.tool(
        **tool_meta("Generation status", read_only=True, idempotent=True, open_world=True), name="generation_status"
    )
    async def generation_status_tool(
        ctx: Context[Any],
        generation_id: str | None = None,
        batch_id: str | None = None,
        wait_seconds: Annotated[float, Field(ge=0, le=35)] = 0,
    ) -> Annotated[CallToolResult, GenerationResult]:
        """Collect a generation (or batch) still running when execute_custom_model answered. Free; the server saves
        the files itself when fal finishes."""
        from tools.generation.run import batch_outputs, generation_status

        state = state_of(ctx)
        if bool(generation_id) == bool(batch_id):
            raise ToolError("Give exactly one of generation_id or batch_id.")
        if generation_id:
            progress = Progress(ctx) if wait_seconds else None
            output = await generation_status(state, generation_id, wait_seconds, progress)
            return await _respond(state, [output], None)
        assert batch_id is not None
        outputs = batch_outputs(state, batch_id)
        deadline = anyio.current_time() + wait_seconds
        open_ids = [o.generation_id for o in outputs if o.status in ("queued", "running")]
        async with anyio.create_task_group() as group:
            for gid in open_ids:
                group.start_soon(generation_status, state, gid, max(0.0, deadline - anyio.current_time()))
        return await _respond(state, batch_outputs(state, batch_id), batch_id)

    @server.tool(**tool_meta("Reproduce a generation", read_only=False, idempotent=False, open_world=True))
    async def reproduce_generation(
        generation_id: str,
        ctx: Context[Any],
        wait_seconds: Annotated[float | None, Field(ge=0, le=35)] = None,
    ) -> Annotated[CallToolResult, GenerationResult]:
        """Run a recorded generation again exactly (endpoint, LoRA, seed, parameters). Paid."""
        from tools.generation.run import reproduce

        state = state_of(ctx)
        output = await reproduce(state, generation_id, wait_seconds=wait_seconds, progress=Progress(ctx))
        _raise_if_single_failure([output])
        return await _respond(state, [output], None)

    @server.resource(
        "fal-video://endpoints{?status}",
        name="endpoints",
        title="fal endpoints that run LoRAs",
        description="From fal's catalogue: output kind, unit price and status of every LoRA inference endpoint.",
        mime_type="text/markdown",
    )
    def endpoint_table(ctx: Context[Any], status: str | None = None) -> str:
        from tools.generation import endpoints

        return endpoints.markdown_table(state_of(ctx).catalog)
