"""start_training / training_status / cancel_training: the tools over tools/training/job.py (loaded on first use)."""

import json
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent
from pydantic import Field

from server.errors import UserError
from server.state import AppState
from tools.common import Progress, dedented, state_of, tool_meta
from tools.result_model import ResultModel
from tools.training.results import DEFAULT_PRESET, TrainingProgress, TrainingRun

MAX_WAIT_SECONDS = 30.0

START_TRAINING_DOC = """Step 2: train a LoRA on fal from a prepared dataset; answers at once with a training id.

dry_run=true first: the exact request (from the trainer's fal schema), cost and advice, nothing paid. The same
request again returns the existing run (force=true trains again). Then training_status(training_id,
wait_seconds=30) until completed: the model is registered as <model_name> v1, v2... Which trainer:
cost_report(catalog='trainers').
"""


class StartTrainingResult(ResultModel):
    dry_run: bool = Field(description="True: nothing was sent or charged; `request` is what would be sent.")
    reused: bool = Field(description="True: an identical run already exists (queued, running or done) and is returned.")
    training: TrainingRun | None = None
    endpoint: str
    request: dict[str, Any] = Field(description="The exact input sent (or to be sent) to fal.")
    estimated_cost_usd: float
    cost_basis: str
    budget_ok: bool = Field(description="Whether the estimate fits the per-call cap and today's budget.")
    budget_message: str | None = None
    warnings: list[str] = Field(default_factory=list, description="Advice worth reading before spending money.")
    notes: list[str] = Field(default_factory=list)


class TrainingStatusResult(ResultModel):
    training: TrainingRun | TrainingProgress | None = Field(
        default=None, description="The run asked about: in a few lines while queued or running, in full once ended."
    )
    recent: list[TrainingRun] = Field(default_factory=list, description="Recent runs, when no id/model was given.")


class CancelTrainingResult(ResultModel):
    outcome: Literal["cancellation_requested", "already_completed"]
    training: TrainingRun
    note: str


def register(server: MCPServer) -> None:
    @server.tool(
        **tool_meta("Start a LoRA training", read_only=False, idempotent=True, open_world=True),
        description=START_TRAINING_DOC,
    )
    async def start_training(
        dataset: Annotated[
            str,
            Field(description="Dataset id or name from prepare_dataset, a local .zip or an https zip URL."),
        ],
        model_name: Annotated[str, Field(description="e.g. sid-custom-model")],
        ctx: Context[Any],
        trigger_word: Annotated[
            str | None,
            Field(description="Default: the dataset's."),
        ] = None,
        model_type: Annotated[
            str,
            Field(description="Trainer alias or fal endpoint id; default flux-lora."),
        ] = DEFAULT_PRESET,
        steps: Annotated[int | None, Field(description="Default: the trainer's.")] = None,
        num_epochs: Annotated[int | None, Field(description="Another name for steps.")] = None,
        learning_rate: Annotated[float | None, Field(description="Where the trainer has one.")] = None,
        style: Annotated[bool, Field(description="An art style, not a person.")] = False,
        concepts: Annotated[
            list[str] | None,
            Field(description="Extra trigger tokens the captions use."),
        ] = None,
        dry_run: bool = False,
        force: bool = False,
    ) -> StartTrainingResult:
        """Start a LoRA training on fal (full description: START_TRAINING_DOC)."""
        from server.costs import check_budget
        from tools.training import job as jobs
        from tools.training.request import build_plan, precheck
        from tools.training.trainers import resolve_trainer, training_estimate

        state = state_of(ctx)
        trainer = await resolve_trainer(state.catalog, model_type)
        precheck(
            trainer,
            model_name=model_name,
            trigger_word=trigger_word,
            steps=steps,
            num_epochs=num_epochs,
            learning_rate=learning_rate,
            style=style,
        )
        source, facts = await jobs.resolve_dataset(state, dataset, upload=not dry_run)
        plan = build_plan(
            trainer,
            source,
            model_name=model_name,
            trigger_word=trigger_word,
            steps=steps,
            num_epochs=num_epochs,
            learning_rate=learning_rate,
            style=style,
            concepts=concepts,
            zip_facts=facts,
        )
        plan.estimate = await training_estimate(
            state.catalog, trainer, plan.steps, state.settings.max_cost_per_call_usd
        )
        if trainer.status != "active":
            plan.warnings.append(f"fal lists {trainer.endpoint} as {trainer.status}: it may stop working.")
        common: dict[str, Any] = {
            "endpoint": trainer.endpoint,
            "request": plan.body,
            "estimated_cost_usd": plan.estimate_usd,
            "cost_basis": plan.price_note,
            "warnings": plan.warnings,
            "notes": plan.notes,
        }
        if dry_run:
            budget_message = None
            try:
                check_budget(state.settings, state.store, plan.estimate_usd, f"Training {plan.model_name}")
            except UserError as refusal:
                budget_message = str(refusal)
            duplicate = jobs.find_duplicate(state, plan)
            if duplicate is not None:
                common["notes"] = [
                    *plan.notes,
                    f"An identical run exists ({duplicate['id']}, {duplicate['status']}); starting would return it.",
                ]
            return StartTrainingResult(
                dry_run=True, reused=False, budget_ok=budget_message is None, budget_message=budget_message, **common
            )
        run, reused = await jobs.submit(state, plan, source.dataset_id, force)
        if reused:
            common["notes"] = [
                *plan.notes,
                f"Identical request already {run.status} as {run.id}: returned it instead of paying again. "
                "Pass force=true to train again anyway.",
            ]
        return StartTrainingResult(dry_run=False, reused=reused, training=run, budget_ok=True, **common)

    @server.resource(
        "fal-video://trainers{?steps}",
        name="trainers",
        title="fal trainers for a person",
        description="Trainers that fit a person's photos, ranked by likeness options and price, with the default.",
        mime_type="application/json",
    )
    async def trainer_guide(ctx: Context[Any], steps: str | None = None) -> dict[str, Any]:
        from tools.training import trainers

        state = state_of(ctx)
        chosen = int(steps) if steps and steps.isdigit() else None
        found = await trainers.guide(state.catalog, state.settings.max_cost_per_call_usd, chosen)
        return found.model_dump(mode="json")

    @server.tool(**tool_meta("Training status", read_only=True, idempotent=True, open_world=True))
    @dedented
    async def training_status(
        ctx: Context[Any],
        training_id: str | None = None,
        model_name: Annotated[str | None, Field(description="Or the newest training of this model.")] = None,
        wait_seconds: Annotated[float, Field(ge=0, le=MAX_WAIT_SECONDS)] = 0,
    ) -> Annotated[CallToolResult, TrainingStatusResult]:
        """A training's state, progress and ETA (fal's error if it failed); no argument: recent trainings.

        wait_seconds=30 covers half a minute with progress notifications. The server registers the finished
        model itself (v1, v2...), whether or not anyone asks.
        """
        from tools.training import job as jobs

        state = state_of(ctx)
        if training_id is None and model_name is None:
            return _answer(TrainingStatusResult(recent=jobs.recent(state)))
        row = jobs.load(state, training_id) if training_id else jobs.latest_for_model(state, model_name or "")
        progress = Progress(ctx)

        async def report(fresh: dict[str, Any]) -> None:
            if wait_seconds:
                await progress(fresh["progress"] or 0.0, _progress_message(state, fresh))

        row = await jobs.watch(state, row["id"], min(wait_seconds, MAX_WAIT_SECONDS), report)
        if jobs.is_open(row):
            return _answer(TrainingStatusResult(training=jobs.to_progress(state, row)), brief=True)
        if wait_seconds:
            await progress(row["progress"] or 0.0, _progress_message(state, row))
        return _answer(TrainingStatusResult(training=jobs.to_run(state, row)))

    @server.tool(**tool_meta("Cancel a training", read_only=False, destructive=True, idempotent=True, open_world=True))
    @dedented
    async def cancel_training(
        training_id: str,
        ctx: Context[Any],
    ) -> CancelTrainingResult:
        """Cancel a queued or running training (one fal already finished is registered instead)."""
        from tools.training import job as jobs

        state = state_of(ctx)
        outcome, row = await jobs.cancel(state, training_id)
        run = jobs.to_run(state, row)
        if outcome == "already_completed":
            note = "fal had already finished this training, so it was not cancelled; the model is registered."
        elif run.status == "cancelled" and run.pending_work:
            note = "Cancellation requested; fal confirms shortly (the watcher records it). Cost may still apply."
        else:
            note = f"Training is now {run.status}."
        return CancelTrainingResult(outcome=outcome, training=run, note=note)


def _answer(result: TrainingStatusResult, *, brief: bool = False) -> CallToolResult:
    """The result as structured content and compact JSON text; `brief` drops empty fields (a poll's answer)."""
    data = result.model_dump(mode="json", exclude_none=brief, exclude_defaults=brief)
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(data, separators=(",", ":")))], structured_content=data
    )


def _progress_message(state: AppState, row: dict[str, Any]) -> str:
    from tools.training import job as jobs

    if not jobs.is_open(row):
        return str(row["status"])
    brief = jobs.to_progress(state, row)
    if brief.status != "running":
        return f"queued (position {brief.queue_position})" if brief.queue_position is not None else "queued"
    pct = f" {brief.progress_percent:.0f}%" if brief.progress_percent is not None else ""
    eta = f", ETA ~{brief.eta_seconds:.0f}s" if brief.eta_seconds else ""
    return f"training{pct}{eta}"
