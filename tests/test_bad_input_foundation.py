"""Bad input on what exists now: schema violations on the five tools, unknown tools, invalid configuration.

Tool-level cases (folders, files, names, YAML...) are added to `CASES` as the tools land; see tests/badinput.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from server.config import ConfigError, Settings
from tests.badinput import (
    Case,
    case_id,
    check_case,
    folder_with,
    huge_string,
    write_decompression_bomb,
    write_truncated_jpeg,
)

pytestmark = pytest.mark.anyio

CASES = [
    Case("prepare_dataset", {"folder": 7, "trigger_word": "SIDAI"}, "folder"),
    Case("prepare_dataset", {"folder": None, "trigger_word": "SIDAI"}, "folder"),
    Case("prepare_dataset", {"folder": ["/tmp"], "trigger_word": "SIDAI"}, "folder"),
    Case("prepare_dataset", {"folder": "/tmp", "trigger_word": {"x": 1}}, "trigger_word"),
    Case("prepare_dataset", {"trigger_word": "SIDAI"}, "folder"),
    Case("start_training", {"dataset": 3.5, "model_name": "sid"}, "dataset"),
    Case("start_training", {"dataset": "ds_x", "model_name": ["sid"]}, "model_name"),
    Case("start_training", {"model_name": "sid"}, "dataset"),
    Case("training_status", {"training_id": 42}, "training_id"),
    Case("training_status", {"training_id": {"id": "trn_1"}}, "training_id"),
    Case("execute_custom_model", {"input_params": {"prompt": "x"}}, "endpoint"),
    Case("execute_custom_model", {"endpoint": 12}, "endpoint"),
    Case("execute_custom_model", {"endpoint": "fal-ai/flux-lora", "input_params": "prompt=x"}, "input_params"),
    Case("execute_custom_model", {"endpoint": "fal-ai/flux-lora", "input_params": [1, 2]}, "input_params"),
    Case("execute_custom_model", {"endpoint": "fal-ai/flux-lora", "category_hint": "hologram"}, "category_hint"),
    Case("prompt_library", {"action": "explode"}, "action"),
    Case("prompt_library", {"action": 1}, "action"),
    Case("prompt_library", {}, "action"),
    Case("no_such_tool", {}, "Unknown tool", id="unknown-tool"),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
async def test_bad_input(case: Case, client: Client, settings: Settings, tmp_path: Path) -> None:
    await check_case(client, case, settings, tmp_path / "scratch")


async def test_harness_flags_wrong_text_crashes_and_storage_changes(settings: Settings, tmp_path: Path) -> None:
    """The harness itself, on a throwaway server whose tools misbehave on purpose."""
    from mcp.server import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from server.storage import Store, new_id, utc_now

    settings.ensure_dirs()
    Store(settings.db_path).close()
    server = MCPServer("harness-check")

    @server.tool()
    async def crashes(x: int = 0) -> dict:
        """Raises an unexpected exception."""
        raise RuntimeError("boom")

    @server.tool()
    async def writes_then_refuses(x: int = 0) -> dict:
        """Writes a row, then refuses."""
        store = Store(settings.db_path)
        store.insert("models", {"name": new_id("m"), "created_at": utc_now()})
        store.close()
        raise ToolError("refused")

    @server.tool()
    async def leaves_a_file(x: int = 0) -> dict:
        """Writes a file into the data dir, then refuses."""
        (settings.home / "stray.txt").write_text("x")
        raise ToolError("refused")

    async with Client(server, mode="legacy") as client:
        with pytest.raises(AssertionError, match="crashed"):
            await check_case(client, Case("crashes", {}, "boom"), settings, tmp_path)
        with pytest.raises(AssertionError, match="expected"):
            await check_case(client, Case("leaves_a_file", {"x": "NaN"}, "no such words"), settings, tmp_path)
        with pytest.raises(AssertionError, match="changed SQLite rows"):
            await check_case(client, Case("writes_then_refuses", {}, "refused"), settings, tmp_path)
        with pytest.raises(AssertionError, match="left files"):
            await check_case(client, Case("leaves_a_file", {}, "refused"), settings, tmp_path)
        await check_case(client, Case("leaves_a_file", {}, "refused", files_may_change=True), settings, tmp_path)


CONFIG_CASES = [
    ({"FAL_VIDEO_MCP_MAX_COST_USD": "lots"}, "FAL_VIDEO_MCP_MAX_COST_USD='lots'"),
    ({"FAL_VIDEO_MCP_MAX_COST_USD": "-1"}, "greater than or equal to 0"),
    ({"FAL_VIDEO_MCP_DAILY_BUDGET_USD": "1e999x"}, "FAL_VIDEO_MCP_DAILY_BUDGET_USD"),
    ({"FAL_VIDEO_MCP_POLL_MIN_SECONDS": "0"}, "FAL_VIDEO_MCP_POLL_MIN_SECONDS"),
    ({"FAL_VIDEO_MCP_POLL_MAX_SECONDS": "soon"}, "FAL_VIDEO_MCP_POLL_MAX_SECONDS"),
    ({"FAL_VIDEO_MCP_TOOL_WAIT_SECONDS": "100"}, "less than or equal to 40"),
    ({"FAL_VIDEO_MCP_TOOL_WAIT_SECONDS": "0", "FAL_VIDEO_MCP_MAX_COST_USD": "x"}, "TOOL_WAIT_SECONDS='0'"),
]


@pytest.mark.parametrize(("env", "expect"), CONFIG_CASES)
def test_invalid_configuration_names_the_variable(env: dict[str, str], expect: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert expect in str(caught.value) and "restart" in str(caught.value)


def test_config_error_never_shows_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"FAL_KEY": "k" * 40, "FAL_VIDEO_MCP_MAX_COST_USD": "x"})
    assert "k" * 40 not in str(caught.value)


def test_hostile_file_builders_are_what_they_claim(tmp_path: Path) -> None:
    from PIL import Image

    with pytest.raises(OSError), Image.open(write_truncated_jpeg(tmp_path / "t.jpg")) as img:
        img.load()
    with pytest.raises(Image.DecompressionBombError):
        Image.open(write_decompression_bomb(tmp_path / "bomb.png"))
    assert (tmp_path / "bomb.png").stat().st_size < 10_000
    folder = folder_with(tmp_path, good=2, truncated=1, zero_byte=1, not_image=1, bombs=1, symlinks_out=1)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["000.jpg", "001.jpg", "002.jpg", "003.jpg", "004.jpg", "005.png", "006.jpg"]
    assert (folder / "003.jpg").stat().st_size == 0
    assert not (folder / "006.jpg").resolve().is_relative_to(folder.resolve())
    assert len(huge_string()) == 200_000
