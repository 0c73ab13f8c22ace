"""Test suites: scenarios × seeds × model versions (plus an optional no-LoRA baseline and LoRA-scale variants),
generated through tools.generation and laid out as one labelled contact sheet.

Suites outlive a tool call: the cells and their generation ids are stored (tables test_suites and
test_suite_cells), so `suite_status` can pick up where `run_suite` ran out of time and build the sheet once
every generation has finished. Likeness is scored automatically at the end when the extra is installed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio

from prompts.loader import Template
from server.errors import UserError
from server.state import AppState
from server.storage import from_json, new_id, to_json, utc_now
from tools.library import prompt_store
from tools.models import registry
from tools.quality import likeness
from tools.quality.results import SuiteCell, SuiteReport
from tools.shared import ProgressFn

MAX_CELLS = 48
GUIDE_SCENARIOS = ("professional-headshot", "casual-outdoor", "youtube-thumbnail")
TERMINAL = {"completed", "failed", "cancelled"}
PREVIEW_BUDGET = 600_000


def _variant_label(variant: str, version: int | None, scale: float | None) -> str:
    if variant == "baseline":
        return "no-LoRA"
    return f"v{version} x{scale:g}" if variant == "scale" and scale is not None else f"v{version}"


async def start(
    state: AppState,
    *,
    model: str,
    versions: list[int] | None,
    scenarios: list[str] | None,
    seeds: list[int],
    include_baseline: bool,
    lora_scales: list[float] | None,
    values: dict[str, str] | None,
    wait_seconds: float,
    progress: ProgressFn,
    dry_run: bool = False,
) -> tuple[SuiteReport, list[bytes]]:
    from tools.library.render import render_for

    store = state.store
    first = registry.resolve(store, model)
    name = first.model_name
    chosen_versions = versions or [first.version]
    version_rows = {v: registry.resolve(store, f"{name}@v{v}") for v in dict.fromkeys(chosen_versions)}
    templates: list[Template] = [prompt_store.get_template(store, s) for s in scenarios or GUIDE_SCENARIOS]
    seeds = list(dict.fromkeys(seeds)) or [1]
    warnings: list[str] = []

    plan: list[dict[str, Any]] = []
    for template in templates:
        own_values = {k: v for k, v in (values or {}).items() if k.lower() in template.variables}
        rows: list[tuple[str, int, float | None]] = []
        if include_baseline:
            rows.append(("baseline", chosen_versions[0], None))
        for version in version_rows:
            rows.append(("lora", version, template.settings.lora_scale))
            rows += [("scale", version, scale) for scale in lora_scales or []]
        for variant, version, scale in rows:
            rendered = render_for(state, template, model=f"{name}@v{version}", trigger_word=None, values=own_values)
            label = _variant_label(variant, version, scale)
            for seed in seeds:
                plan.append(
                    {
                        "scenario": template.name,
                        "model_version": None if variant == "baseline" else version,
                        "endpoint": f"{name}@v{version}",
                        "variant": variant,
                        "lora_scale": scale,
                        "seed": seed,
                        "prompt": rendered.prompt,
                        "input": {**rendered.input_params, "seed": seed, "num_images": 1},
                        "row_label": f"{template.name} {label}",
                    }
                )
    if len(plan) > MAX_CELLS:
        raise UserError(
            f"That suite has {len(plan)} images; the limit is {MAX_CELLS}. Use fewer scenarios, seeds, versions or "
            "scale variants, or run it in parts."
        )
    unused = sorted(set(values or {}) - {v for t in templates for v in t.variables})
    if unused:
        warnings.append(f"values {unused} match no variable of the chosen scenarios and were ignored.")
    if dry_run:
        return await _dry_run(state, name, plan, len(seeds), warnings), []

    suite_id = new_id("suite")
    options = {
        "versions": list(version_rows),
        "scenarios": [t.name for t in templates],
        "seeds": seeds,
        "include_baseline": include_baseline,
        "lora_scales": lora_scales or [],
        "values": values or {},
    }
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO test_suites (id, model_name, options_json, status, created_at) VALUES (?, ?, ?, ?, ?)",
            (suite_id, name, to_json(options), "running", utc_now()),
        )
        for position, cell in enumerate(plan):
            conn.execute(
                "INSERT INTO test_suite_cells (suite_id, position, scenario, model_version, variant, lora_scale, seed, "
                "prompt, endpoint, input_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    suite_id,
                    position,
                    cell["scenario"],
                    cell["model_version"],
                    cell["variant"],
                    cell["lora_scale"],
                    cell["seed"],
                    cell["prompt"],
                    cell["endpoint"],
                    to_json(cell["input"]),
                ),
            )

    report, previews = await status(state, suite_id, wait_seconds, progress, first_call=True)
    report.warnings = warnings + report.warnings
    return report, previews


async def _dry_run(
    state: AppState, model_name: str, plan: list[dict[str, Any]], columns: int, warnings: list[str]
) -> SuiteReport:
    """What run_suite would generate and cost (each image planned as the real run plans it: input checked
    against fal's schema, priced), checked against the caps; nothing is stored, uploaded or sent."""
    from server.costs import check_budget
    from tools.generation.plan import plan_generation

    total = 0.0
    for cell in plan:
        planned = await plan_generation(
            state,
            endpoint=cell["endpoint"],
            input_params=cell["input"],
            category_hint="image",
            scenario=cell["scenario"],
            lora_scale=cell["lora_scale"],
            use_lora=cell["variant"] != "baseline",
        )
        total += planned.estimate
        warnings += [w for w in planned.warnings if w.startswith("Cost:") and w not in warnings]
    try:
        check_budget(state.settings, state.store, total, f"This test suite ({len(plan)} images)")
    except UserError as exc:
        warnings.append(f"It would be refused now: {exc}")
    cells = [
        SuiteCell(
            position=position,
            scenario=cell["scenario"],
            version=cell["model_version"],
            variant=cell["variant"],
            lora_scale=cell["lora_scale"],
            seed=cell["seed"],
            label=f"{_variant_label(cell['variant'], cell['model_version'], cell['lora_scale'])} seed {cell['seed']}",
            generation_id=None,
            status="waiting",
        )
        for position, cell in enumerate(plan)
    ]
    rows = len(plan) // max(columns, 1)
    return SuiteReport(
        suite_id=None,
        model_name=model_name,
        status="planned",
        cells=cells,
        pending=[],
        columns=columns,
        rows=rows,
        row_labels=_row_labels(cells, columns),
        estimated_cost_usd=round(total, 4),
        message=f"Dry run: {len(plan)} images ({rows} rows × {columns} seeds), about ${total:.2f}. Nothing was "
        "generated; call again without dry_run to run it.",
        warnings=warnings,
    )


async def _submit_waiting(
    state: AppState, suite_id: str, deadline: float, progress: ProgressFn, *, first_call: bool
) -> list[str]:
    """Submit the suite's cells that have no generation yet, until `deadline`; returns warnings.

    On the first call a refusal of the very first image (bad input, budget) deletes the suite and raises, so
    nothing half-made is left behind. After the first image the remaining cost is checked against the budget.
    """
    from server.costs import check_budget
    from tools.generation.run import run_generation

    store = state.store
    waiting = store.query(
        "SELECT * FROM test_suite_cells WHERE suite_id = ? AND generation_id IS NULL AND error IS NULL "
        "ORDER BY position",
        (suite_id,),
    )
    total = len(store.query("SELECT position FROM test_suite_cells WHERE suite_id = ?", (suite_id,)))
    warnings: list[str] = []
    for index, cell in enumerate(waiting):
        if time.monotonic() >= deadline and index > 0:
            warnings.append(f"{len(waiting) - index} image(s) will be submitted by the next suite_status call.")
            break
        await progress(40 * (total - len(waiting) + index) / total, f"submitting image {cell['position'] + 1}/{total}")
        try:
            output = await run_generation(
                state,
                endpoint=cell["endpoint"],
                input_params=from_json(cell["input_json"], {}),
                category_hint="image",
                scenario=cell["scenario"],
                lora_scale=cell["lora_scale"],
                use_lora=cell["variant"] != "baseline",
                wait_seconds=0,
            )
        except UserError as exc:
            if first_call and index == 0:
                store.execute("DELETE FROM test_suites WHERE id = ?", (suite_id,))
                raise
            _give_up(state, suite_id, cell["position"], str(exc))
            warnings.append(f"Stopped submitting at image {cell['position'] + 1}: {exc}")
            break
        store.execute(
            "UPDATE test_suite_cells SET generation_id = ? WHERE suite_id = ? AND position = ?",
            (output.generation_id, suite_id, cell["position"]),
        )
        remaining = len(waiting) - index - 1
        if first_call and index == 0 and remaining:
            try:
                check_budget(
                    state.settings,
                    store,
                    output.estimated_cost_usd * remaining,
                    f"The remaining {remaining} images of this test suite",
                )
            except UserError as exc:
                _give_up(state, suite_id, cell["position"] + 1, str(exc))
                warnings.append(f"Only the first image was submitted: {exc}")
                break
    return warnings


def _give_up(state: AppState, suite_id: str, from_position: int, reason: str) -> None:
    state.store.execute(
        "UPDATE test_suite_cells SET error = ? WHERE suite_id = ? AND position >= ? AND generation_id IS NULL",
        (f"not submitted: {reason}", suite_id, from_position),
    )


async def status(
    state: AppState, suite_id: str, wait_seconds: float, progress: ProgressFn, *, first_call: bool = False
) -> tuple[SuiteReport, list[bytes]]:
    """Submit what is still waiting, refresh the generations (up to wait_seconds), build the sheet when done."""
    store = state.store
    suite = store.query_one("SELECT * FROM test_suites WHERE id = ?", (suite_id,))
    if suite is None:
        raise UserError(f"No test suite {suite_id!r}; run_suite returns the suite_id to pass here.")
    from tools.generation.run import generation_status

    deadline = time.monotonic() + wait_seconds
    # submitting gets most of the budget; polling what was submitted gets the rest
    warnings = await _submit_waiting(
        state, suite_id, time.monotonic() + 0.7 * wait_seconds, progress, first_call=first_call
    )
    rows = store.query("SELECT * FROM test_suite_cells WHERE suite_id = ? ORDER BY position", (suite_id,))
    cells = [
        SuiteCell(
            position=row["position"],
            scenario=row["scenario"],
            version=row["model_version"],
            variant=row["variant"],
            lora_scale=row["lora_scale"],
            seed=row["seed"],
            label=f"{_variant_label(row['variant'], row['model_version'], row['lora_scale'])} seed {row['seed']}",
            generation_id=row["generation_id"],
            status="pending" if row["generation_id"] else ("not_submitted" if row["error"] else "waiting"),
            error=row["error"],
        )
        for row in rows
    ]
    while True:
        open_cells = [c for c in cells if c.generation_id and c.status not in TERMINAL]
        for cell in open_cells:
            output = await generation_status(state, cell.generation_id or "", wait_seconds=0)
            cell.status = output.status
            cell.error = output.error or cell.error
            if output.files:
                cell.file_path = output.files[0].path
        done = sum(1 for c in cells if c.status in TERMINAL or c.status == "not_submitted")
        await progress(40 + 60 * done / max(len(cells), 1), f"{done}/{len(cells)} images done")
        if all(c.status in TERMINAL or not c.generation_id for c in cells) or time.monotonic() >= deadline:
            break
        await anyio.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    pending = [c.generation_id or "" for c in cells if c.generation_id and c.status not in TERMINAL]
    ids = [c.generation_id for c in cells if c.generation_id]
    marks = ", ".join("?" * len(ids))
    cost_row = (
        store.query_one(f"SELECT COALESCE(SUM(estimated_cost), 0) AS total FROM generations WHERE id IN ({marks})", ids)
        if ids
        else None
    )
    cost = float(cost_row["total"]) if cost_row else 0.0
    waiting = sum(1 for c in cells if c.status == "waiting")
    options = from_json(suite["options_json"], {})
    row_labels = _row_labels(cells, len(options.get("seeds") or [1]))
    report = SuiteReport(
        suite_id=suite_id,
        model_name=suite["model_name"],
        status="running" if pending or waiting else "completed",
        cells=cells,
        pending=pending,
        row_labels=row_labels,
        estimated_cost_usd=round(cost, 4),
        message="",
        warnings=warnings,
    )
    if report.status == "running":
        done = len(cells) - len(pending) - waiting
        report.message = (
            f"{done}/{len(cells)} images done ({waiting} not submitted yet). Call quality_matrix action=suite_status "
            f"suite_id={suite_id} in a minute for the contact sheet."
        )
        return report, []

    columns = len(options.get("seeds") or [1])
    sheet = state.settings.outputs_dir / "suites" / f"{suite_id}.png"
    title = f"{suite['model_name']} test suite {suite_id}, columns = seeds {options.get('seeds')}"
    if suite["status"] == "completed":  # scored when it first completed: read the recorded scores back
        _recorded_likeness(state, report)
    else:
        await _score_likeness(state, report)
    report.columns, report.rows = await anyio.to_thread.run_sync(_draw, cells, sheet, columns, title, row_labels)
    store.execute(
        "UPDATE test_suites SET status = 'completed', sheet_path = ?, columns = ?, rows = ?, "
        "completed_at = COALESCE(completed_at, ?) WHERE id = ?",
        (str(sheet), report.columns, report.rows, utc_now(), suite_id),
    )
    report.sheet_path = str(sheet)
    failed = sum(1 for c in cells if c.status != "completed")
    report.message = (
        f"Contact sheet ready: {report.rows} rows × {report.columns} seeds"
        + (f", {failed} image(s) failed or were not submitted" if failed else "")
        + ". Score each scenario/version with quality_matrix action=record, then action=compare."
    )
    preview = await anyio.to_thread.run_sync(_preview, sheet)
    return report, [preview] if preview else []


def _row_labels(cells: list[SuiteCell], columns: int) -> list[str]:
    labels = []
    for start in range(0, len(cells), columns):
        cell = cells[start]
        labels.append(f"{cell.scenario}\n{_variant_label(cell.variant, cell.version, cell.lora_scale)}")
    return [label.replace("\n", " ") for label in labels]


def _draw(cells: list[SuiteCell], dest: Path, columns: int, title: str, row_labels: list[str]) -> tuple[int, int]:
    from server.previews import SheetCell, contact_sheet

    sheet_cells = []
    for cell in cells:
        verdict = "reject" if cell.status != "completed" else None
        if cell.likeness is not None:
            verdict = "ok" if cell.likeness >= 7 else "warn" if cell.likeness >= 4 else "reject"
        label = f"{cell.scenario} {cell.label}"
        if cell.likeness is not None:
            label += f" L{cell.likeness:g}"
        image = Path(cell.file_path) if cell.file_path else None
        sheet_cells.append(SheetCell(image=image, label=label, verdict=verdict))
    return contact_sheet(sheet_cells, dest, columns=columns, cell_side=192, title=title, row_labels=row_labels)


def _preview(sheet: Path) -> bytes | None:
    from server.previews import thumbnail_jpeg

    for side, quality in ((1024, 70), (768, 60), (512, 55)):
        data = thumbnail_jpeg(sheet, side=side, quality=quality)
        if len(data) <= PREVIEW_BUDGET:
            return data
    return None


def _recorded_likeness(state: AppState, report: SuiteReport) -> None:
    for cell in report.cells:
        if cell.generation_id:
            row = state.store.query_one(
                "SELECT likeness FROM evaluations WHERE generation_id = ? AND likeness_method = ?",
                (cell.generation_id, likeness.METHOD),
            )
            cell.likeness = row["likeness"] if row else None


async def _score_likeness(state: AppState, report: SuiteReport) -> None:
    """Fill the likeness column once per suite when the extra is installed; otherwise say how to enable it."""
    if not likeness.available():
        report.warnings.append(likeness.ENABLE_HINT)
        return
    from tools.quality.scoring import score_generations

    ids = [c.generation_id for c in report.cells if c.status == "completed" and c.generation_id]
    try:
        results = await score_generations(state, ids, reference_photos=None)
    except UserError as exc:
        report.warnings.append(f"Likeness not scored: {exc}")
        return
    by_id = {r.generation_id: r for r in results}
    for cell in report.cells:
        scored = by_id.get(cell.generation_id or "")
        if scored is not None:
            cell.likeness = scored.score
