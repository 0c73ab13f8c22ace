"""Automatic likeness scores: each generation's images against its model version's training photos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from server.errors import UserError
from server.state import AppState
from tools.models import registry
from tools.quality import likeness, scores
from tools.quality.results import GenerationLikeness


async def score_generations(
    state: AppState, generation_ids: list[str], reference_photos: list[str] | None
) -> list[GenerationLikeness]:
    """Likeness of each generation's first image vs. its model version's training photos (or given photos)."""
    likeness.require()
    from tools.generation.run import generation_status

    store = state.store
    given = [Path(p).expanduser() for p in reference_photos or []]
    missing = [str(p) for p in given if not p.is_file()]
    if missing:
        raise UserError(f"Reference photo(s) not found: {missing}.")
    references: dict[tuple[str | None, int | None], list[Any]] = {}
    results = []
    for generation_id in dict.fromkeys(generation_ids):
        row = store.query_one(
            "SELECT model_name, model_version, scenario FROM generations WHERE id = ?", (generation_id,)
        )
        if row is None:
            raise UserError(f"No generation {generation_id!r}.")
        output = await generation_status(state, generation_id, wait_seconds=0)
        if output.status != "completed" or not output.files:
            raise UserError(f"Generation {generation_id} is {output.status}; score it once it has completed.")
        key = (row["model_name"], row["model_version"])
        if key not in references:
            photos = given or _training_photos(state, row["model_name"], row["model_version"])
            references[key] = await anyio.to_thread.run_sync(likeness.reference_descriptors, photos)
        images = [Path(f.path) for f in output.files if f.path and Path(f.path).is_file()]
        if not images:
            raise UserError(f"Generation {generation_id}'s files are not on this machine; nothing to score.")
        measured = likeness.combine(await anyio.to_thread.run_sync(likeness.score_images, references[key], images))
        baseline = store.query_one(
            "SELECT 1 FROM test_suite_cells WHERE generation_id = ? AND variant = 'baseline'", (generation_id,)
        )
        recorded = False
        if measured.score is not None and row["model_version"] is not None and baseline is None:
            already = store.query_one(
                "SELECT 1 FROM evaluations WHERE generation_id = ? AND likeness_method = ?",
                (generation_id, likeness.METHOD),
            )
            if already is None:
                scores.record(
                    store,
                    model=f"{row['model_name']}@v{row['model_version']}",
                    scenario=row["scenario"] or "unspecified",
                    quality=None,
                    likeness=measured.score,
                    notes=f"automatic: descriptor distance {measured.distance}",
                    generation_id=generation_id,
                    likeness_method=likeness.METHOD,
                )
            recorded = True
        results.append(
            GenerationLikeness(
                generation_id=generation_id,
                model_version=row["model_version"],
                scenario=row["scenario"],
                score=measured.score,
                distance=measured.distance,
                faces=measured.faces,
                recorded=recorded,
            )
        )
    return results


def _training_photos(state: AppState, model_name: str | None, version: int | None) -> list[Path]:
    if model_name is None:
        raise UserError("This generation was not made with a registered model; pass reference_photos.")
    found = registry.find(state.store, f"{model_name}@v{version}" if version else model_name)
    dataset = (
        state.store.query_one("SELECT dir FROM datasets WHERE id = ?", (found.dataset_id,))
        if found and found.dataset_id
        else None
    )
    photos = likeness.dataset_photos(Path(dataset["dir"])) if dataset else []
    if not photos:
        raise UserError(
            f"No training photos are known for {model_name} v{version} (no prepared dataset on this machine); "
            "pass reference_photos=[paths to a few clear photos of the person]."
        )
    return photos
