"""prepare_dataset, dataset_status, list_datasets as an agent sees them; behaviour lives beside, in tools.dataset."""

import hashlib
import logging
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from server.errors import UserError
from server.runs import Run
from tools.common import Progress, fal_call, state_of, tool_meta, with_previews
from tools.dataset.results import (
    DEFAULT_TEMPLATE,
    PLACEHOLDERS,
    DatasetDetail,
    DatasetList,
    DatasetPaths,
    DatasetSummary,
    PreparedDataset,
)

if TYPE_CHECKING:
    from tools.dataset.analyse import Options
    from tools.dataset.scan import Scan

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 30.0  # hosts cancel a call after ~60 s
PHOTOS_PERCENT = 85.0  # the per-photo pass; the duplicate pass, writing and the upload share the rest
UPLOAD_PERCENT = 92.0
RUN_PREFIX = "dsrun"  # run ids read dsrun_...

_TEMPLATE_HELP = "Must contain {trigger}; also " + ", ".join(f"{{{k}}}" for k in PLACEHOLDERS if k != "trigger")


def register(server: MCPServer) -> None:
    @server.tool(**tool_meta("Prepare a training dataset", read_only=False, idempotent=True, open_world=True))
    async def prepare_dataset(
        folder: Annotated[
            str,
            Field(
                description="Absolute path of a folder of photos of ONE person; subfolders become caption context. "
                "Never modified."
            ),
        ],
        trigger_word: Annotated[str, Field(description="Made-up token for the person, e.g. SIDAI.")],
        ctx: Context[Any],
        name: Annotated[str | None, Field(description="Default: the folder's name.")] = None,
        subject: Annotated[str, Field(description="Class word in captions: man, woman, person...")] = "person",
        resolution: Annotated[Literal[512, 768, 1024], Field(description="Square side, px.")] = 1024,
        image_format: Literal["jpeg", "png"] = "jpeg",
        caption_template: Annotated[str, Field(description=_TEMPLATE_HELP)] = DEFAULT_TEMPLATE,
        crop: Annotated[
            Literal["face", "center", "pad"],
            Field(description="face: square around the face; center; pad: whole photo padded."),
        ] = "face",
        include_warnings: Annotated[bool, Field(description="Keep 'warn' photos (rejects never).")] = True,
        text_check: Annotated[bool, Field(description="OCR for watermarks/text (optional engine).")] = False,
        dry_run: Annotated[bool, Field(description="Check and report only; write nothing.")] = False,
        upload: Annotated[bool, Field(description="Upload the zip to fal (needs FAL_KEY).")] = True,
        same_person_check: Annotated[
            bool, Field(description="Reject photos of someone other than the person most photos show.")
        ] = True,
        exclude: Annotated[
            list[str] | None, Field(description="Photos to leave out, by their path in the per-photo table.")
        ] = None,
        wait_seconds: Annotated[float, Field(ge=0, le=MAX_WAIT_SECONDS)] = MAX_WAIT_SECONDS,
    ) -> Annotated[CallToolResult, PreparedDataset]:
        """Step 1: check a folder of photos of one person and make a LoRA training set (before start_training).

        Each photo gets ok/warn/reject with reasons (blur, exposure, one clear face, someone else, sunglasses,
        duplicates...; a dry run gives the same); the report advises on the guide's mix: show it to the user.
        Accepted photos are face-cropped, captioned, zipped and uploaded once. Returns dataset_id and a contact
        sheet. Try dry_run=true first.
        If still working after wait_seconds: status 'running' + run_id for dataset_status.
        """
        from tools.dataset.analyse import Options
        from tools.dataset.exclude import exclude_files
        from tools.dataset.prepare import dataset_name_for, validate
        from tools.dataset.scan import scan_folder

        state = state_of(ctx)
        options = Options(
            trigger_word=trigger_word.strip(),
            subject=subject.strip(),
            resolution=resolution,
            image_format=image_format,
            caption_template=caption_template,
            crop=crop,
            include_warnings=include_warnings,
            same_person_check=same_person_check,
            text_check=text_check,
            exclude=tuple(exclude or ()),
        )
        if upload and not dry_run:
            await fal_call(_require_key(state))
        # Bad arguments and unusable folders fail here, at once; only the long work becomes a run.
        await anyio.to_thread.run_sync(validate, options)
        scan = await anyio.to_thread.run_sync(scan_folder, folder)
        try:
            exclude_files(scan, options.exclude)  # names not in the folder fail now, not in the run
        except UserError as exc:
            raise ToolError(exc.message) from exc
        request = PrepareRequest(folder, name, dataset_name_for(name, scan), options, dry_run=dry_run, upload=upload)
        # A finished dry run is answered again as it was (its key covers the folder's listing); a finished
        # prepare is not: run again, it finds its stored version at once and says it reused it.
        run, _ = state.runs.start(
            RUN_PREFIX,
            request.key(scan),
            lambda run: _prepare(state, run, request, scan),
            about=request,
            reuse_finished=dry_run,
        )
        return await _answer(state, ctx, run, wait_seconds)

    @server.tool(**tool_meta("Dataset run status", read_only=True, idempotent=True, open_world=False))
    async def dataset_status(
        run_id: Annotated[str, Field(description="From prepare_dataset (dsrun_...).")],
        ctx: Context[Any],
        wait_seconds: Annotated[float, Field(ge=0, le=MAX_WAIT_SECONDS)] = MAX_WAIT_SECONDS,
    ) -> Annotated[CallToolResult, PreparedDataset]:
        """Follow a running prepare_dataset: progress, then its full result or error."""
        state = state_of(ctx)
        run = state.runs.get(run_id.strip())
        if run is None or not run.id.startswith(f"{RUN_PREFIX}_"):
            running = ", ".join(r.id for r in state.runs.active() if r.id.startswith(f"{RUN_PREFIX}_")) or "none"
            raise ToolError(
                f"No prepare_dataset run with id {run_id!r} in this server process (runs in progress: {running}). "
                "Runs are kept for 30 minutes and do not survive a restart: call prepare_dataset again with the "
                "same arguments (a finished, unchanged dataset is returned at once)."
            )
        return await _answer(state, ctx, run, wait_seconds)

    @server.tool(**tool_meta("List prepared datasets", read_only=True, idempotent=True, open_world=False))
    async def list_datasets(
        ctx: Context[Any],
        dataset_id: Annotated[str | None, Field(description="Show this one in full.")] = None,
    ) -> DatasetList:
        """Prepared datasets, newest first; with dataset_id one in full (report, images, paths, versions)."""
        from server.storage import from_json
        from tools.dataset import store as rows

        state = state_of(ctx)
        store = state.store
        await _drop_dead_uploads(state, rows.summaries(store)[:LIVENESS_CHECKS])
        if dataset_id is None:
            return DatasetList(datasets=[DatasetSummary(**row) for row in rows.summaries(store)])
        row = rows.get(store, dataset_id.strip())
        if row is None:
            known = ", ".join(r["id"] for r in rows.summaries(store)[:10]) or "none yet"
            raise ToolError(f"No dataset with id {dataset_id!r}. Known ids: {known}. Call list_datasets without an id.")
        saved = PreparedDataset.model_validate_json(row["report_json"])
        versions = [DatasetSummary(**r) for r in rows.summaries(store, row["name"])]
        summary = next(v for v in versions if v.dataset_id == row["id"])
        options = {k: v for k, v in from_json(row["options_json"], {}).items() if k != "source_fingerprint"}
        assert saved.report is not None  # stored only once finished
        sized = _sized(saved)
        detail = DatasetDetail(
            summary=summary,
            report=saved.report,
            paths=DatasetPaths(**saved.paths.model_dump()),
            options=options,
            images=sized.images,
            images_note=sized.images_note,
            versions=versions,
        )
        return DatasetList(datasets=versions, detail=detail)


LIVENESS_CHECKS = 20  # newest datasets whose upload list_datasets checks (one HEAD each, concurrently)


async def _drop_dead_uploads(state: Any, summaries: list[dict[str, Any]]) -> None:
    """Mark the uploads fal no longer has as expired, so no listing shows a dead upload as uploaded."""
    from tools.dataset import store as rows
    from tools.dataset.upload import live_upload

    uploaded = [row for row in summaries if row["status"] == "uploaded" and row["fal_url"]]
    if not uploaded:
        return

    async def check(summary: dict[str, Any]) -> None:
        row = rows.get(state.store, summary["dataset_id"])
        if row is not None:
            await live_upload(state.fal, state.store, row, reupload=False)

    async with anyio.create_task_group() as group:
        for summary in uploaded:
            group.start_soon(check, summary)


async def _require_key(state: Any) -> None:
    state.fal.require_key()


@dataclass(frozen=True)
class PrepareRequest:
    folder: str
    name: str | None  # as given
    dataset_name: str  # the name the dataset gets: the one given, else the folder's
    options: "Options"
    dry_run: bool
    upload: bool

    def key(self, scan: "Scan") -> str:
        """What decides the outcome: the folder's listing (names, sizes, mtimes), the options and the mode."""
        from tools.dataset.prepare import source_fingerprint

        mode = f"{self.dataset_name}\0{self.dry_run}\0{self.upload}"
        return hashlib.sha256(f"{source_fingerprint(scan, self.options)}\0{mode}".encode()).hexdigest()


async def _prepare(state: Any, run: Run, request: PrepareRequest, scan: "Scan") -> tuple[PreparedDataset, bytes]:
    """The whole prepare_dataset run, in the background: check and prepare (worker thread), then upload."""
    from tools.dataset import store as rows
    from tools.dataset.prepare import run_prepare
    from tools.dataset.upload import live_upload

    def on_photo(done: int, total: int, rel: str) -> None:
        run.report(PHOTOS_PERCENT * done / total, f"checked {done}/{total}: {rel}")

    def on_stage(label: str) -> None:  # the duplicate pass, writing: the message tells more than the percent
        run.report(min(run.progress + 0.1, UPLOAD_PERCENT - 1.0), label)

    # The dataset's name decides its version numbers, so runs that would name it the same take turns.
    lock = state.lock(f"dataset:{request.dataset_name}")
    if lock.locked():
        run.report(0.0, f"waiting for another run of dataset {request.dataset_name!r} to finish")
    async with lock:
        run.report(0.0, f"checking {len(scan.candidates) - len(request.options.exclude)} photos")
        result, preview = await anyio.to_thread.run_sync(
            lambda: run_prepare(
                state.settings,
                state.store,
                request.folder,
                request.name,
                request.options,
                dry_run=request.dry_run,
                on_progress=on_photo,
                scan=scan,
                on_stage=on_stage,
            )
        )
        if request.upload and not request.dry_run and result.status == "uploaded" and result.dataset_id:
            # A version uploaded earlier: its file may have expired from fal storage since (kept ~7 days).
            run.report(UPLOAD_PERCENT, "checking the earlier upload is still in fal storage")
            row = rows.get(state.store, result.dataset_id)
            assert row is not None
            result.fal_url, result.uploaded_now = await fal_call(live_upload(state.fal, state.store, row))
        if request.upload and not request.dry_run and result.status != "uploaded":
            assert result.dataset_id is not None and result.paths.zip is not None
            zip_mb = Path(result.paths.zip).stat().st_size / 1e6
            run.report(UPLOAD_PERCENT, f"uploading the zip ({zip_mb:.1f} MB) to fal storage")
            url, now = await fal_call(state.fal.upload_file_once(state.store, Path(result.paths.zip)))
            result.fal_url, result.uploaded_now, result.status = url, now, "uploaded"
            stored = result.model_copy(update={"reused_existing": False, "uploaded_now": False})
            rows.mark_uploaded(state.store, result.dataset_id, url, stored.model_dump(mode="json"))
    return result, preview


def _sized(result: PreparedDataset, folder: str = "<folder>") -> PreparedDataset:
    """The result with its per-photo rows shortened if a big folder would take it over the hosts' 1 MB limit."""
    from tools.dataset.result_size import fit_rows, trim_note

    rows, left_out = fit_rows(result.images)
    if not left_out:
        return result
    if result.paths.image_table:
        where = f"Every row in full: {result.paths.image_table}"
    else:
        where = f"Every row in full: run `fal-video-mcp check-dataset {shlex.quote(folder)} --json`."
    return result.model_copy(update={"images": rows, "images_note": trim_note(left_out, where)})


async def _answer(state: Any, ctx: Context[Any], run: Run, wait_seconds: float) -> CallToolResult:
    """Wait for `run` up to `wait_seconds` with progress reports; its result, its error, or where it stands."""
    from server.disk import disk_full, is_out_of_room

    progress = Progress(ctx)

    async def tick(current: Run) -> None:
        await progress(current.progress, current.message)

    await state.runs.wait(run, wait_seconds, tick)
    if run.finished:
        if run.error is not None:
            if isinstance(run.error, (ToolError, UserError)):
                raise ToolError(str(run.error))
            if isinstance(run.error, UserError):
                raise ToolError(run.error.message)
            if is_out_of_room(run.error):
                assert isinstance(run.error, OSError)
                failed = Path(run.error.filename).parent if run.error.filename else state.settings.datasets_dir
                full = disk_full(run.error, failed, "write the prepared dataset")
                raise ToolError(full.message + " The originals are untouched and no dataset version was recorded.")
            log.error("prepare_dataset run %s failed", run.id, exc_info=run.error)
            raise ToolError(
                f"prepare_dataset failed unexpectedly ({type(run.error).__name__}: {run.error}). The originals are "
                "untouched; call prepare_dataset again (work already stored is reused), and report this if it repeats."
            )
        result, preview = run.outcome
        await progress(100, "done")
        sized = _sized(result, run.about.folder)
        return with_previews(sized.model_copy(update={"run_id": run.id}), [preview])
    elapsed = time.monotonic() - run.started_at
    request: PrepareRequest = run.about
    pending = PreparedDataset(
        dataset_id=None,
        name=request.dataset_name,
        version=None,
        status="running",
        run_id=run.id,
        progress=round(run.progress, 1),
        message=f"{run.message} ({elapsed:.0f} s so far). Not finished yet: call dataset_status(run_id="
        f"{run.id!r}) to wait for it; it goes on in the background meanwhile.",
        trigger_word=request.options.trigger_word,
    )
    return with_previews(pending, [])
