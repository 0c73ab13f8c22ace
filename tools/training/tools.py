"""start_training / training_status / cancel_training: the tools over tools/training_jobs.py."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from server.costs import check_budget
from tools.common import Progress, dedented, state_of, tool_meta, user_errors
from tools.training import job as jobs
from tools.training import trainers
from tools.training.job import TrainingRun
from tools.training.request import build_plan, precheck
from tools.training.trainers import DEFAULT_PRESET, resolve_trainer, training_estimate

MAX_WAIT_SECONDS = 30.0

START_TRAINING_DOC = """Start a LoRA training on fal for a prepared dataset and return at once with a training id.

Any fal trainer for a person's photos, by alias or endpoint id (model_type; default flux-lora): the request
uses that trainer's own fields from fal's schema (zip, trigger, steps, learning rate, face options) and is
checked against it. cost_report(catalog='trainers') ranks them by likeness options and price. Checks the trigger
word, steps and learning rate (warnings are in the result), estimates the cost from fal's prices and refuses it
over the budget. Use dry_run=true first to see the exact request and price. Calling again with the same dataset
and parameters returns the existing run instead of paying twice (force=true overrides). Then poll with
training_status(training_id); when it completes the model is registered as <model_name> v1, v2, ... with its
LoRA file(s), to run on the trainer's paired inference endpoint.
"""


class StartTrainingResult(BaseModel):
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


class TrainingStatusResult(BaseModel):
    training: TrainingRun | None = Field(default=None, description="The run asked about.")
    recent: list[TrainingRun] = Field(default_factory=list, description="Recent runs, when no id/model was given.")


class CancelTrainingResult(BaseModel):
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
            Field(description="Dataset id (or name) from prepare_dataset, a local .zip, or an https URL of a zip."),
        ],
        model_name: Annotated[str, Field(description="Name to register the result under, e.g. sid-custom-model.")],
        ctx: Context[Any],
        trigger_word: Annotated[
            str | None,
            Field(description="Unique made-up token for the person, e.g. SIDAI. Default: the dataset's trigger word."),
        ] = None,
        model_type: Annotated[
            str,
            Field(
                description="Trainer alias or fal endpoint id, e.g. flux-lora (default), flux-lora-portrait, "
                "z-image-turbo-trainer-v2, qwen-image-2512-trainer-v2, wan-22-image-trainer."
            ),
        ] = DEFAULT_PRESET,
        steps: Annotated[
            int | None, Field(description="Training steps (always sent). Default: the trainer's schema default.")
        ] = None,
        num_epochs: Annotated[
            int | None, Field(description="Accepted as another name for steps (fal counts steps).")
        ] = None,
        learning_rate: Annotated[
            float | None, Field(description="For trainers whose schema has one; default: the schema's.")
        ] = None,
        style: Annotated[
            bool, Field(description="Style training (an art style, not a person): no face masks/auto-captions.")
        ] = False,
        concepts: Annotated[
            list[str] | None,
            Field(description="Multi-concept: extra trigger tokens that the zip's captions use for other concepts."),
        ] = None,
        dry_run: Annotated[bool, Field(description="Return the exact request and cost without sending it.")] = False,
        force: Annotated[
            bool, Field(description="Start a new paid run even if an identical one is running or done.")
        ] = False,
    ) -> StartTrainingResult:
        """Start a LoRA training on fal (full description: START_TRAINING_DOC)."""
        state = state_of(ctx)
        with user_errors():
            trainer = await resolve_trainer(state.catalog, model_type)
            checks = {"steps": steps, "num_epochs": num_epochs, "learning_rate": learning_rate, "style": style}
            precheck(trainer, model_name=model_name, trigger_word=trigger_word, **checks)
        source, facts = await jobs.resolve_dataset(state, dataset)
        with user_errors():
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
            except ToolError as refusal:
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

    # not read-only: records fal's answers, downloads the LoRA and registers the model version
    @server.resource(
        "fal-video://trainers{?steps}",
        name="trainers",
        title="fal trainers for a person",
        description="Trainers that fit a person's photos, ranked by likeness options and price, with the default.",
        mime_type="application/json",
    )
    async def trainer_guide(ctx: Context[Any], steps: str | None = None) -> dict[str, Any]:
        state = state_of(ctx)
        chosen = int(steps) if steps and steps.isdigit() else None
        found = await trainers.guide(state.catalog, state.settings.max_cost_per_call_usd, chosen)
        return found.model_dump(mode="json")

    @server.tool(**tool_meta("Training status", read_only=False, idempotent=True, open_world=True))
    @dedented
    async def training_status(
        ctx: Context[Any],
        training_id: Annotated[str | None, Field(description="Training id from start_training.")] = None,
        model_name: Annotated[str | None, Field(description="Or: the newest training of this model.")] = None,
        wait_seconds: Annotated[
            float, Field(ge=0, le=MAX_WAIT_SECONDS, description="Wait up to this long (≤ 30 s) for it to finish.")
        ] = 0,
    ) -> TrainingStatusResult:
        """Report a training's state: queue position, progress % and ETA (from fal's step N/M logs), last log
        lines, and fal's error if it failed. When it has completed, the result is stored, the LoRA file is
        downloaded and the model version registered (the background watcher does this too, even unasked).
        With neither training_id nor model_name it lists recent trainings. wait_seconds (≤ 30) keeps polling
        with progress notifications until the run finishes or the time is up.
        """
        state = state_of(ctx)
        if training_id is None and model_name is None:
            return TrainingStatusResult(recent=jobs.recent(state))
        row = jobs.load(state, training_id) if training_id else jobs.latest_for_model(state, model_name or "")
        row = await jobs.refresh(state, row["id"])
        progress = Progress(ctx)
        deadline = time.monotonic() + min(wait_seconds, MAX_WAIT_SECONDS)
        interval = max(min(state.settings.poll_min_seconds, 5.0), 0.1)
        while row["next_poll_at"] is not None and time.monotonic() < deadline:
            await progress(row["progress"] or 0.0, _progress_message(row))
            await anyio.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
            row = await jobs.refresh(state, row["id"])
        if wait_seconds:
            await progress(row["progress"] or 0.0, _progress_message(row))
        return TrainingStatusResult(training=jobs.to_run(state, row))

    @server.tool(**tool_meta("Cancel a training", read_only=False, destructive=True, idempotent=True, open_world=True))
    @dedented
    async def cancel_training(
        training_id: Annotated[str, Field(description="Training id from start_training.")],
        ctx: Context[Any],
    ) -> CancelTrainingResult:
        """Ask fal to cancel a queued or running training and record the outcome. A run that fal already
        finished cannot be cancelled: it is registered as a model version instead.
        """
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


def _progress_message(row: dict[str, Any]) -> str:
    if row["status"] == "queued":
        return f"queued (position {row['queue_position']})" if row["queue_position"] is not None else "queued"
    if row["status"] == "running":
        pct = f" {row['progress']:.0f}%" if row["progress"] is not None else ""
        eta = f", ETA {row['eta_seconds']:.0f}s" if row["eta_seconds"] else ""
        return f"training{pct}{eta}"
    return row["status"]
