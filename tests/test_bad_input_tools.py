"""Bad input on every tool, past the schema: each case must fail with a clear, specific ToolError and leave the
database and the data dir exactly as they were (see tests/badinput.py). Two registered models exist first, so
the cases probe real lookups, not an empty registry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mcp import Client

from server.config import Settings
from server.storage import Store
from tests.badinput import Case, case_id, check_case, folder_with, huge_string, write_jpeg
from tools.models import registry

pytestmark = pytest.mark.anyio

FLUX = "fal-ai/flux-lora"


def _not_a_zip(scratch: Path) -> dict:
    scratch.mkdir(parents=True, exist_ok=True)
    path = write_jpeg(scratch / "photo.jpg")
    return {"dataset": str(path), "model_name": "sid", "trigger_word": "SIDAI"}


def _text_file_as_lora(scratch: Path) -> dict:
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / "weights.safetensors"
    path.write_text("not weights")
    return {"action": "register_external", "name": "ext", "lora_path": str(path), "trigger_word": "EXTOK"}


def _folder(**kinds: int) -> Callable[[Path], dict]:
    def build(scratch: Path) -> dict:
        return {"folder": str(folder_with(scratch, **kinds)), "trigger_word": "SIDAI"}

    return build


def _file_not_folder(scratch: Path) -> dict:
    scratch.mkdir(parents=True, exist_ok=True)
    return {"folder": str(write_jpeg(scratch / "one.jpg")), "trigger_word": "SIDAI"}


def _huge_folder(scratch: Path) -> dict:
    folder = scratch / "huge"
    folder.mkdir(parents=True)
    for index in range(501):
        (folder / f"{index:04d}.jpg").write_bytes(b"\xff\xd8\xff")
    return {"folder": str(folder), "trigger_word": "SIDAI"}


def _traversal(scratch: Path) -> dict:
    folder_with(scratch, good=1)
    return {"folder": str(scratch / "photos" / ".." / ".." / "no-such-dir"), "trigger_word": "SIDAI"}


CASES = [
    # prepare_dataset: folders and hostile files (the originals are never touched; nothing is stored)
    Case("prepare_dataset", {"folder": "/no/such/folder", "trigger_word": "SIDAI"}, "/no/such/folder"),
    Case("prepare_dataset", {"folder": "", "trigger_word": "SIDAI"}, "folder"),
    Case("prepare_dataset", _file_not_folder, "not a folder", id="prepare_dataset[file-not-folder]"),
    Case("prepare_dataset", _folder(), "is empty", id="prepare_dataset[empty-folder]"),
    Case("prepare_dataset", _huge_folder, "500", id="prepare_dataset[over-500-files]"),
    Case("prepare_dataset", _traversal, "no-such-dir", id="prepare_dataset[path-traversal]"),
    Case(
        "prepare_dataset",
        _folder(truncated=2, zero_byte=1, not_image=1, bombs=1, symlinks_out=1),
        "usable",
        id="prepare_dataset[only-hostile-files]",
    ),
    Case("prepare_dataset", _folder(good=1, symlinks_out=4), "outside", id="prepare_dataset[symlinks-out]"),
    Case("prepare_dataset", {"folder": "/tmp", "trigger_word": "woman"}, "common English word"),
    Case("prepare_dataset", {"folder": "/tmp", "trigger_word": "SIDAI", "caption_template": "a photo"}, "{trigger}"),
    Case("prepare_dataset", {"folder": "/tmp", "trigger_word": "SIDAI", "resolution": 333}, "resolution"),
    # start_training
    Case("start_training", {"dataset": "ds_missing", "model_name": "sid", "model_type": "sdxl-lora"}, "flux-lora"),
    Case("start_training", {"dataset": "ds_missing", "model_name": "sid", "model_type": "dreambooth"}, "LoRA"),
    Case("start_training", {"dataset": "ds_missing", "model_name": "sid", "trigger_word": "person"}, "person"),
    Case("start_training", {"dataset": "ds_missing", "model_name": "sid", "trigger_word": "ab"}, "ab"),
    Case(
        "start_training", {"dataset": "ds_missing", "model_name": "sid", "trigger_word": "SIDAI", "steps": 0}, "steps"
    ),
    Case(
        "start_training",
        {"dataset": "ds_missing", "model_name": "sid", "trigger_word": "SIDAI", "steps": 50_000},
        "steps",
    ),
    Case(
        "start_training",
        {"dataset": "ds_missing", "model_name": "sid", "trigger_word": "SIDAI", "learning_rate": 2.0},
        "learning",
    ),
    Case("start_training", {"dataset": "ds_missing", "model_name": "sid", "trigger_word": "SIDAI"}, "ds_missing"),
    Case("start_training", {"dataset": "ftp://host/x.zip", "model_name": "sid", "trigger_word": "SIDAI"}, "dataset"),
    Case("start_training", {"dataset": "ds_missing", "model_name": "bad name!", "trigger_word": "SIDAI"}, "name"),
    Case("start_training", _not_a_zip, "zip", id="start_training[local-file-not-a-zip]"),
    Case(
        "start_training",
        {"dataset": "ds_missing", "model_name": "sid", "trigger_word": "SIDAI", "model_type": "flux-ultra"},
        "model_type",
    ),
    # training_status / cancel_training
    Case("training_status", {"training_id": "trn_nope"}, "trn_nope"),
    Case("training_status", {"model_name": "ghost"}, "ghost"),
    Case("training_status", {"training_id": "trn_nope", "wait_seconds": 600}, "wait_seconds"),
    Case("cancel_training", {"training_id": "trn_nope"}, "trn_nope"),
    # model management
    Case("list_models", {"name": "ghost"}, "ghost"),
    Case("manage_model", {"action": "set_default", "name": "ghost", "version": 1}, "ghost"),
    Case("manage_model", {"action": "set_default", "name": "sid-custom-model", "version": 9}, "version 9"),
    Case("manage_model", {"action": "alias", "name": "sid-custom-model", "alias": "has space"}, "alias"),
    Case("manage_model", {"action": "rename", "name": "sid-custom-model", "new_name": "other-model"}, "exists"),
    Case("manage_model", {"action": "register_external", "name": "ext", "trigger_word": "EXTOK"}, "lora"),
    Case(
        "manage_model",
        {
            "action": "register_external",
            "name": "ext",
            "trigger_word": "EXTOK",
            "lora_path": "/nonexistent/x.safetensors",
        },
        "x.safetensors",
    ),
    Case("manage_model", _text_file_as_lora, "safetensors", id="manage_model[lora-file-not-safetensors]"),
    Case("delete_model_version", {"name": "sid-custom-model", "version": 1, "confirm": False}, "confirm"),
    Case("delete_model_version", {"name": "sid-custom-model", "version": 7, "confirm": True}, "version 7"),
    # generation
    Case("execute_custom_model", {"endpoint": "sid-custom-modle", "input_params": {"prompt": "x"}}, "sid-custom-model"),
    Case("execute_custom_model", {"endpoint": "sid-custom-model@v5", "input_params": {"prompt": "x"}}, "version 5"),
    Case("execute_custom_model", {"endpoint": FLUX, "input_params": {"prompt": "x", "num_images": 9}}, "num_images"),
    Case(
        "execute_custom_model", {"endpoint": FLUX, "input_params": {"prompt": "x", "image_size": "huge"}}, "image_size"
    ),
    Case(
        "execute_custom_model",
        {"endpoint": FLUX, "input_params": {"prompt": "x", "guidance_scale": -1, "num_inference_steps": 500}},
        "guidance_scale",
    ),
    Case("execute_custom_model", {"endpoint": FLUX, "input_params": {}}, "prompt"),
    Case("execute_custom_model", {"endpoint": "../../etc/passwd", "input_params": {"prompt": "x"}}, "endpoint"),
    Case("execute_custom_model", {"endpoint": FLUX, "input_params": {"prompt": huge_string()}}, "prompt"),
    Case("generation_status", {"generation_id": "gen_nope"}, "gen_nope"),
    Case("reproduce_generation", {"generation_id": "gen_nope"}, "gen_nope"),
    Case("cost_report", {"days": -3}, "days"),
    # prompt library and quality matrix
    Case("prompt_library", {"action": "get", "name": "no-such-template"}, "no-such-template"),
    Case("prompt_library", {"action": "render", "name": "professional-headshot"}, "trigger"),
    Case(
        "prompt_library",
        {"action": "render", "name": "professional-headshot", "trigger_word": "SIDAI", "values": {"planet": "mars"}},
        "planet",
    ),
    Case("prompt_library", {"action": "save", "name": "mine", "template": "a photo of someone"}, "trigger"),
    Case("prompt_library", {"action": "delete", "name": "professional-headshot"}, "built-in"),
    Case("prompt_library", {"action": "import", "yaml_text": "headshot: [unclosed"}, "YAML"),
    Case("prompt_library", {"action": "import", "yaml_text": "- just\n- a list\n"}, "mapping"),
    Case("prompt_library", {"action": "export", "path": "/etc/fal-video-library.yaml"}, "path"),
    Case(
        "quality_matrix",
        {"action": "record", "model": "sid-custom-model@v1", "scores": [{"scenario": "headshot", "quality": 11}]},
        "quality",
    ),
    Case("quality_matrix", {"action": "compare", "model": "ghost"}, "ghost"),
]


@pytest.fixture
async def seeded(settings: Settings) -> Settings:
    """Two models (one with two versions) registered the way training registers them."""
    settings.ensure_dirs()
    store = Store(settings.db_path)
    for name, versions in (("sid-custom-model", 2), ("other-model", 1)):
        for number in range(versions):
            registry.register_version(
                store,
                name,
                trigger_word="SIDAI",
                base_endpoint=FLUX,
                source="external",
                lora_url=f"https://v3.fal.media/files/{name}/v{number + 1}.safetensors",
            )
    store.close()
    return settings


@pytest.mark.parametrize("case", CASES, ids=case_id)
async def test_bad_tool_input(case: Case, seeded: Settings, client: Client, tmp_path: Path) -> None:
    await check_case(client, case, seeded, tmp_path / "scratch")


def test_the_table_covers_every_tool_but_the_read_only_listings() -> None:
    covered = {case.tool for case in CASES}
    assert covered >= {
        "prepare_dataset",
        "start_training",
        "training_status",
        "cancel_training",
        "list_models",
        "manage_model",
        "delete_model_version",
        "execute_custom_model",
        "generation_status",
        "reproduce_generation",
        "cost_report",
        "prompt_library",
        "quality_matrix",
    }
    assert len(CASES) >= 30
