"""Concurrency: one Store shared by the event loop and worker threads (and a second connection, as a second
server process would have) stays consistent; the background watcher survives failing pollers and stops cleanly.

`run_mixed(client, calls)` fires MCP tool calls concurrently; the lead extends `MIXED_CALLS` with real tool calls.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from mcp import Client

from server import app, costs
from server.app import create_server
from server.config import Settings
from server.storage import Store
from server.watcher import Watcher
from tools.models import registry

pytestmark = pytest.mark.anyio

LORA = "https://example.invalid/lora.safetensors"


def _register(store: Store, name: str = "sid") -> int:
    return registry.register_version(
        store, name, trigger_word="SIDAI", base_endpoint="fal-ai/flux-lora", source="external", lora_url=LORA
    ).version


async def _gather(jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    results: list[Any] = [None] * len(jobs)

    async def run(index: int, job: Callable[[], Awaitable[Any]]) -> None:
        results[index] = await job()

    async with anyio.create_task_group() as group:
        for index, job in enumerate(jobs):
            group.start_soon(run, index, job)
    return results


async def test_versions_from_threads_loop_and_a_second_connection_have_no_gaps_or_duplicates(
    settings: Settings,
) -> None:
    settings.ensure_dirs()
    store, other = Store(settings.db_path), Store(settings.db_path)  # `other`: a second server process
    jobs: list[Callable[[], Awaitable[Any]]] = []
    for index in range(60):
        target = other if index % 3 == 0 else store
        if index % 2:
            jobs.append(lambda target=target: anyio.to_thread.run_sync(_register, target))
        else:
            jobs.append(lambda target=target: _async_register(target))
        jobs.append(
            lambda i=index: anyio.to_thread.run_sync(
                lambda: costs.record_cost(store, kind="generation", ref_id=f"g{i}", endpoint="x", amount_usd=0.01)
            )
        )
        jobs.append(lambda: anyio.to_thread.run_sync(registry.list_models, other))
        jobs.append(lambda: anyio.to_thread.run_sync(costs.spent_today, store))
    results = await _gather(jobs)
    numbers = sorted(r for r in results if isinstance(r, int))
    assert numbers == list(range(1, 61))
    assert registry.versions_of(store, "sid") == list(range(1, 61))
    assert store.query_one("SELECT COUNT(*) AS n FROM cost_ledger")["n"] == 60
    assert round(costs.spent_today(other), 6) == 0.6
    assert store.query_one("PRAGMA integrity_check")["integrity_check"] == "ok"
    store.close()
    other.close()


async def _async_register(store: Store) -> int:
    await anyio.sleep(0)
    return _register(store)


async def test_failed_transaction_rolls_back_and_the_store_stays_usable(settings: Settings) -> None:
    settings.ensure_dirs()
    store = Store(settings.db_path)

    def half_then_fail() -> None:
        with store.transaction() as conn:
            conn.execute("INSERT INTO models (name, created_at) VALUES ('half', 'now')")
            raise RuntimeError("crash mid-transaction")

    async def attempt() -> None:
        with pytest.raises(RuntimeError):
            await anyio.to_thread.run_sync(half_then_fail)

    await _gather([attempt for _ in range(10)] + [lambda: anyio.to_thread.run_sync(_register, store)] * 10)
    assert store.query("SELECT name FROM models") == [{"name": "sid"}]
    assert registry.versions_of(store, "sid") == list(range(1, 11))
    with pytest.raises(sqlite3.IntegrityError):  # the UNIQUE (model, version) guard holds under races too
        store.execute(
            "INSERT INTO model_versions (id, model_name, version, trigger_word, base_endpoint, source, created_at) "
            "VALUES ('dup', 'sid', 3, 'T', 'e', 'external', 'now')"
        )
    store.close()


MIXED_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("training_status", {}),
    ("training_status", {"training_id": "trn_missing"}),
    ("prompt_library", {"action": "list"}),
    ("execute_custom_model", {"endpoint": "sid", "input_params": {"prompt": "x"}}),
    ("prepare_dataset", {"folder": "/nonexistent", "trigger_word": "SIDAI"}),
]


async def run_mixed(client: Client, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """All calls at once through one MCP session; returns the CallToolResults in order."""
    return await _gather([lambda tool=tool, args=args: client.call_tool(tool, args) for tool, args in calls])


async def test_twenty_concurrent_mixed_calls_keep_sqlite_consistent(client: Client, settings: Settings) -> None:
    calls = [MIXED_CALLS[i % len(MIXED_CALLS)] for i in range(20)]
    store = Store(settings.db_path)  # writes from "another process" while the server answers
    results, _ = await _gather(
        [
            lambda: run_mixed(client, calls),
            lambda: _gather([lambda: anyio.to_thread.run_sync(_register, store)] * 20),
        ]
    )
    assert len(results) == 20
    assert all(result.content for result in results)  # every call answered (error or not), none lost
    assert registry.versions_of(store, "sid") == list(range(1, 21))
    assert store.query_one("PRAGMA integrity_check")["integrity_check"] == "ok"
    store.close()


# -- watcher -------------------------------------------------------------------------------------------


async def test_a_failing_poller_neither_stops_the_loop_nor_the_other_pollers(caplog: pytest.LogCaptureFixture) -> None:
    watcher = Watcher(tick_seconds=0.01)
    calls = {"bad": 0, "good": 0}

    async def bad(state: Any) -> None:
        calls["bad"] += 1
        raise ValueError("poller bug")

    async def good(state: Any) -> None:
        calls["good"] += 1

    watcher.add(bad)
    watcher.add(good)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(watcher.run, object())
            while calls["good"] < 5:
                await anyio.sleep(0.01)
            group.cancel_scope.cancel()
    assert calls["bad"] >= 5 and watcher.ticks >= 4
    assert any("poller" in record.getMessage() and record.exc_info for record in caplog.records)


async def test_wake_runs_the_pollers_without_waiting_for_the_tick() -> None:
    watcher = Watcher(tick_seconds=3600)
    seen: list[int] = []

    async def poller(state: Any) -> None:
        seen.append(watcher.ticks)

    watcher.add(poller)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(watcher.run, object())
            for expected in (1, 2, 3):
                while len(seen) < expected:
                    await anyio.sleep(0.01)
                watcher.wake()
            while len(seen) < 4:
                await anyio.sleep(0.01)
            group.cancel_scope.cancel()
    assert seen[:4] == [0, 1, 2, 3]


async def test_lifespan_starts_the_watcher_and_stops_it_cleanly(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    seen: dict[str, Any] = {"ticks": 0, "cancelled": False}

    async def slow_poller(state: Any) -> None:
        seen["state"] = state
        seen["ticks"] += 1
        # A poller writing through a worker thread while the server shuts down must not hit a closed Store.
        await anyio.to_thread.run_sync(_register, state.store)
        try:
            await anyio.sleep(3600)  # shutdown arrives while the poller is mid-await
        except anyio.get_cancelled_exc_class():
            seen["cancelled"] = True
            raise

    monkeypatch.setattr(app, "BACKGROUND_POLLERS", (slow_poller,))
    caplog.set_level(logging.WARNING)
    with anyio.fail_after(10):
        async with Client(create_server(settings), mode="legacy") as client:
            await client.list_tools()
            while seen["ticks"] == 0:
                await anyio.sleep(0.01)
    assert seen["cancelled"], "the lifespan should cancel a poller that is still running"
    with pytest.raises(sqlite3.ProgrammingError):
        seen["state"].store.query("SELECT 1")  # closed after the watcher stopped
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    store = Store(settings.db_path)
    assert registry.versions_of(store, "sid") == [1]
    store.close()
