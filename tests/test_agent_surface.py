"""What every tool shows an agent, whatever the tool: unknown argument names refused, plain argument errors,
collections listed as resources."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from tests.helpers import call_error

pytestmark = pytest.mark.anyio

RAW_PYDANTIC = ("validation error", "Arguments", "[type=", "errors.pydantic.dev", "input_type")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_unknown_argument_names_are_refused_with_the_valid_ones(settings: Settings, mode: str) -> None:
    async with Client(create_server(settings), mode=mode) as client:
        text = await call_error(client, "list_models", {"nmae": "sid"})
        assert "unknown argument(s) 'nmae' (did you mean 'name'?)" in text and "Valid arguments: name" in text
        nested = await call_error(
            client,
            "quality_matrix",
            {"action": "record", "model": "sid@v1", "scores": [{"scenario": "x", "quality": 5, "likenes": 3}]},
        )
        assert "'likenes' in scores[0] (did you mean 'likeness'?)" in nested
        assert "Valid in scores[0]: scenario, quality, likeness" in nested
        unknown_tool = await call_error(client, "prepare_datasets", {})
        assert "The tools are:" in unknown_tool and "prepare_dataset," in unknown_tool


async def test_argument_errors_name_the_argument_without_pydantic_text(client: Client) -> None:
    text = await call_error(
        client,
        "quality_matrix",
        {"action": "recrd", "model": "sid", "scores": [{"scenario": "x", "quality": 11}], "versions": "abc"},
    )
    assert "action should be 'record', 'show'" in text and "(got 'recrd')" in text
    assert "scores[0].quality should be less than or equal to 10 (got 11)" in text
    assert "versions should be a valid list" in text and "nothing was done" in text
    for raw in RAW_PYDANTIC:
        assert raw not in text, raw
    missing = await call_error(client, "start_training", {"dataset": "ds_x"})
    assert "model_name is required" in missing
    for raw in RAW_PYDANTIC:
        assert raw not in missing, raw


async def test_collections_are_listed_resources_as_well_as_templates(client: Client) -> None:
    listed = {str(r.uri): r for r in (await client.list_resources()).resources}
    assert {"fal-video://models", "fal-video://trainings", "fal-video://datasets"} <= set(listed)
    assert listed["fal-video://models"].mime_type == "application/json"
    for uri in ("fal-video://models", "fal-video://trainings", "fal-video://datasets"):
        assert json.loads((await client.read_resource(uri)).contents[0].text) == []
