"""quality_matrix: record and compare quality/likeness scores per scenario × model version, run test suites."""

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from tools.common import Progress, dedented, state_of, tool_meta, with_previews
from tools.quality.results import Comparison, Evaluation, GenerationLikeness, MatrixRow, ScoreEntry, SuiteReport
from tools.result_model import ResultModel

Action = Literal["record", "show", "compare", "run_suite", "suite_status", "likeness"]


class MatrixResult(ResultModel):
    action: str
    message: str
    model: str | None = None
    evaluations: list[Evaluation] | None = None
    rows: list[MatrixRow] | None = None
    table: str | None = Field(default=None, description="Markdown table with its legend.")
    comparison: Comparison | None = None
    default_version: int | None = None
    pinned: bool | None = Field(default=None, description="compare: whether this call changed the default version.")
    suite: SuiteReport | None = None
    likeness: list[GenerationLikeness] | None = None


def register(server: MCPServer) -> None:
    @server.tool(**tool_meta("Quality matrix", read_only=False, idempotent=False, open_world=True))
    @dedented
    async def quality_matrix(
        action: Action,
        ctx: Context[Any],
        model: Annotated[str | None, Field(description="Model name, or name@v2 for one version")] = None,
        scores: Annotated[list[ScoreEntry] | None, Field(description="record: one item per score")] = None,
        versions: Annotated[list[int] | None, Field(description="compare: two; run_suite: to test")] = None,
        make_default: Annotated[bool, Field(description="compare: pin the winner")] = False,
        scenarios: Annotated[list[str] | None, Field(description="run_suite: template names")] = None,
        seeds: Annotated[list[int] | None, Field(description="run_suite: one column each; default [1, 2]")] = None,
        include_baseline: Annotated[bool, Field(description="run_suite: add no-LoRA rows")] = False,
        dry_run: Annotated[bool, Field(description="run_suite: image count and cost only")] = False,
        lora_scales: Annotated[list[float] | None, Field(description="run_suite: extra rows at these scales")] = None,
        values: Annotated[dict[str, str] | None, Field(description="run_suite: template variables")] = None,
        suite_id: str | None = None,
        generation_ids: Annotated[list[str] | None, Field(description="likeness: generations to score")] = None,
        reference_photos: Annotated[list[str] | None, Field(description="likeness: default training photos")] = None,
    ) -> Annotated[CallToolResult, MatrixResult]:
        """Which prompts and which model version work best: scenario × version scores, 1-10.

        run_suite (dry_run=true first: count and cost) generates scenarios × seeds × versions and returns a
        contact sheet, or suite_id for suite_status. record scores=[{scenario, quality, likeness, notes}];
        show the matrix; compare two versions (make_default=true pins the winner); likeness scores faces
        automatically (optional extra).
        """
        from tools.models import registry
        from tools.quality import scores as score_table
        from tools.quality import suite
        from tools.quality.scoring import score_generations

        state = state_of(ctx)
        store = state.store

        if action == "record":
            evaluations = score_table.record_many(store, model, scores or [])
            first = evaluations[0]
            names = ", ".join(dict.fromkeys(e.scenario for e in evaluations))
            message = f"Recorded {len(evaluations)} score(s) for {first.model_name} ({names})."
            return with_previews(MatrixResult(action=action, message=message, evaluations=evaluations), [])

        if action in ("show", "compare"):
            if not model:
                raise ToolError(f"action={action} needs model=<model name>.")
            name = score_table.model_name_of(store, model)
            if action == "show":
                rows = score_table.matrix(store, name, versions)
                message = (
                    f"{len(rows)} scenario(s) scored for {name}."
                    if rows
                    else f"No scores for {name} yet; use action=run_suite, then action=record."
                )
                result = MatrixResult(
                    action=action, message=message, model=name, rows=rows, table=score_table.markdown(rows)
                )
                return with_previews(result, [])
            if versions is not None and len(versions) != 2:
                raise ToolError("compare takes exactly two versions, e.g. versions=[1, 2] (or none: the two newest).")
            a, b = (versions[0], versions[1]) if versions else (None, None)
            comparison = score_table.compare(store, name, a, b)
            default = registry.effective_default(store, name)
            how = "pinned" if registry.pinned_default(store, name) is not None else "the newest, none pinned"
            pinned = False
            if make_default:
                if comparison.winner is None:
                    raise ToolError(f"No clear winner, so nothing was pinned: {comparison.reason}")
                registry.set_default(store, name, comparison.winner)
                default, pinned = comparison.winner, True
                verdict = f"Pinned v{default} as the default of {name}."
            elif comparison.winner is not None and comparison.winner != default:
                verdict = (
                    f"Nothing pinned: the default is still v{default} ({how}). Pass make_default=true to pin "
                    f"v{comparison.winner}."
                )
            else:
                verdict = f"Nothing pinned: the default is v{default} ({how})."
            rows = score_table.matrix(store, name, [comparison.version_a, comparison.version_b])
            return with_previews(
                MatrixResult(
                    action=action,
                    message=f"{comparison.reason} {verdict}",
                    model=name,
                    comparison=comparison,
                    rows=rows,
                    table=score_table.markdown(rows),
                    default_version=default,
                    pinned=pinned,
                ),
                [],
            )

        if action == "run_suite":
            if not model:
                raise ToolError("run_suite needs model=<model name> (or name@v2).")
            report, previews = await suite.start(
                state,
                model=model,
                versions=versions,
                scenarios=scenarios,
                seeds=seeds or [1, 2],
                include_baseline=include_baseline,
                lora_scales=lora_scales,
                values=values,
                wait_seconds=state.settings.tool_wait_seconds,
                progress=Progress(ctx),
                dry_run=dry_run,
            )
            return with_previews(
                MatrixResult(action=action, message=report.message, model=report.model_name, suite=report), previews
            )

        if action == "suite_status":
            if not suite_id:
                raise ToolError("suite_status needs suite_id (returned by run_suite).")
            report, previews = await suite.status(state, suite_id, state.settings.tool_wait_seconds, Progress(ctx))
            return with_previews(
                MatrixResult(action=action, message=report.message, model=report.model_name, suite=report), previews
            )

        # likeness
        ids = list(generation_ids or [])
        if suite_id:
            ids += [
                row["generation_id"]
                for row in store.query(
                    "SELECT generation_id FROM test_suite_cells WHERE suite_id = ? AND generation_id IS NOT NULL "
                    "ORDER BY position",
                    (suite_id,),
                )
            ]
        if not ids:
            raise ToolError("likeness needs generation_ids or a suite_id.")
        results = await score_generations(state, ids, reference_photos)
        scored = [r.score for r in results if r.score is not None]
        message = (
            f"Scored {len(scored)}/{len(results)} image(s); mean likeness {sum(scored) / len(scored):.1f}/10."
            if scored
            else "No face was found in the generated images."
        )
        return with_previews(MatrixResult(action=action, message=message, likeness=results), [])
