"""The HTTP transport through the CLI: real server processes on 127.0.0.1, real HTTP requests.

A non-loopback bind needs a token; a configured token is checked on every request; Host and Origin are checked;
--log-level governs uvicorn's loggers too, and nothing is written to stdout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "t0ken-for-tests-9f8e7d6c5b4a"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAL")}
    env.update({"FAL_KEY": "test-key", "FAL_VIDEO_MCP_HOME": str(home), **extra})
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    port: int
    stdout: str = ""
    stderr: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


@contextmanager
def _serve(tmp_path: Path, *args: str, **env: str) -> Iterator[Served]:
    served = Served(_free_port())
    command = [sys.executable, "-m", "server", "--transport", "streamable-http", "--port", str(served.port), *args]
    process = subprocess.Popen(
        command, cwd=ROOT, env=_env(tmp_path / "home", **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", served.port), timeout=0.5):
                    break
            except OSError:
                assert process.poll() is None, process.communicate()[1].decode()
                time.sleep(0.1)
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
        served.stdout, served.stderr = out.decode(), err.decode()


def _initialize(served: Served, **headers: str) -> httpx.Response:
    return httpx.post(served.url, json=INITIALIZE, headers={**MCP_HEADERS, **headers}, timeout=10)


def test_a_non_loopback_host_is_refused_without_a_token(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "192.0.2.10"):
        command = [sys.executable, "-m", "server", "--transport", "streamable-http", "--host", host, "--port", "9"]
        done = subprocess.run(command, cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "Refusing to listen on" in done.stderr and "FAL_VIDEO_MCP_HTTP_TOKEN" in done.stderr
        assert done.stdout == ""


def test_a_short_token_is_refused(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "server", "--transport", "streamable-http", "--port", "9"]
    env = _env(tmp_path, FAL_VIDEO_MCP_HTTP_TOKEN="tiny-tok")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "too short" in done.stderr and "tiny-tok" not in done.stderr


async def test_the_token_is_required_on_every_request(tmp_path: Path) -> None:
    with _serve(tmp_path, "--log-level", "INFO", FAL_VIDEO_MCP_HTTP_TOKEN=TOKEN) as served:
        assert _initialize(served).status_code == 401
        assert _initialize(served, Authorization="Bearer wrong-token-of-some-length").status_code == 401
        assert _initialize(served, Authorization=f"Basic {TOKEN}").status_code == 401
        assert httpx.get(served.url, timeout=10).status_code == 401
        assert httpx.delete(served.url, timeout=10).status_code == 401
        ok = _initialize(served, Authorization=f"Bearer {TOKEN}")
        assert ok.status_code == 200 and "fal-video" in ok.text
        authorized = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        async with Client(streamable_http_client(served.url, http_client=authorized)) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
        assert "execute_custom_model" in tools
    assert TOKEN not in served.stderr
    assert "without a valid bearer token refused" in served.stderr


async def test_host_and_origin_are_checked_and_logs_stay_off_stdout(tmp_path: Path) -> None:
    with _serve(tmp_path, "--log-level", "INFO") as served:
        assert _initialize(served).status_code == 200
        assert _initialize(served, Host="evil.example").status_code == 421  # DNS rebinding
        assert _initialize(served, Origin="http://evil.example").status_code == 403
        assert _initialize(served, Origin=f"http://localhost:{served.port}").status_code == 200
    assert served.stdout == "", "nothing but protocol on stdout (and HTTP has none there)"
    assert "Uvicorn running on" in served.stderr and '"POST /mcp HTTP/1.1" 200' in served.stderr


async def test_log_level_governs_uvicorn_too(tmp_path: Path) -> None:
    with _serve(tmp_path, "--log-level", "WARNING") as served:
        assert _initialize(served).status_code == 200
        await anyio.sleep(0)
    assert served.stdout == ""
    assert "Uvicorn running on" not in served.stderr and "POST /mcp" not in served.stderr, served.stderr
    assert json.dumps(INITIALIZE) not in served.stderr
