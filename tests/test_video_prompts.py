"""The "make a video of me" workflow prompt and the video scenarios in the prompt library."""

from __future__ import annotations

import pytest
from mcp import Client, MCPError

from tests.helpers import call_error, call_ok

pytestmark = pytest.mark.anyio


async def test_make_video_of_me_prompt(client: Client) -> None:
    prompts = {p.name for p in (await client.list_prompts()).prompts}
    assert "make_video_of_me" in prompts
    got = await client.get_prompt("make_video_of_me", {"model_name": "sid", "scenario": "Video Waving Greeting"})
    text = got.messages[0].content.text
    assert "video(start=<model>, scenario='video-waving-greeting', dry_run=true)" in text
    assert "video(video_id=..., wait_seconds=30)" in text and "cost" in text
    wish = await client.get_prompt("make_video_of_me", {"motion": "waves hello"})
    assert "my motion wish: 'waves hello'" in wish.messages[0].content.text
    with pytest.raises(MCPError, match="not a video scenario; the video scenarios: video-talking-head-intro"):
        await client.get_prompt("make_video_of_me", {"scenario": "book-cover"})


async def test_video_scenarios_carry_their_motion(client: Client) -> None:
    listed = await call_ok(client, "prompt_library", {"action": "list", "tags": ["video"]})
    assert {t["name"] for t in listed["templates"]} == {"video-waving-greeting", "video-talking-head-intro"}
    got = await call_ok(client, "prompt_library", {"action": "get", "name": "video-waving-greeting"})
    settings = got["template"]["settings"]
    assert settings["motion_prompt"].startswith("{trigger} smiles, raises the right hand and waves")
    assert settings["duration_seconds"] == 5 and settings["image_size"] == "portrait_16_9"


async def test_a_motion_prompt_may_only_use_the_templates_variables(client: Client) -> None:
    text = await call_error(
        client,
        "prompt_library",
        {
            "action": "save",
            "name": "my-wave",
            "template": "photo of {trigger} in {place}",
            "settings": {"motion_prompt": "{trigger} waves at {friend}"},
        },
    )
    assert "the motion prompt uses ['friend'], which the template text does not" in text
    saved = await call_ok(
        client,
        "prompt_library",
        {
            "action": "save",
            "name": "my-wave",
            "template": "photo of [trigger] in {place}",
            "variables": {"place": "a park"},
            "settings": {"motion_prompt": "[trigger] waves in {place}", "duration_seconds": 5},
        },
    )
    assert saved["template"]["settings"]["motion_prompt"] == "{trigger} waves in {place}"


async def test_a_video_scenario_renders_its_motion_and_runs_through_video(client: Client) -> None:
    rendered = await call_ok(
        client,
        "prompt_library",
        {
            "action": "render",
            "name": "video-talking-head-intro",
            "trigger_word": "SIDAI",
            "values": {"outfit": "a hoodie"},
        },
    )
    assert "SIDAI" in rendered["rendered"]["prompt"] and "a hoodie" in rendered["rendered"]["prompt"]
    assert rendered["rendered"]["motion_prompt"].startswith("SIDAI speaks warmly to the camera")
    text = await call_error(
        client, "prompt_library", {"action": "run", "name": "video-waving-greeting", "trigger_word": "SIDAI"}
    )
    assert "is a video scenario: make the clip with video(start=" in text
