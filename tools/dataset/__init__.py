"""prepare_dataset / list_datasets: local photo folder → checked, cropped, captioned, zipped, uploaded training set.

Modules, one job each: scan (walk the folder), decode (draft decoding, EXIF, sRGB), faces (YuNet + estimates),
checks (per-image verdicts), duplicates (pHash + ORB for crops), text (optional OCR watermark check), report (mix
+ advice), crop, caption, package (zip), store (dataset rows), analyse (thread pool over images), prepare (the whole
run without MCP).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from server.storage import from_json
from tools.common import Progress, fal_call, state_of, tool_meta, with_previews
from tools.dataset import store as rows
from tools.dataset.caption import DEFAULT_TEMPLATE, PLACEHOLDERS
from tools.dataset.models import DatasetDetail, DatasetList, DatasetPaths, DatasetSummary, PreparedDataset

POLLERS: tuple = ()

_TEMPLATE_HELP = (
    f"Caption template; must contain {{trigger}}. Default {DEFAULT_TEMPLATE!r}. Placeholders: "
    + "; ".join(f"{{{k}}} = {v}" for k, v in PLACEHOLDERS.items())
)


def register(server: MCPServer) -> None:
    @server.tool(**tool_meta("Prepare a training dataset", read_only=False, idempotent=True, open_world=True))
    async def prepare_dataset(
        folder: Annotated[
            str,
            Field(
                description="Absolute path of a local folder of photos of ONE person (JPEG/PNG/WEBP/HEIC/AVIF; "
                "subfolders such as professional/ or casual/ become caption context). Never modified."
            ),
        ],
        trigger_word: Annotated[
            str, Field(description="Unique made-up token for the person, e.g. SIDAI or ohwx (3-32 chars).")
        ],
        ctx: Context[Any],
        name: Annotated[str | None, Field(description="Dataset name; default: the folder's name.")] = None,
        subject: Annotated[str, Field(description="Class word used in captions: man, woman, person, ...")] = "person",
        resolution: Annotated[Literal[512, 768, 1024], Field(description="Square output side in px.")] = 1024,
        image_format: Annotated[Literal["jpeg", "png"], Field(description="Format of the prepared images.")] = "jpeg",
        caption_template: Annotated[str, Field(description=_TEMPLATE_HELP)] = DEFAULT_TEMPLATE,
        crop: Annotated[
            Literal["face", "center", "pad"],
            Field(
                description="face: square around the face with head room (full-body shots are padded); "
                "center: centre square; pad: whole photo padded to square."
            ),
        ] = "face",
        include_warnings: Annotated[
            bool, Field(description="Keep photos whose verdict is 'warn' (rejects are always left out).")
        ] = True,
        text_check: Annotated[
            bool,
            Field(
                description="Also look for watermarks and text with OCR (optional engine, ~0.4 s per photo): "
                "text in the border or repeated = reject, other text = warn."
            ),
        ] = False,
        dry_run: Annotated[bool, Field(description="Only check and report: write nothing, upload nothing.")] = False,
        upload: Annotated[bool, Field(description="Upload the zip to fal storage (needs FAL_KEY).")] = True,
        same_person_check: Annotated[
            bool,
            Field(
                description="Also reject photos that seem to show someone else (dlib face descriptors; needs the "
                "optional likeness extra; ~0.3 s per photo)."
            ),
        ] = False,
    ) -> Annotated[CallToolResult, PreparedDataset]:
        """Check a local folder of photos of one person and turn it into a LoRA training set.

        Use this first, before start_training. Every photo gets a verdict (ok / warn / reject) with measured values
        and reasons: resolution, blur, exposure, filters, near-duplicates, exactly one clear face, face size,
        sunglasses / face covering; with text_check=true also watermarks and text (needs the optional OCR engine:
        the error says how to install it). The report compares the mix of angles, expressions, lighting, backgrounds and
        distances with the recommended shares and gives concrete advice ("add 3 profile shots"); show it to the
        user. Accepted photos are cropped square around the face, resized, stripped of metadata, captioned with the
        trigger word, zipped and uploaded once to fal storage (identical content is never uploaded twice). The
        user's originals are never changed. Returns dataset_id for start_training, the per-image table, the report,
        paths and a contact-sheet preview. Tips: dry_run=true to review before writing; calling again on an
        unchanged folder returns the same version; a changed folder becomes version N+1 (see list_datasets).
        """
        from tools.dataset.analyse import Options
        from tools.dataset.prepare import run_prepare

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
        )
        if same_person_check:
            from tools import likeness

            if not await anyio.to_thread.run_sync(likeness.available):  # loads the models once (~2 s)
                raise ToolError(
                    "same_person_check needs the optional 'likeness' extra (dlib face descriptors): run "
                    "pip install 'fal-video-mcp[likeness]' in the server's environment and restart it, or call "
                    "again without same_person_check."
                )
        if upload and not dry_run:
            await fal_call(_require_key(state))
        progress = Progress(ctx)
        await progress(0, "scanning folder")

        def report_progress(done: int, total: int, rel: str) -> None:
            anyio.from_thread.run(progress, 90.0 * done / total, f"checked {done}/{total}: {rel}")

        # The dataset's name decides its version numbers, so calls that would name it the same take turns.
        lock_key = f"dataset:{(name or '').strip() or Path(folder.strip()).name}"
        async with state.lock(lock_key):
            result, preview = await anyio.to_thread.run_sync(
                lambda: run_prepare(
                    state.settings, state.store, folder, name, options, dry_run=dry_run, on_progress=report_progress
                )
            )
            if upload and not dry_run and result.status != "uploaded":
                await progress(92, "uploading the zip to fal storage")
                assert result.dataset_id is not None and result.paths.zip is not None
                url, now = await fal_call(state.fal.upload_file_once(state.store, Path(result.paths.zip)))
                result.fal_url, result.uploaded_now, result.status = url, now, "uploaded"
                stored = result.model_copy(update={"reused_existing": False, "uploaded_now": False})
                rows.mark_uploaded(state.store, result.dataset_id, url, stored.model_dump(mode="json"))
        await progress(100, "done")
        return with_previews(result, [preview])

    @server.tool(**tool_meta("List prepared datasets", read_only=True, idempotent=True, open_world=False))
    async def list_datasets(
        ctx: Context[Any],
        dataset_id: Annotated[
            str | None, Field(description="Show this dataset in full (report, images, paths, all its versions).")
        ] = None,
    ) -> DatasetList:
        """List the datasets prepare_dataset made (newest first): id, name, version, image count, upload status.

        Pass dataset_id to see one in full: its report and advice, per-image verdicts and captions, the prepared
        folder, zip and contact sheet paths, its fal URL and every version of the same name.
        """
        store = state_of(ctx).store
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
        detail = DatasetDetail(
            summary=summary,
            report=saved.report,
            paths=DatasetPaths(**saved.paths.model_dump()),
            options=options,
            images=saved.images,
            versions=versions,
        )
        return DatasetList(datasets=versions, detail=detail)


async def _require_key(state: Any) -> None:
    state.fal.require_key()
