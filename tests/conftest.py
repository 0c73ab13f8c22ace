"""Shared fixtures: a fake fal server on loopback, settings pointing at it, an MCP client on a fresh data dir."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from tests.fake_fal import FakeFal

TEST_KEY = "test-key-id:test-key-secret-5f3a9c"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_fal() -> Iterator[FakeFal]:
    with FakeFal() as fake:
        yield fake


@pytest.fixture
def make_settings(tmp_path: Path, fake_fal: FakeFal) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "fal_key": TEST_KEY,
            "home": tmp_path / "home",
            "fal_base_url": fake_fal.base,
            "poll_min_seconds": 0.2,
            "poll_max_seconds": 1.0,
            "tool_wait_seconds": 5.0,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    # "legacy" = the initialize handshake over in-memory JSON-RPC, what stdio hosts use today.
    async with Client(create_server(settings), mode="legacy") as connected:
        yield connected
