"""prepare_dataset without MCP: scan → analyse (+ stage crops) → report → version, files, zip, contact sheet.

Everything here is blocking and runs in a worker thread; the upload (network) is done by the tool afterwards.
The user's folder is only ever read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from server.config import Settings
from server.errors import UserError
from server.storage import Store, new_id, to_json
from tools.dataset import identity
from tools.dataset import store as rows
from tools.dataset.analyse import (
    THUMBNAIL_SIDE,
    ImageResult,
    Options,
    ProgressCallback,
    StageCallback,
    analyse_folder,
)
from tools.dataset.caption import validate_template
from tools.dataset.exclude import exclude_files
from tools.dataset.package import sha256_file, write_zip
from tools.dataset.report import build_report
from tools.dataset.results import CheckRow, DatasetPaths, ImageRow, PreparedDataset
from tools.dataset.scan import Scan, scan_folder
from tools.dataset.staging import Staging, remove_stale
from tools.dataset.text import require_ocr
from tools.shared import slugify
from tools.training.trigger_words import check_trigger_word

MIN_IMAGES_TO_PREPARE = 4  # fal's fast trainer refuses fewer


def validate(options: Options, check_trigger: bool = True) -> list[str]:
    warnings = check_trigger_word(options.trigger_word) if check_trigger else []
    validate_template(options.caption_template)
    if not options.subject.strip():
        raise UserError("subject must be a class word such as man, woman or person.")
    if options.text_check:
        require_ocr()
    return warnings


def options_dict(options: Options) -> dict[str, Any]:
    return asdict(options)


def dataset_name_for(name: str | None, scan: Scan) -> str:
    """The name a run's dataset gets (it decides the version numbers): the one given, else the folder's."""
    return (name or scan.root.name).strip() or scan.root.name


def source_fingerprint(scan: Scan, options: Options) -> str:
    return hashlib.sha256((scan.fingerprint() + json.dumps(options_dict(options), sort_keys=True)).encode()).hexdigest()


def image_rows(results: list[ImageResult], include_warnings: bool, names: dict[str, str]) -> list[ImageRow]:
    rows_out = []
    for r in results:
        rows_out.append(
            ImageRow(
                file=r.rel,
                category=r.category,
                verdict=r.verdict,
                kept=r.rel in names,
                reasons=r.reasons,
                checks=[CheckRow(name=c.name, value=c.value, verdict=c.verdict, reason=c.reason) for c in r.checks],
                estimates=asdict(r.estimates),
                caption=r.caption if r.verdict != "reject" else None,
                prepared_file=names.get(r.rel),
                crop=r.crop_note if r.rel in names else None,
            )
        )
    return rows_out


def write_sheet(
    results: list[ImageResult], scan: Scan, names: dict[str, str], prepared_dir: Path | None, dest: Path
) -> None:
    from server.previews import SheetCell, contact_sheet

    by_rel = {c.rel: c.path for c in scan.candidates}
    cells = []
    for r in results:
        name = names.get(r.rel)
        unreadable = any(c.name == "readable" for c in r.checks)  # never reopen a bomb or a broken file
        image = prepared_dir / name if name and prepared_dir else None if unreadable else by_rel[r.rel]
        thumbnail = r.prepared_thumbnail if name and prepared_dir else r.thumbnail  # made during the analysis
        label = f"{r.verdict.upper()} {r.rel}: {deciding_reason(r)}"
        cells.append(SheetCell(image=image, label=label, verdict=r.verdict, thumbnail=thumbnail))
    kept = len(names) if prepared_dir else sum(1 for r in results if r.verdict != "reject")
    title = f"{kept} of {len(results)} photos usable"
    # Three label lines: the verdict and file, then the deciding reason (e.g. which photo a duplicate matches).
    contact_sheet(cells, dest, cell_side=THUMBNAIL_SIDE, title=title, label_lines=3)


def deciding_reason(result: ImageResult) -> str:
    """The reason that decided a photo's verdict, short enough for a contact-sheet label (the table has it all)."""
    bad = sorted((c for c in result.checks if c.verdict != "ok"), key=lambda c: c.verdict != "reject")
    if not bad:
        return result.crop_note or "ok"
    check = bad[0]
    if check.name == "duplicate":  # "near-duplicate of <file> (how)": the file it matches is the point
        return check.reason.split(" (", 1)[0]
    if check.name == "same_person":
        if check.value is None:
            return "no clear majority person"
        return f"someone else (face distance {check.value:.2f})"
    return check.reason


def sheet_preview(sheet: Path, budget: int = 220_000) -> bytes:  # ~290 KB as base64: see result_size
    from server.previews import thumbnail_jpeg

    side = 1024
    data = thumbnail_jpeg(sheet, side=side, quality=75)
    while len(data) > budget and side > 256:
        side = int(side * 0.75)
        data = thumbnail_jpeg(sheet, side=side, quality=70)
    return data


def _listed(names: list[str], limit: int = 50) -> list[str]:
    """A folder can hold thousands of other files: name the first few, count the rest."""
    if len(names) <= limit:
        return names
    return [*names[:limit], f"... and {len(names) - limit} more"]


def _rejection_summary(results: list[ImageResult]) -> str:
    lines = [f"- {r.rel}: {r.verdict}, {'; '.join(r.reasons[:2]) or 'ok'}" for r in results[:25]]
    if len(results) > 25:
        lines.append(f"- ... and {len(results) - 25} more")
    return "\n".join(lines)


def same_person_pass(results: list[ImageResult], options: Options) -> str:
    """Add a same_person check to every photo still in the running; returns the method note."""
    if not options.same_person_check:
        return identity.method(False)
    if not identity.available():
        return identity.unavailable_note()
    vectors = {r.rel: r.descriptor for r in results if r.descriptor is not None and r.verdict != "reject"}
    profiles = [r.rel for r in results if r.estimates.angle == "profile"]
    outcome = identity.check_same_person(vectors, profiles)
    for result in results:
        result.descriptor = None
        if result.rel in outcome.checks:
            result.checks.append(outcome.checks[result.rel])
    return outcome.note


def run_prepare(
    settings: Settings | None,
    store: Store | None,
    folder: str,
    name: str | None,
    options: Options,
    *,
    dry_run: bool,
    on_progress: ProgressCallback | None = None,
    sheet_path: Path | None = None,
    check_trigger: bool = True,
    scan: Scan | None = None,
    on_stage: StageCallback | None = None,
) -> tuple[PreparedDataset, bytes]:
    """Do all blocking work. Returns the result (status dry-run or prepared, or a reused version) and a preview.

    A dry run needs no settings or store and writes nothing, except the contact sheet when `sheet_path` is given
    (the command line's check-dataset). `scan` is the folder's listing when the caller made it already.
    A callback that raises stops the run before anything is written to the data dir or the store.
    """
    trigger_warnings = validate(options, check_trigger)
    scan = exclude_files(scan or scan_folder(folder), options.exclude)
    dataset_name = dataset_name_for(name, scan)
    fingerprint = source_fingerprint(scan, options)
    if not dry_run:
        assert settings is not None and store is not None
        existing = rows.find_by_source(store, dataset_name, fingerprint)
        if existing is not None and Path(existing["zip_path"] or "").exists():
            return reused(existing), sheet_preview(Path(existing["dir"]) / "contact-sheet.png")

    base = settings.datasets_dir / slugify(dataset_name) if settings is not None else Path()
    with contextlib.ExitStack() as cleanup:
        staging = None
        if not dry_run:
            assert settings is not None
            remove_stale(settings.datasets_dir)  # left by killed processes; a live run's folder is locked, kept
            staging = cleanup.enter_context(Staging(base))
        results = analyse_folder(scan, options, staging, on_progress, on_stage=on_stage)
        identity_note = same_person_pass(results, options)
        report = build_report(results, options.include_warnings, options.text_check)
        report.method_notes.append(identity_note)
        if not (options.same_person_check and identity.available()):  # say so where it is read, not only in notes
            report.advice.append(identity_note)
        kept = [r for r in results if r.kept(options.include_warnings)]
        common: dict[str, Any] = {
            "name": dataset_name,
            "trigger_word": options.trigger_word,
            "trigger_warnings": trigger_warnings,
            "rejected_count": report.rejected,
            "warned_count": report.warned,
            "report": report,
            "ignored_files": _listed(scan.ignored),
            "options": options_dict(options),
        }
        if dry_run:
            names: dict[str, str] = {}
            with tempfile.TemporaryDirectory() as tmp:  # unless asked for, the sheet is rendered only to preview
                sheet = sheet_path or Path(tmp) / "sheet.png"
                write_sheet(results, scan, names, None, sheet)
                preview = sheet_preview(sheet)
            result = PreparedDataset(
                dataset_id=None,
                version=None,
                status="dry-run",
                reused_existing=False,
                image_count=len(kept),
                images=image_rows(results, options.include_warnings, {r.rel: "" for r in kept}),
                paths=DatasetPaths(contact_sheet=str(sheet_path) if sheet_path else None),
                **common,
            )
            for row in result.images:
                row.prepared_file = None
            return result, preview
        if len(kept) < MIN_IMAGES_TO_PREPARE:
            raise UserError(
                f"Only {len(kept)} of {len(results)} photos are usable; training needs at least "
                f"{MIN_IMAGES_TO_PREPARE} "
                f"(20-30 recommended). Per photo:\n{_rejection_summary(results)}\nAdd or replace photos and call again "
                "(dry_run=true shows the full report without writing anything)."
            )
        assert settings is not None and store is not None and staging is not None
        if on_stage is not None:
            on_stage(f"writing {len(kept)} prepared images, their captions, the zip and the contact sheet")
        assert staging is not None
        return _finish(settings, store, scan, results, kept, options, common, fingerprint, base, staging)


def _finish(
    settings: Settings,
    store: Store,
    scan: Scan,
    results: list[ImageResult],
    kept: list[ImageResult],
    options: Options,
    common: dict[str, Any],
    fingerprint: str,
    base: Path,
    staging: Path,
) -> tuple[PreparedDataset, bytes]:
    suffix = ".png" if options.image_format == "png" else ".jpg"
    width = max(3, len(str(len(kept))))
    names = {r.rel: f"{i:0{width}d}{suffix}" for i, r in enumerate(kept, start=1)}
    digest = hashlib.sha256(json.dumps(options_dict(options), sort_keys=True).encode())
    for r in kept:
        assert r.prepared is not None and r.caption is not None
        digest.update(f"{names[r.rel]}\0{sha256_file(r.prepared)}\0{r.caption}\n".encode())
    content_hash = digest.hexdigest()
    same = rows.find_by_content(store, common["name"], content_hash)
    if same is not None and Path(same["zip_path"] or "").exists():
        # The folder changed (e.g. a touched file) but the prepared set would be identical: no new version.
        return reused(same), sheet_preview(Path(same["dir"]) / "contact-sheet.png")

    # Everything is written inside the staging folder first, then renamed into place with its row (below).
    images_dir = staging / "images"
    images_dir.mkdir()
    members: list[Path] = []
    for r in kept:
        image = images_dir / names[r.rel]
        shutil.move(str(r.prepared), image)
        caption = image.with_suffix(".txt")
        caption.write_text(f"{r.caption}\n", encoding="utf-8")
        members += [image, caption]
    staged_zip = staging / "dataset.zip"
    zip_sha = write_zip(staged_zip, members)
    write_sheet(results, scan, names, images_dir, staging / "contact-sheet.png")
    rows_out = image_rows(results, options.include_warnings, names)
    table = json.dumps([r.model_dump(mode="json") for r in rows_out], indent=1)
    (staging / "images.json").write_text(table, encoding="utf-8")

    # One write transaction (SQLite's lock spans processes): another run of the same name, in this process or
    # another, either finished before (its version counts, or its identical content is reused) or waits.
    with store.transaction() as conn:
        same = rows.find_by_content(store, common["name"], content_hash)
        if same is not None and Path(same["zip_path"] or "").exists():
            found = same
        else:
            found = None
            version = rows.next_version(store, common["name"])
            final = _free_folder(base, f"v{version}")  # "Me" and "me" share the slug folder: never one version dir
            zip_path = final / f"{slugify(common['name'])}-v{version}.zip"
            dataset_id = new_id("ds")
            result = PreparedDataset(
                dataset_id=dataset_id,
                version=version,
                status="prepared",
                reused_existing=False,
                image_count=len(kept),
                images=rows_out,
                paths=DatasetPaths(
                    prepared_dir=str(final / "images"),
                    zip=str(zip_path),
                    contact_sheet=str(final / "contact-sheet.png"),
                    image_table=str(final / "images.json"),
                ),
                **common,
            )
            rows.insert(
                conn,
                {
                    "id": dataset_id,
                    "name": common["name"],
                    "version": version,
                    "source_dir": str(scan.root),
                    "trigger_word": options.trigger_word,
                    "content_hash": content_hash,
                    "image_count": len(kept),
                    "status": "prepared",
                    "dir": str(final),
                    "zip_path": str(zip_path),
                    "zip_sha256": zip_sha,
                    "fal_url": None,
                    "report_json": result.model_dump_json(),
                    "options_json": to_json({**options_dict(options), "source_fingerprint": fingerprint}),
                },
            )
            staged_zip.rename(staging / zip_path.name)
            staging.rename(final)  # the row commits only once its folder is in place
    if found is not None:
        return reused(found), sheet_preview(Path(found["dir"]) / "contact-sheet.png")
    return result, sheet_preview(final / "contact-sheet.png")


def _free_folder(base: Path, name: str) -> Path:
    """`base/name`, or `base/name-2`, `-3`... when that is taken (callers hold the store's write transaction)."""
    candidate, n = base / name, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = base / f"{name}-{n}"
    return candidate


def reused(row: dict[str, Any]) -> PreparedDataset:
    result = PreparedDataset.model_validate_json(row["report_json"])
    result.reused_existing = True
    result.uploaded_now = False
    result.status = row["status"]
    result.fal_url = row["fal_url"]
    return result
