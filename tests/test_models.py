"""Model management through the MCP client: list, show, default version, alias, rename, external LoRAs, delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from server.config import Settings
from tests.fake_fal import FakeFal
from tests.fake_fal.server import safetensors_bytes
from tests.helpers import call_error, call_ok

pytestmark = pytest.mark.anyio


async def _register_url(client: Client, fake_fal: FakeFal, name: str = "jane", **extra: object) -> dict:
    url = fake_fal.add_file("jane.safetensors", b"weights" * 100)
    args = {"action": "register_external", "name": name, "lora_url": url, "trigger_word": "JANEAI", **extra}
    return await call_ok(client, "manage_model", args)


async def test_register_external_url_and_local_file(
    client: Client, settings: Settings, fake_fal: FakeFal, tmp_path: Path
) -> None:
    first = await _register_url(client, fake_fal)
    assert first["version"]["version"] == 1 and first["version"]["source"] == "external"
    assert first["version"]["base_endpoint"] == "fal-ai/flux-lora" and first["version"]["lora_path"] is None

    user_file = tmp_path / "mine.safetensors"
    user_file.write_bytes(safetensors_bytes("local weights", 800))
    args = {
        "action": "register_external",
        "name": "jane",
        "lora_path": str(user_file),
        "trigger_word": "JANEAI",
        "scale": 0.8,
    }
    second = (await call_ok(client, "manage_model", args))["version"]
    copy = Path(second["lora_path"])
    assert second["version"] == 2 and second["lora_scale"] == 0.8
    assert copy.is_relative_to(settings.loras_dir) and copy.read_bytes() == user_file.read_bytes()
    assert user_file.exists()  # copied, never moved
    assert second["lora_url"].startswith(fake_fal.base)  # uploaded so fal can load it

    shown = await call_ok(client, "list_models", {"name": "jane"})
    assert [v["version"] for v in shown["versions"]] == [1, 2] and shown["model"]["effective_version"] == 2


async def test_sd_lora_needs_base_model_and_runs_on_fal_lora(client: Client, fake_fal: FakeFal) -> None:
    url = fake_fal.add_file("sdxl.safetensors", b"sdxl" * 100)
    args = {
        "action": "register_external",
        "name": "sdxl-jane",
        "lora_url": url,
        "trigger_word": "JANEAI",
        "base_endpoint": "fal-ai/lora",
    }
    assert "needs base_model" in await call_error(client, "manage_model", args)
    ok = await call_ok(client, "manage_model", {**args, "base_model": "stabilityai/stable-diffusion-xl-base-1.0"})
    assert ok["version"]["base_endpoint"] == "fal-ai/lora"
    assert ok["version"]["params"]["model_name"] == "stabilityai/stable-diffusion-xl-base-1.0"


async def test_register_external_refusals(client: Client, tmp_path: Path) -> None:
    base = {"action": "register_external", "name": "x-model", "trigger_word": "XMODL"}
    assert "exactly one of" in await call_error(client, "manage_model", base)
    assert "not a file" in await call_error(client, "manage_model", {**base, "lora_path": str(tmp_path / "no")})
    wrong = tmp_path / "weights.ckpt"
    wrong.write_bytes(b"x")
    assert ".safetensors" in await call_error(client, "manage_model", {**base, "lora_path": str(wrong)})
    url_args = {**base, "lora_url": "https://example.invalid/x.safetensors"}
    assert "common English word" in await call_error(client, "manage_model", {**url_args, "trigger_word": "man"})


async def test_default_alias_rename_and_resolution(client: Client, fake_fal: FakeFal) -> None:
    await _register_url(client, fake_fal, name="sid-custom-model")
    await _register_url(client, fake_fal, name="sid-custom-model")
    pinned = await call_ok(client, "manage_model", {"action": "set_default", "name": "sid-custom-model", "version": 1})
    assert pinned["model"]["default_version"] == 1 and pinned["model"]["effective_version"] == 1
    bad = await call_error(client, "manage_model", {"action": "set_default", "name": "sid-custom-model", "version": 9})
    assert "no version 9" in bad

    alias = "fal-ai/YOUR_USERNAME/sid-custom-model-v1"
    aliased = await call_ok(client, "manage_model", {"action": "alias", "name": "sid-custom-model", "alias": alias})
    assert alias in aliased["model"]["aliases"]
    via_alias = await call_ok(client, "list_models", {"name": alias})
    assert via_alias["model"]["name"] == "sid-custom-model"
    # the guide's endpoint-style id resolves by its last segment without an explicit alias
    guide_style = await call_ok(client, "list_models", {"name": "fal-ai/YOUR_USERNAME/sid-custom-model"})
    assert guide_style["model"]["name"] == "sid-custom-model"

    renamed = await call_ok(client, "manage_model", {"action": "rename", "name": alias, "new_name": "sid-v2"})
    assert renamed["model"]["name"] == "sid-v2" and renamed["model"]["versions"] == [1, 2]
    assert alias in renamed["model"]["aliases"]
    unknown = await call_error(client, "list_models", {"name": "sid-custom-modl"})
    assert "sid-v2" in unknown  # suggestions name what exists


async def test_delete_version_needs_confirmation_and_keeps_user_files(
    client: Client, settings: Settings, fake_fal: FakeFal, tmp_path: Path
) -> None:
    user_file = tmp_path / "mine.safetensors"
    user_file.write_bytes(safetensors_bytes("user weights", 160))
    base = {"action": "register_external", "name": "del-me", "trigger_word": "DELMX"}
    copy = Path((await call_ok(client, "manage_model", {**base, "lora_path": str(user_file)}))["version"]["lora_path"])
    await _register_url(client, fake_fal, name="del-me")

    refused = await call_error(client, "delete_model_version", {"name": "del-me", "version": 1})
    assert "confirm=true" in refused and copy.exists()
    deleted = await call_ok(client, "delete_model_version", {"name": "del-me", "version": 1, "confirm": True})
    assert deleted["local_file_removed"] == str(copy) and not copy.exists()
    assert user_file.exists()
    assert deleted["model"]["versions"] == [2]
    last = await call_ok(client, "delete_model_version", {"name": "del-me", "version": 2, "confirm": True})
    assert last["local_file_removed"] is None and last["model"] is None

    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert tools["delete_model_version"].annotations.destructive_hint is True
    assert tools["list_models"].annotations.read_only_hint is True


async def test_empty_registry_listing(client: Client) -> None:
    listing = await call_ok(client, "list_models", {})
    assert listing["models"] == [] and "start_training" in listing["hint"]
