"""What a host actually hands the server: unexpanded `${FAL_KEY}`, empty keys."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from server.config import Settings

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("raw", ["${FAL_KEY}", "  ", "${FAL_KEY:-}"])
def test_an_unexpanded_or_empty_key_counts_as_missing(raw: str, tmp_path: Path) -> None:
    assert not Settings.from_env({"FAL_KEY": raw, "FAL_VIDEO_MCP_HOME": str(tmp_path)}).has_fal_key
    assert not Settings.from_env(
        {"FAL_KEY_ID": raw, "FAL_KEY_SECRET": "secret", "FAL_VIDEO_MCP_HOME": str(tmp_path)}
    ).has_fal_key
    assert not Settings(fal_key=raw, home=tmp_path).has_fal_key


async def test_stdio_server_given_the_literal_placeholder_explains_how_to_set_the_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAL")}
    # An unreachable fal: a key taken at face value would end in "could not reach fal.ai" instead.
    env.update(
        {
            "FAL_KEY": "${FAL_KEY}",
            "FAL_VIDEO_MCP_HOME": str(tmp_path / "home"),
            "FAL_VIDEO_MCP_FAL_BASE_URL": "http://127.0.0.1:9",
        }
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "server"], env=env, cwd=str(ROOT))
    async with Client(params) as client:
        result = await client.call_tool(
            "execute_custom_model",
            {"endpoint": "fal-ai/flux/dev", "input_params": {"prompt": "a lighthouse"}, "category_hint": "image"},
        )
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error
    assert "No fal.ai API key is configured" in text and "dashboard/keys" in text
