"""MCP prompts: every argument described; bad values and unknown names refused as invalid-params errors naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client, MCPError
from mcp.types import INVALID_PARAMS

pytestmark = pytest.mark.anyio


async def test_every_prompt_argument_is_described(client: Client) -> None:
    prompts = (await client.list_prompts()).prompts
    assert {p.name for p in prompts} >= {"train_my_model", "test_my_model", "create_scenario_images"}
    for prompt in prompts:
        assert prompt.description
        for argument in prompt.arguments or []:
            assert argument.description, f"{prompt.name}.{argument.name}"
            assert not argument.required, f"{prompt.name}.{argument.name}"


@pytest.mark.parametrize(
    ("prompt", "arguments", "named", "advice"),
    [
        ("create_scenario_images", {"count": "abc"}, "count", "whole number from 1 to 8"),
        ("create_scenario_images", {"count": "12"}, "count", "whole number from 1 to 8"),
        ("create_scenario_images", {"scenario": "!!"}, "scenario", "not a template name"),
        ("test_my_model", {"versions": "one,two"}, "versions", "'1,2'"),
        ("test_my_model", {"model_name": "my model/"}, "model_name", "sid-custom-model"),
        ("train_my_model", {"photos_folder": "/no/such/folder"}, "photos_folder", "full path"),
        ("train_my_model", {"trigger_word": "the"}, "trigger_word", "common English word"),
        ("create_scenario_images", {"cout": "3"}, "cout", "model_name, scenario, count, details"),
    ],
)
async def test_bad_argument_is_an_invalid_params_error_naming_it(
    client: Client, prompt: str, arguments: dict[str, str], named: str, advice: str
) -> None:
    with pytest.raises(MCPError) as caught:
        await client.get_prompt(prompt, arguments)
    assert caught.value.code == INVALID_PARAMS
    assert named in caught.value.message and advice in caught.value.message


async def test_good_arguments_fill_the_workflow(client: Client, tmp_path: Path) -> None:
    got = await client.get_prompt("create_scenario_images", {"model_name": "sid", "count": "3"})
    assert "Create 3 professional-headshot image(s)" in got.messages[0].content.text
    train = await client.get_prompt(
        "train_my_model", {"model_name": "sid", "photos_folder": str(tmp_path), "trigger_word": "SIDAI"}
    )
    assert f"folder={str(tmp_path)!r}" in train.messages[0].content.text


async def test_an_unknown_video_scenario_without_a_motion_wish_is_refused(client: Client) -> None:
    with pytest.raises(MCPError) as caught:
        await client.get_prompt("make_video_of_me", {"scenario": "nope"})
    assert caught.value.code == INVALID_PARAMS and "video-waving-greeting" in caught.value.message
