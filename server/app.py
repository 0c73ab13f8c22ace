"""Wiring only: build the MCP server, its lifespan (settings, store, fal gateway, watcher) and its tools."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
from mcp.server import MCPServer

from prompts import workflows
from server import __version__
from server.catalog import Catalog
from server.config import SERVER_NAME, Settings
from server.fal_gateway import FalGateway
from server.jobs import JobEngine, JobHooks
from server.state import AppState
from server.storage import Store
from server.watcher import Watcher
from tools import resources
from tools.common import ToolServer
from tools.costs import tools as costs_tools
from tools.dataset import tools as dataset_tools
from tools.generation import tools as generation_tools
from tools.generation.kind import GENERATION
from tools.library import tools as library_tools
from tools.models import tools as models_tools
from tools.quality import tools as quality_tools
from tools.training import tools as training_tools
from tools.training.kind import TRAINING
from tools.video import tools as video_tools
from tools.video.kind import MAKING_STILL, VIDEO

log = logging.getLogger(__name__)

# Everything the server offers, in one list: each tool family's MCP surface, the resources, the MCP prompts.
REGISTRATIONS = (
    dataset_tools,
    training_tools,
    models_tools,
    generation_tools,
    costs_tools,
    library_tools,
    quality_tools,
    video_tools,
    resources,
    workflows,
)


# Each kind's hooks import its behaviour, so they load when a job of that kind first needs them, not at start.
def _training_hooks() -> JobHooks:
    from tools.training.job import HOOKS

    return HOOKS


def _generation_hooks() -> JobHooks:
    from tools.generation.job import HOOKS

    return HOOKS


def _video_hooks() -> JobHooks:
    from tools.video.job import HOOKS

    return HOOKS


# Every kind of paid fal job; the job engine drives them all (server/jobs.py says how to add one).
JOB_KINDS = ((TRAINING, _training_hooks), (GENERATION, _generation_hooks), (VIDEO, _video_hooks))


async def poll_jobs(state: AppState) -> None:
    await state.jobs.poll_due()


async def poll_stills(state: AppState) -> None:
    """Clips whose still finished (or failed) after their tool call returned; none on most starts."""
    if state.store.query(f"SELECT 1 FROM videos WHERE status = '{MAKING_STILL}' LIMIT 1"):
        from tools.video.job import poll_stills as advance_stills

        await advance_stills(state)


BACKGROUND_POLLERS = (poll_jobs, poll_stills)

INSTRUCTIONS = """\
Personal image models on fal.ai, end to end:
1. prepare_dataset(folder, trigger_word) checks a local folder of photos of one person, fixes what it can,
   captions, zips and uploads it; read its report and advice before training. A big folder may answer
   status 'running' with a run_id: follow it with dataset_status(run_id).
2. start_training(dataset, model_name, trigger_word) estimates the cost and starts a LoRA training; it
   returns at once with a training id.
3. training_status(training_id) reports queue position, progress and ETA; when done the model is
   registered as <model_name> v1, v2, ...
4. execute_custom_model(endpoint=<model name or fal endpoint>, input_params={prompt, ...}) generates
   images; files are saved locally and returned as small previews plus paths.
5. prompt_library has tested prompts for headshots, thumbnails and more, and the quality matrix.
Long work never blocks: tools return an id to poll.
"""


# Background start-up work (resuming open jobs, cleaning staging folders, warming the catalogue in a thread) would
# hold the GIL against the host's initialize and tools/list, so it waits for the first listing or call, or this long.
START_WORK_DELAY_S = 2.0


async def _start_background_work(
    server: ToolServer, state: AppState, group: anyio.abc.TaskGroup, datasets_dir: Path
) -> None:
    await server.handshake_done(START_WORK_DELAY_S)
    group.start_soon(state.watcher.run, state)
    try:  # chores: a failure is logged and the server goes on (tools do the same work when they need it)
        await _remove_stale_staging(datasets_dir)
        await anyio.to_thread.run_sync(state.catalog.warm)
    except Exception:
        log.exception("start-up chore failed")


async def _remove_stale_staging(datasets_dir: Path) -> None:
    """Staging folders left by a killed process; a live run's, in another process, is kept."""
    from tools.dataset.staging import remove_stale

    await anyio.to_thread.run_sync(remove_stale, datasets_dir)


def create_server(settings: Settings | None = None) -> MCPServer:
    """Build a server. Settings default to the environment; tests pass their own."""

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[AppState]:  # runs once `server` below exists
        active = settings or Settings.from_env()
        active.ensure_dirs()
        store = Store(active.db_path)
        fal = FalGateway(active)
        watcher = Watcher(tick_seconds=min(active.poll_min_seconds, 5.0))
        for poller in BACKGROUND_POLLERS:
            watcher.add(poller)
        catalog = Catalog(active)  # loads its snapshot on first use, not here
        jobs = JobEngine(active, store, fal, JOB_KINDS)
        state = AppState(settings=active, store=store, fal=fal, watcher=watcher, jobs=jobs, catalog=catalog)
        try:
            async with anyio.create_task_group() as background:
                jobs.bind(background, watcher.wake, state)
                background.start_soon(_start_background_work, server, state, background, active.datasets_dir)
                state.runs.bind(background)
                try:
                    yield state
                finally:
                    background.cancel_scope.cancel()
        finally:
            await fal.aclose()
            await catalog.aclose()
            store.close()

    server = ToolServer(
        SERVER_NAME,
        title="fal.ai personal image models",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        collections=resources.LISTED_COLLECTIONS,
    )
    for surface in REGISTRATIONS:
        surface.register(server)
    return server
