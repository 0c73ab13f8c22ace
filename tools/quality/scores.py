"""The quality-testing matrix: scores (1-10) per model version × scenario, in the `evaluations` table.

A version's score for a scenario is the mean of its recorded quality and likeness averages (whichever exist);
comparisons only weigh scenarios both versions were scored on, so an untested scenario cannot win or lose.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from prompts.loader import TemplateError, normalize_name
from server.errors import UserError
from server.storage import Store, new_id, utc_now
from tools.models import registry
from tools.quality.results import Comparison, Evaluation, MatrixRow, ScenarioComparison, ScoreCell, ScoreEntry
from tools.shared import slugify


def scenario_name(raw: str) -> str:
    try:
        return normalize_name(raw)
    except TemplateError:
        return slugify(raw, max_len=64)


def record(
    store: Store,
    *,
    model: str | None,
    scenario: str | None,
    quality: float | None,
    likeness: float | None,
    notes: str = "",
    generation_id: str | None = None,
    likeness_method: str | None = None,
) -> Evaluation:
    row = _evaluation_row(store, model, scenario, quality, likeness, notes, generation_id, likeness_method)
    store.insert("evaluations", row)
    return Evaluation.model_validate(row)


def record_many(store: Store, model: str | None, entries: list[ScoreEntry]) -> list[Evaluation]:
    """Check every entry first, then store them all in one transaction: all or nothing, every problem named."""
    if not entries:
        raise UserError("record needs scores=[{scenario, quality, likeness, notes}] (one item per score).")
    rows, problems = [], []
    for index, entry in enumerate(entries):
        try:
            rows.append(
                _evaluation_row(
                    store,
                    entry.model or model,
                    entry.scenario,
                    entry.quality,
                    entry.likeness,
                    entry.notes,
                    entry.generation_id,
                    None,
                )
            )
        except UserError as exc:
            problems.append(f"scores[{index}]: {exc}")
    if problems:
        raise UserError("Nothing was recorded: " + " | ".join(problems))
    with store.transaction() as conn:
        for row in rows:
            conn.execute(f"INSERT INTO evaluations ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})", row)
    return [Evaluation.model_validate(row) for row in rows]


def _evaluation_row(
    store: Store,
    model: str | None,
    scenario: str | None,
    quality: float | None,
    likeness: float | None,
    notes: str,
    generation_id: str | None,
    likeness_method: str | None,
) -> dict[str, Any]:
    if quality is None and likeness is None:
        raise UserError("record needs quality and/or likeness (1-10).")
    model_name: str | None = None
    version: int | None = None
    if generation_id:
        generation = store.query_one(
            "SELECT model_name, model_version, scenario FROM generations WHERE id = ?", (generation_id,)
        )
        if generation is None:
            raise UserError(f"No generation {generation_id!r}; pass the id execute_custom_model or run returned.")
        model_name, version = generation["model_name"], generation["model_version"]
        scenario = scenario or generation["scenario"]
    if model:
        resolved = registry.resolve(store, model)
        model_name, version = resolved.model_name, resolved.version
    if model_name is None or version is None:
        raise UserError("record needs model=<name>@v<N> (or a generation_id of a generation made with a model).")
    if not scenario:
        raise UserError("record needs scenario, e.g. professional-headshot.")
    return {
        "id": new_id("eval"),
        "model_name": model_name,
        "model_version": version,
        "scenario": scenario_name(scenario),
        "quality": quality,
        "likeness": likeness,
        "likeness_method": likeness_method or ("manual" if likeness is not None else None),
        "notes": notes.strip(),
        "generation_id": generation_id,
        "created_at": utc_now(),
    }


def cells(store: Store, model_name: str) -> dict[str, dict[int, ScoreCell]]:
    """scenario → version → averages."""
    rows = store.query(
        "SELECT scenario, model_version, AVG(quality) AS quality, AVG(likeness) AS likeness, COUNT(*) AS n "
        "FROM evaluations WHERE model_name = ? GROUP BY scenario, model_version ORDER BY scenario, model_version",
        (model_name,),
    )
    table: dict[str, dict[int, ScoreCell]] = {}
    for row in rows:
        table.setdefault(row["scenario"], {})[row["model_version"]] = ScoreCell(
            quality=_round(row["quality"]), likeness=_round(row["likeness"]), n=row["n"]
        )
    return table


def matrix(store: Store, model_name: str, versions: list[int] | None = None) -> list[MatrixRow]:
    rows = []
    for scenario, by_version in cells(store, model_name).items():
        kept = {f"v{v}": cell for v, cell in by_version.items() if not versions or v in versions}
        if kept:
            rows.append(MatrixRow(scenario=scenario, versions=kept))
    return rows


LEGEND = "Each cell: mean quality / mean likeness (number of scores), 1-10, higher is better; – = not scored."


def markdown(rows: list[MatrixRow]) -> str:
    """A table an agent can paste: one row per scenario, 'quality / likeness (n)' per version."""
    versions = sorted({v for row in rows for v in row.versions}, key=lambda v: int(v[1:]))
    if not rows:
        return ""
    lines = [LEGEND, "", "| scenario | " + " | ".join(versions) + " |", "|---" * (len(versions) + 1) + "|"]
    for row in rows:
        values = []
        for v in versions:
            cell = row.versions.get(v)
            values.append("–" if cell is None else f"{_fmt(cell.quality)} / {_fmt(cell.likeness)} ({cell.n})")
        lines.append(f"| {row.scenario} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def compare(store: Store, model_name: str, version_a: int | None, version_b: int | None) -> Comparison:
    table = cells(store, model_name)
    scored = sorted({v for by_version in table.values() for v in by_version})
    if version_a is None or version_b is None:
        if len(scored) < 2:
            raise UserError(
                f"{model_name!r} has scores for {len(scored)} version(s) ({scored}); compare needs two. Record "
                "scores for another version (quality_matrix action=record or run_suite) first."
            )
        version_a, version_b = scored[-2], scored[-1]
    if version_a == version_b:
        raise UserError("Compare two different versions, e.g. versions=[1, 2].")
    comparisons, overall_a, overall_b = [], [], []
    for scenario, by_version in table.items():
        a, b = by_version.get(version_a), by_version.get(version_b)
        if a is None and b is None:
            continue
        delta = winner = None
        if a is not None and b is not None and a.combined is not None and b.combined is not None:
            delta = round(b.combined - a.combined, 2)
            winner = "tie" if abs(delta) < 0.25 else (f"v{version_b}" if delta > 0 else f"v{version_a}")
            overall_a.append(a.combined)
            overall_b.append(b.combined)
        comparisons.append(ScenarioComparison(scenario=scenario, a=a, b=b, delta=delta, winner=winner))
    if not overall_a:
        return Comparison(
            version_a=version_a,
            version_b=version_b,
            scenarios=comparisons,
            overall_a=None,
            overall_b=None,
            winner=None,
            reason=f"No scenario was scored for both v{version_a} and v{version_b}; score the same scenarios.",
        )
    mean_a, mean_b = round(mean(overall_a), 2), round(mean(overall_b), 2)
    wins_b = sum(1 for c in comparisons if c.winner == f"v{version_b}")
    wins_a = sum(1 for c in comparisons if c.winner == f"v{version_a}")
    if abs(mean_b - mean_a) < 0.25:
        kept: int | None = None
        reason = f"Too close to call ({mean_a} vs {mean_b}); score more seeds or scenarios."
    else:
        kept = version_b if mean_b > mean_a else version_a
        reason = (
            f"v{kept} scores {max(mean_a, mean_b)} vs {min(mean_a, mean_b)} on average over {len(overall_a)} "
            f"shared scenario(s) (scenario wins v{version_a}:{wins_a}, v{version_b}:{wins_b})."
        )
    return Comparison(
        version_a=version_a,
        version_b=version_b,
        scenarios=comparisons,
        overall_a=mean_a,
        overall_b=mean_b,
        winner=kept,
        reason=reason,
    )


def model_name_of(store: Store, model: str) -> str:
    return registry.resolve(store, registry.split_version(model)[0]).model_name


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"
