"""The server as an agent sees it: tools listed with schemas and annotations, errors shaped for a model."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from server.app import create_server
from server.config import Settings
from server.storage import MIGRATIONS, Store

pytestmark = pytest.mark.anyio

CORE_TOOLS = {"prepare_dataset", "start_training", "training_status", "execute_custom_model", "prompt_library"}
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_every_tool_has_schemas_annotations_and_docs(settings: Settings, mode: str) -> None:
    async with Client(create_server(settings), mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) >= CORE_TOOLS
    for tool in tools.values():
        assert tool.description and len(tool.description) > 20, tool.name
        assert tool.input_schema["type"] == "object", tool.name
        assert tool.output_schema is not None, tool.name
        assert tool.annotations is not None and tool.title, tool.name
        assert tool.annotations.read_only_hint is not None, tool.name
        assert tool.annotations.open_world_hint is not None, tool.name


async def test_schema_violation_is_reported_to_the_model(client: Client) -> None:
    result = await client.call_tool("training_status", {"training_id": 42, "unexpected": True})
    text = result.content[0].text
    assert result.is_error
    assert "training_status" in text


async def test_database_is_wal_and_migrated(settings: Settings) -> None:
    async with Client(create_server(settings), mode="legacy") as client:
        await client.list_tools()
    store = Store(settings.db_path)
    assert store.schema_version == max(version for version, _ in MIGRATIONS)
    assert store.query_one("PRAGMA journal_mode")["journal_mode"] == "wal"
    store.close()


def test_settings_from_env(tmp_path: Path) -> None:
    env = {
        "FAL_KEY_ID": "id",
        "FAL_KEY_SECRET": "secret",
        "FAL_VIDEO_MCP_HOME": str(tmp_path / "h"),
        "FAL_VIDEO_MCP_MAX_COST_USD": "3.5",
    }
    settings = Settings.from_env(env)
    assert settings.fal_key is not None and settings.fal_key.get_secret_value() == "id:secret"
    assert settings.home == tmp_path / "h" and settings.outputs_dir == tmp_path / "h" / "outputs"
    assert settings.max_cost_per_call_usd == 3.5
    assert "secret" not in repr(settings)
    assert Settings.from_env({"FAL_VIDEO_MCP_HOME": str(tmp_path)}).has_fal_key is False
    with pytest.raises(ValueError):
        Settings.from_env({"FAL_VIDEO_MCP_MAX_COST_USD": "lots"})


def _stdio_params(home: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAL")}
    env.update({"FAL_KEY": "test-key", "FAL_VIDEO_MCP_HOME": str(home)})
    script = Path(sys.executable).with_name("fal-video-mcp")
    if script.exists():
        return StdioServerParameters(command=str(script), env=env, cwd=str(ROOT))
    return StdioServerParameters(command=sys.executable, args=["-m", "server"], env=env, cwd=str(ROOT))


async def test_stdio_subprocess_lists_all_tools(tmp_path: Path) -> None:
    started = time.perf_counter()
    async with Client(_stdio_params(tmp_path / "home")) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        elapsed = time.perf_counter() - started
        assert set(tools) >= CORE_TOOLS
        assert all(tool.output_schema for tool in tools.values())
        assert client.server_info is not None and client.server_info.name == "fal-video"
    print(f"stdio start → tools/list: {elapsed:.2f}s")


def test_heavy_libraries_are_not_imported_at_start() -> None:
    import subprocess

    code = (
        "import sys, server.app; server.app.create_server(); "
        "print(','.join(m for m in ('cv2','numpy','imagehash','pillow_heif','PIL.Image') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"imported at start: {out.stdout.strip()}"


async def test_streamable_http_transport_serves_the_same_tools(tmp_path: Path) -> None:
    import socket
    import subprocess

    import anyio

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAL")}
    env.update({"FAL_KEY": "test-key", "FAL_VIDEO_MCP_HOME": str(tmp_path / "home")})
    command = [sys.executable, "-m", "server", "--transport", "streamable-http", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with anyio.fail_after(30):
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                    await anyio.sleep(0.1)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("training_status", {})
        assert set(tools) >= CORE_TOOLS
        assert not result.is_error
    finally:
        process.terminate()
        process.wait(timeout=10)
