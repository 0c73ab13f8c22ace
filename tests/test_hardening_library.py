"""prompt_library import reads only YAML files in the data or output dir, and its errors never quote the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from server.config import Settings
from tests.helpers import call_error, call_ok

pytestmark = pytest.mark.anyio

SECRET = "AKIAIOSFODNN7EXAMPLE"


async def _import(client: Client, path: Path | str) -> str:
    return await call_error(client, "prompt_library", {"action": "import", "path": str(path)})


async def test_import_refuses_files_outside_the_data_and_output_dirs(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "credentials.yaml"
    outside.write_text(f"aws_access_key_id: {SECRET}\n")
    settings.home.mkdir(parents=True, exist_ok=True)
    disguised = settings.home / "library.yaml"
    disguised.symlink_to(outside)
    for path in (outside, disguised, "/proc/self/environ", settings.home / ".." / "credentials.yaml"):
        error = await _import(client, path)
        assert "reads files only under" in error and "yaml_text" in error, error
        assert SECRET not in error


async def test_import_refuses_non_yaml_files_in_the_data_dir(client: Client, settings: Settings) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    notes = settings.home / "notes.txt"
    notes.write_text(f"token: {SECRET}\n")
    error = await _import(client, notes)
    assert "not a .yaml/.yml file" in error and SECRET not in error


async def test_yaml_errors_say_where_without_quoting_the_file(client: Client, settings: Settings) -> None:
    bad = settings.outputs_dir / "library.yaml"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text(f"portrait:\n  prompt: [trigger]\n{SECRET}: x: y\n")
    error = await _import(client, bad)
    assert "not valid YAML (line 3, column" in error and SECRET not in error and "AKIA" not in error
    error = await call_error(client, "prompt_library", {"action": "import", "yaml_text": f"a: '{SECRET}"})
    assert "not valid YAML" in error and SECRET not in error


async def test_an_exported_library_imports_from_its_path(client: Client) -> None:
    await call_ok(client, "prompt_library", {"action": "save", "name": "plain", "template": "photo of {trigger}"})
    exported = await call_ok(client, "prompt_library", {"action": "export"})
    await call_ok(client, "prompt_library", {"action": "delete", "name": "plain"})
    imported = await call_ok(client, "prompt_library", {"action": "import", "path": exported["path"]})
    assert imported["imported"] == ["plain"]
