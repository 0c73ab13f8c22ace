"""The generation kind of job: rows in `generations`, driven through their life by the job engine (server/jobs.py).

What is particular to generations: the queue position shown while waiting, and the "on finished" hook that saves
every output file under the output dir (each download under its own deadline, files saved by an earlier pass kept),
notes NSFW flags and timings, and asks to be called again while some file could not be fetched yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from server.disk import disk_full, is_out_of_room
from server.fal_gateway import FalError, JobStatus
from server.jobs import Finish, JobHooks
from server.state import AppState
from server.storage import from_json, to_json
from tools.generation import outputs
from tools.generation.results import OutputFile

MAX_PROMPT_CHARS = 4000


def _on_status(state: AppState, row: dict[str, Any], status: JobStatus) -> dict[str, Any]:
    meta = from_json(row["meta_json"], {})
    if meta.get("queue_position") == status.queue_position:
        return {}
    meta["queue_position"] = status.queue_position
    return {"meta_json": to_json(meta)}


async def _on_finished(state: AppState, row: dict[str, Any], result: dict[str, Any]) -> Finish:
    engine = state.jobs
    """Save every output file; keep those an earlier pass saved and fetch only the missing ones."""
    meta = from_json(row["meta_json"], {})
    seed = result.get("seed") if isinstance(result.get("seed"), int) else row["seed"]
    found = outputs.find_files(result, row["category"], meta.get("output_fields") or None)
    folder = outputs.folder_for(engine.settings.outputs_dir, model_name=row["model_name"], endpoint=row["endpoint"])
    label = row["scenario"] or meta.get("prompt") or from_json(row["request_json"], {}).get("prompt") or "output"
    stem = outputs.base_name(
        model_name=row["model_name"],
        version=row["model_version"],
        endpoint=row["endpoint"],
        label=label,
        seed=seed,
        lora=bool(meta.get("lora_applied")) or row["model_name"] is None,
    )
    files: list[OutputFile | None] = [None] * len(found)
    failures: list[str] = []
    retry_later = False
    saved_before = {
        f["url"]: OutputFile.model_validate(f)
        for f in from_json(row["files_json"], [])
        if f.get("path") and Path(f["path"]).is_file()
    }

    async def fetch(index: int, item: outputs.FoundFile) -> None:
        nonlocal retry_later
        if item.url in saved_before:
            files[index] = saved_before[item.url]
            return
        ext = outputs.extension(item.url, item.content_type, row["category"])
        path, content_type = "", item.content_type
        width, height, readable = item.width, item.height, True
        try:
            dest = outputs.reserve(folder, f"{stem}_{index}", ext)
            got, got_type = await outputs.download(engine.download, item.url, dest)
            path, content_type = str(got), content_type or got_type
            if row["category"] == "image":
                size = await anyio.to_thread.run_sync(outputs.image_size_of, got)
                readable = size is not None
                if size is not None and (width is None or height is None):
                    width, height = size
                if not readable:
                    failures.append(f"file {index} was saved but is not a readable image ({got.name})")
        except FalError as exc:
            failures.append(f"file {index}: {exc.message}")
            retry_later = retry_later or exc.retryable
        except OSError as exc:
            if is_out_of_room(exc):
                failures.append(f"file {index}: {disk_full(exc, folder, 'save the file').message}")
            else:
                failures.append(f"file {index}: could not write to {folder} ({exc})")
        files[index] = OutputFile(
            path=path,
            url=engine.copied(item.url, 4096) or "",
            content_type=engine.copied(content_type, 100),
            width=width,
            height=height,
            seed=seed,
            readable=readable,
        )

    async with anyio.create_task_group() as group:
        for index, item in enumerate(found):
            group.start_soon(fetch, index, item)
    saved = [f for f in files if f is not None]
    timings = result.get("timings")
    meta["timings"] = (
        {str(k)[:40]: v for k, v in list(timings.items())[:20] if isinstance(v, int | float)}
        if isinstance(timings, dict)
        else {}
    )
    nsfw = result.get("has_nsfw_concepts")
    meta["has_nsfw_concepts"] = [bool(x) for x in nsfw[:64]] if isinstance(nsfw, list) else []
    meta["queue_position"] = None
    if isinstance(result.get("prompt"), str):
        meta["prompt"] = engine.copied(result["prompt"], MAX_PROMPT_CHARS)
    note = None
    if failures:
        note = (
            f"{len(failures)} of {len(found)} files could not be saved ({'; '.join(failures)}); "
            "their fal URLs are listed and work for a limited time."
            + (" The server retries the download in the background." if retry_later else "")
        )
    elif not found:
        note = "fal finished but the result holds no output files; see the recorded result."
    changes = {"files_json": to_json([f.model_dump() for f in saved]), "meta_json": to_json(meta), "seed": seed}
    return Finish(done=not retry_later, note=note, changes=changes)


HOOKS = JobHooks(
    on_finished=_on_finished,
    on_status=_on_status,
)
