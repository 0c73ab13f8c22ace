"""prompt_library through the MCP client: built-ins, user templates, rendering, import/export, prompts, resources."""

from __future__ import annotations

import json

import pytest
import yaml
from mcp import Client, MCPError

from server.config import Settings
from server.storage import Store
from tests.helpers import call_error, call_ok
from tools.models import registry

pytestmark = pytest.mark.anyio

GUIDE_THREE = {"professional-headshot", "casual-outdoor", "youtube-thumbnail"}


def register_model(
    settings: Settings, name: str = "sid", trigger: str = "sidx", versions: int = 1, lora_url: str | None = None
) -> None:
    """Register `versions` versions of an external LoRA model straight in the registry (test setup)."""
    store = Store(settings.db_path)
    try:
        for number in range(versions):
            registry.register_version(
                store,
                name,
                trigger_word=trigger,
                base_endpoint="fal-ai/flux-lora",
                source="external",
                lora_url=lora_url or f"https://example.invalid/{name}-v{number + 1}.safetensors",
            )
    finally:
        store.close()


async def test_builtins_are_listed_filtered_and_readable(client: Client) -> None:
    listed = await call_ok(client, "prompt_library", {"action": "list"})
    names = {t["name"] for t in listed["templates"]}
    assert names >= GUIDE_THREE | {"linkedin-profile", "creative-studio", "speaker-event", "book-cover"}
    assert names >= {"podcast-cover", "dating-profile", "team-page"}
    assert all(t["source"] == "builtin" for t in listed["templates"])

    covers = await call_ok(client, "prompt_library", {"action": "list", "tags": ["cover"]})
    assert {t["name"] for t in covers["templates"]} == {"book-cover", "podcast-cover"}

    got = await call_ok(client, "prompt_library", {"action": "get", "name": "Professional_Headshot"})
    template = got["template"]
    assert template["name"] == "professional-headshot"
    assert "{trigger}" in template["template"] and template["variables"]["outfit"] == "business attire"
    assert {key: value for key, value in template["settings"].items() if value is not None} == {
        "guidance_scale": 3.5,
        "num_inference_steps": 28,
        "image_size": "portrait_4_3",
        "num_images": 1,
        "lora_scale": 1.0,
    }
    assert "Did you mean professional-headshot" in await call_error(
        client, "prompt_library", {"action": "get", "name": "profesional-headshot"}
    )


async def test_save_get_render_delete_user_template(client: Client, settings: Settings) -> None:
    register_model(settings)
    saved = await call_ok(
        client,
        "prompt_library",
        {
            "action": "save",
            "name": "Conference Badge",
            "template": "badge photo of [trigger] wearing {outfit}, {extra} plain {color} background",
            "description": "Badge photo for events",
            "variables": {"outfit": None, "color": "white", "extra": ""},
            "settings": {"guidance_scale": 3.0, "num_inference_steps": 24, "image_size": "square_hd"},
            "tags": ["Event", "badge"],
        },
    )
    template = saved["template"]
    assert template["name"] == "conference-badge" and template["source"] == "user"
    assert template["template"] == "badge photo of {trigger} wearing {outfit}, {extra} plain {color} background"
    assert template["tags"] == ["badge", "event"]

    listed = await call_ok(client, "prompt_library", {"action": "list", "tags": ["badge"]})
    assert [t["name"] for t in listed["templates"]] == ["conference-badge"]

    rendered = await call_ok(
        client,
        "prompt_library",
        {"action": "render", "name": "conference-badge", "model": "sid", "values": {"outfit": "a grey hoodie"}},
    )
    assert rendered["rendered"]["prompt"] == "badge photo of sidx wearing a grey hoodie, plain white background"
    assert rendered["rendered"]["trigger_word"] == "sidx"
    assert rendered["rendered"]["input_params"] == {
        "prompt": rendered["rendered"]["prompt"],
        "guidance_scale": 3.0,
        "num_inference_steps": 24,
        "image_size": "square_hd",
    }

    missing = await call_error(
        client, "prompt_library", {"action": "render", "name": "conference-badge", "model": "sid"}
    )
    assert "needs values for ['outfit']" in missing
    unknown = await call_error(
        client,
        "prompt_library",
        {"action": "render", "name": "conference-badge", "model": "sid", "values": {"outfit": "x", "hat": "y"}},
    )
    assert "no variable(s) ['hat']" in unknown and "outfit" in unknown
    no_trigger = await call_error(client, "prompt_library", {"action": "render", "name": "professional-headshot"})
    assert "trigger_word" in no_trigger
    explicit = await call_ok(
        client, "prompt_library", {"action": "render", "name": "professional-headshot", "trigger_word": "ohwx"}
    )
    assert explicit["rendered"]["prompt"].startswith("professional headshot of ohwx wearing business attire")

    bad = await call_error(
        client, "prompt_library", {"action": "save", "name": "no-trigger", "template": "a portrait of {who}"}
    )
    assert "{trigger}" in bad
    bad_settings = await call_error(
        client,
        "prompt_library",
        {"action": "save", "name": "x", "template": "{trigger}", "settings": {"cfg": 3}},
    )
    assert "allowed keys" in bad_settings

    deleted = await call_ok(client, "prompt_library", {"action": "delete", "name": "conference-badge"})
    assert deleted["template"]["name"] == "conference-badge"
    assert "No prompt template named" in await call_error(
        client, "prompt_library", {"action": "get", "name": "conference-badge"}
    )


async def test_builtins_are_read_only_unless_shadowed(client: Client) -> None:
    args = {"action": "save", "name": "professional_headshot", "template": "headshot of {trigger}, grey backdrop"}
    assert "overwrite=true" in await call_error(client, "prompt_library", args)
    shadow = await call_ok(client, "prompt_library", {**args, "overwrite": True})
    assert shadow["template"]["source"] == "user" and shadow["template"]["overrides_builtin"] is True
    got = await call_ok(client, "prompt_library", {"action": "get", "name": "professional-headshot"})
    assert got["template"]["template"] == "headshot of {trigger}, grey backdrop"

    restored = await call_ok(client, "prompt_library", {"action": "delete", "name": "professional-headshot"})
    assert "built-in template of that name is active again" in restored["message"]
    got = await call_ok(client, "prompt_library", {"action": "get", "name": "professional-headshot"})
    assert got["template"]["source"] == "builtin"
    assert "cannot be deleted" in await call_error(
        client, "prompt_library", {"action": "delete", "name": "professional-headshot"}
    )


async def test_export_import_round_trip_is_lossless(client: Client, settings: Settings) -> None:
    register_model(settings, versions=2)
    templates = [
        {
            "action": "save",
            "name": "office-portrait",
            "template": "portrait of {trigger} in {place}, {light} light",
            "description": "Office portrait",
            "variables": {"place": "a glass office", "light": None},
            "settings": {"guidance_scale": 3.5, "num_inference_steps": 28, "lora_scale": 0.9, "num_images": 2},
            "tags": ["office"],
            "model": "sid@v2",
        },
        {"action": "save", "name": "plain", "template": "photo of {trigger}"},
    ]
    before = {}
    for args in templates:
        before[args["name"]] = (await call_ok(client, "prompt_library", args))["template"]
    exported = await call_ok(client, "prompt_library", {"action": "export"})
    document = yaml.safe_load(exported["yaml"])
    assert list(document) == ["office-portrait", "plain"]
    assert document["office-portrait"]["prompt"] == "portrait of [trigger] in {place}, {light} light"
    assert document["office-portrait"]["steps"] == 28 and document["office-portrait"]["guidance_scale"] == 3.5
    assert document["office-portrait"]["model"] == "sid" and document["office-portrait"]["model_version"] == 2
    assert exported["path"].startswith(str(settings.home))

    for name in before:
        await call_ok(client, "prompt_library", {"action": "delete", "name": name})
    imported = await call_ok(client, "prompt_library", {"action": "import", "path": exported["path"]})
    assert sorted(imported["imported"]) == ["office-portrait", "plain"]
    for name, original in before.items():
        after = (await call_ok(client, "prompt_library", {"action": "get", "name": name}))["template"]
        strip = {"created_at", "updated_at"}
        assert {k: v for k, v in after.items() if k not in strip} == {
            k: v for k, v in original.items() if k not in strip
        }
    again = await call_ok(client, "prompt_library", {"action": "import", "yaml_text": exported["yaml"]})
    assert sorted(again["unchanged"]) == ["office-portrait", "plain"] and again["imported"] == []


async def test_import_guide_format(client: Client) -> None:
    guide = """
professional_headshot:
  prompt: "professional headshot of [trigger] wearing business attire, studio lighting, neutral background"
  guidance_scale: 3.5
  steps: 28
my_thumbnail:
  prompt: "{trigger} with surprised expression, vibrant colors"
  guidance_scale: 4.0
  steps: 30
"""
    clash = await call_error(client, "prompt_library", {"action": "import", "yaml_text": guide})
    assert "Nothing was imported" in clash and "professional-headshot (builtin)" in clash and "overwrite=true" in clash
    assert (await call_ok(client, "prompt_library", {"action": "list"}))["templates"][0]["source"] == "builtin"
    only_new = guide.split("my_thumbnail:")[1]
    result = await call_ok(client, "prompt_library", {"action": "import", "yaml_text": "my_thumbnail:" + only_new})
    assert result["imported"] == ["my-thumbnail"]
    got = (await call_ok(client, "prompt_library", {"action": "get", "name": "my_thumbnail"}))["template"]
    assert got["template"] == "{trigger} with surprised expression, vibrant colors"
    assert {k: v for k, v in got["settings"].items() if v is not None} == {
        "guidance_scale": 4.0,
        "num_inference_steps": 30,
    }

    forced = await call_ok(client, "prompt_library", {"action": "import", "yaml_text": guide, "overwrite": True})
    assert forced["imported"] == ["professional-headshot"] and forced["unchanged"] == ["my-thumbnail"]

    assert "unknown keys ['cfg']" in await call_error(
        client, "prompt_library", {"action": "import", "yaml_text": "a:\n  prompt: '[trigger]'\n  cfg: 3\n"}
    )
    assert "not valid YAML" in await call_error(client, "prompt_library", {"action": "import", "yaml_text": "a: ["})


async def test_mcp_prompts_guide_the_workflows(client: Client) -> None:
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) >= {"train_my_model", "test_my_model", "create_scenario_images"}
    assert {a.name for a in prompts["create_scenario_images"].arguments or []} >= {"model_name", "scenario"}

    got = await client.get_prompt("create_scenario_images", {"model_name": "sid", "scenario": "Book Cover"})
    text = got.messages[0].content.text
    assert got.messages[0].role == "user"
    assert "'book-cover'" in text and "prompt_library" in text and "'sid'" in text

    test = await client.get_prompt("test_my_model", {"model_name": "sid", "versions": "v1, v2"})
    assert "versions=[1, 2]" in test.messages[0].content.text and "run_suite" in test.messages[0].content.text
    train = await client.get_prompt("train_my_model", {})
    assert "prepare_dataset" in train.messages[0].content.text


async def test_resources_list_and_read(client: Client, settings: Settings) -> None:
    register_model(settings, versions=2)
    resources = {str(r.uri) for r in (await client.list_resources()).resources}
    assert "fal-video://prompts/builtin" in resources
    templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert templates >= {
        "fal-video://models{?limit}",
        "fal-video://models/{name}",
        "fal-video://trainings{?status,limit}",
        "fal-video://datasets{?limit}",
    }

    models = json.loads((await client.read_resource("fal-video://models")).contents[0].text)
    assert models[0]["name"] == "sid" and models[0]["versions"] == [1, 2]
    one = json.loads((await client.read_resource("fal-video://models/sid")).contents[0].text)
    assert [v["version"] for v in one["versions"]] == [1, 2] and one["versions"][1]["trigger_word"] == "sidx"
    assert json.loads((await client.read_resource("fal-video://trainings")).contents[0].text) == []
    assert json.loads((await client.read_resource("fal-video://datasets?limit=5")).contents[0].text) == []
    builtin = json.loads((await client.read_resource("fal-video://prompts/builtin")).contents[0].text)
    assert {t["name"] for t in builtin} >= GUIDE_THREE
    with pytest.raises(MCPError):
        await client.read_resource("fal-video://models/nobody")


GUIDE_LIBRARY = """\
professional-headshot:
  prompt: "Photo of SIDAI, professional LinkedIn headshot, navy blazer, soft studio light, neutral background"
  guidance_scale: 7.5
  steps: 30
casual-coffee:
  prompt: "Photo of SIDAI sitting in a sunny cafe, candid smile, latte on the table"
  guidance_scale: 7.0
  steps: 28
speaker-profile:
  prompt: "sidai on stage giving a keynote talk, dramatic lighting, audience in the background"
  guidance_scale: 7.5
  steps: 30
"""


async def test_the_guides_yaml_with_a_literal_trigger_word_imports_and_renders(
    client: Client, settings: Settings
) -> None:
    register_model(settings, name="sid-custom-model", trigger="SIDAI")
    register_model(settings, name="other", trigger="ohwx")

    untold = await call_error(client, "prompt_library", {"action": "import", "yaml_text": GUIDE_LIBRARY})
    assert "must contain {trigger}" in untold and "trigger_word" in untold

    args = {"action": "import", "yaml_text": GUIDE_LIBRARY, "model": "sid-custom-model"}
    clash = await call_error(client, "prompt_library", args)
    assert "professional-headshot (builtin)" in clash and "Nothing was imported" in clash
    listed = (await call_ok(client, "prompt_library", {"action": "list"}))["templates"]
    assert {t["name"] for t in listed if t["source"] == "user"} == set()

    imported = await call_ok(client, "prompt_library", {**args, "overwrite": True})
    assert sorted(imported["imported"]) == ["casual-coffee", "professional-headshot", "speaker-profile"]

    headshot = (await call_ok(client, "prompt_library", {"action": "get", "name": "professional-headshot"}))["template"]
    assert headshot["template"].startswith("Photo of {trigger}, professional LinkedIn headshot")
    assert headshot["settings"]["guidance_scale"] == 7.5 and headshot["settings"]["num_inference_steps"] == 30
    assert headshot["settings"]["image_size"] == "portrait_4_3"
    coffee = (await call_ok(client, "prompt_library", {"action": "get", "name": "casual-coffee"}))["template"]
    assert coffee["settings"].get("image_size") is None
    speaker = (await call_ok(client, "prompt_library", {"action": "get", "name": "speaker-profile"}))["template"]
    assert speaker["template"].startswith("{trigger} on stage") and speaker["settings"]["image_size"] == "portrait_4_3"

    for model, word in (("sid-custom-model", "SIDAI"), ("other", "ohwx")):
        rendered = await call_ok(
            client, "prompt_library", {"action": "render", "name": "professional-headshot", "model": model}
        )
        assert rendered["rendered"]["prompt"].startswith(f"Photo of {word}, professional LinkedIn headshot")
        assert rendered["rendered"]["input_params"]["image_size"] == "portrait_4_3"

    kept = await call_ok(client, "prompt_library", {"action": "export"})
    assert yaml.safe_load(kept["yaml"])["casual-coffee"]["prompt"].startswith("Photo of [trigger] sitting")
    rendered_export = await call_ok(
        client, "prompt_library", {"action": "export", "model": "sid-custom-model", "path": "library.yaml"}
    )
    assert rendered_export["path"] == str(settings.outputs_dir / "library.yaml")
    again = yaml.safe_load((settings.outputs_dir / "library.yaml").read_text())
    assert again["casual-coffee"]["prompt"].startswith("Photo of SIDAI sitting")
    assert "overwrite=true" in await call_error(client, "prompt_library", {"action": "export", "path": "library.yaml"})
    outside = await call_error(client, "prompt_library", {"action": "export", "path": str(settings.home.parent)})
    assert "only under the data dir" in outside
    escape = await call_error(client, "prompt_library", {"action": "export", "path": "../../elsewhere.yaml"})
    assert "only under the data dir" in escape


async def test_the_shared_word_is_suggested_when_no_trigger_is_given(client: Client) -> None:
    two = "a:\n  prompt: Photo of SIDAI at the beach\nb:\n  prompt: SIDAI reading a book\n"
    text = await call_error(client, "prompt_library", {"action": "import", "yaml_text": two})
    assert "every prompt contains 'SIDAI'" in text
