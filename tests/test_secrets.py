"""FAL_KEY never leaves the process: not in tool results, error texts, log lines (any logger, DEBUG), SQLite or files.

`assert_secret_absent` is the reusable checker: give it everything an outsider could read after some calls.
Tool-level tests add their calls to `test_foundation_tools_never_echo_the_key` (or call the checker directly):

    from tests.test_secrets import assert_secret_absent
    assert_secret_absent(TEST_KEY, texts=[result, ...], logs=caplog, db_path=settings.db_path, data_dir=settings.home)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from server.app import create_server
from server.config import Settings
from server.fal_gateway import FalError, FalGateway
from tests.conftest import TEST_KEY
from tests.fake_fal import FakeFal

pytestmark = pytest.mark.anyio


def secret_fragments(secret: str) -> list[str]:
    """The key and each half of an `id:secret` key (either half alone is still a credential)."""
    return sorted({part for part in (secret, *secret.split(":")) if len(part) >= 6}, key=len, reverse=True)


def _texts_of(item: Any) -> Iterable[str]:
    """Every readable string in a tool result (content blocks + structured content), an exception or a str."""
    if isinstance(item, str):
        yield item
    elif isinstance(item, BaseException):
        yield f"{type(item).__name__}: {item}"
        yield from (str(value) for value in vars(item).values())
    elif hasattr(item, "content") and hasattr(item, "structured_content"):  # CallToolResult
        for block in item.content:
            yield getattr(block, "text", "") or ""
        if item.structured_content is not None:
            yield json.dumps(item.structured_content)
    else:
        yield repr(item)


def assert_secret_absent(
    secret: str,
    *,
    texts: Iterable[Any] = (),
    logs: pytest.LogCaptureFixture | Iterable[logging.LogRecord] | None = None,
    db_path: Path | None = None,
    data_dir: Path | None = None,
) -> None:
    """Fail if any fragment of `secret` is in the texts/results, the log records (message, args and traceback),
    the SQLite database (main file, WAL and SHM bytes) or any file under `data_dir`."""
    fragments = secret_fragments(secret)
    assert fragments, "secret too short to check"

    def check(where: str, haystack: str | bytes) -> None:
        for fragment in fragments:
            needle: str | bytes = fragment.encode() if isinstance(haystack, bytes) else fragment
            assert needle not in haystack, f"secret fragment {fragment[:3]}… found in {where}"

    for index, item in enumerate(texts):
        for text in _texts_of(item):
            check(f"text #{index}", text)
    records = logs.records if isinstance(logs, pytest.LogCaptureFixture) else list(logs or ())
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        check(f"log line from {record.name}", formatter.format(record))
    files: list[Path] = []
    if db_path is not None:
        files += [p for p in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")) if p.exists()]
    if data_dir is not None and data_dir.exists():
        files += [p for p in data_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    for path in files:
        check(str(path), path.read_bytes())


def test_checker_catches_a_leak_anywhere(tmp_path: Path) -> None:
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "file.json").write_text(json.dumps({"k": TEST_KEY.split(":")[1]}))
    with pytest.raises(AssertionError, match="found in"):
        assert_secret_absent(TEST_KEY, data_dir=tmp_path)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "auth %s", (f"Key {TEST_KEY}",), None)
    with pytest.raises(AssertionError, match="log line"):
        assert_secret_absent(TEST_KEY, logs=[record])
    with pytest.raises(AssertionError, match="text"):
        assert_secret_absent(TEST_KEY, texts=[FalError(f"echo {TEST_KEY}")])
    assert_secret_absent(TEST_KEY, texts=["clean"], data_dir=tmp_path / "missing")


async def test_gateway_error_paths_never_echo_the_key(
    settings: Settings, fake_fal: FakeFal, caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch
) -> None:
    """Every failure kind, with fal echoing the key back in its error bodies, all loggers at DEBUG."""
    import fal_client.client as fc

    monkeypatch.setattr(fc, "MAX_ATTEMPTS", 3)
    caplog.set_level(logging.DEBUG)  # root: fal_client, httpx, httpcore, mcp, ours
    gateway = FalGateway(settings)
    errors: list[Any] = []
    echo = f"invalid credentials: Key {TEST_KEY}"
    faults = [
        ("status", 401, False),
        ("status", 422, False),
        ("status", 429, False),
        ("status", 500, False),
        ("status", 502, True),
        ("drop_after", 0, False),
    ]
    for kind, code, ingress in faults:
        fake_fal.inject(r"^/queue/fal-ai/flux-lora$", kind, status=code, body=echo, times=3, ingress=ingress)
        try:
            await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
        except FalError as exc:
            errors.append(exc)
        fake_fal.faults.clear()
    fake_fal.script("fal-ai/flux-lora", queue_polls=0, run_polls=0, fail_with=echo)
    request_id = await gateway.submit("fal-ai/flux-lora", {"prompt": "x"})
    status = await gateway.status("fal-ai/flux-lora", request_id)
    errors.append(status.error or "")
    with pytest.raises(FalError) as failed:
        await gateway.result("fal-ai/flux-lora", request_id)
    errors.append(failed.value)
    fake_fal.inject(r"^/cdn/files/upload$", "status", status=403, body=echo)
    fake_fal.inject(r"^/rest/storage/upload/initiate$", "status", status=403, body=echo)
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"PK")
    with pytest.raises(FalError) as upload:
        await gateway.upload_file(archive)
    errors.append(upload.value)
    await gateway.aclose()
    assert len(errors) == len(faults) + 3 and all(errors)
    assert any(record.name.startswith("httpx") for record in caplog.records)  # DEBUG logging really was on
    assert_secret_absent(TEST_KEY, texts=errors, logs=caplog)


async def test_foundation_tools_never_echo_the_key(
    settings: Settings, fake_fal: FakeFal, caplog: pytest.LogCaptureFixture
) -> None:
    """Every tool, called as an agent would (valid and invalid arguments); extend `CALLS` as tools land."""
    caplog.set_level(logging.DEBUG)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("prepare_dataset", {"folder": str(settings.home / "nowhere"), "trigger_word": "SIDAI"}),
        ("prepare_dataset", {"folder": 7}),
        ("start_training", {"dataset": "ds_missing", "model_name": "sid"}),
        ("training_status", {}),
        ("training_status", {"training_id": "trn_missing"}),
        ("execute_custom_model", {"endpoint": "fal-ai/flux-lora", "input_params": {"prompt": "x"}}),
        ("prompt_library", {"action": "list"}),
    ]
    results = []
    async with Client(create_server(settings), mode="legacy") as client:
        tools = await client.list_tools()
        results.append(json.dumps([tool.model_dump(mode="json") for tool in tools.tools]))
        for tool, arguments in calls:
            results.append(await client.call_tool(tool, arguments))
    assert_secret_absent(TEST_KEY, texts=results, logs=caplog, db_path=settings.db_path, data_dir=settings.home)


def test_settings_never_show_the_key() -> None:
    settings = Settings(fal_key=TEST_KEY, home=Path("/tmp/x"))
    dumped = [repr(settings), str(settings), settings.model_dump_json(), json.dumps(settings.model_dump(mode="json"))]
    assert_secret_absent(TEST_KEY, texts=dumped)


async def test_stdio_server_at_debug_level_never_writes_the_key(tmp_path: Path, fake_fal: FakeFal) -> None:
    """The real process, logging at DEBUG to stderr, with fal echoing the key in an error body."""
    import os
    import sys

    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    root = Path(__file__).resolve().parents[1]
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAL")}
    env.update({"FAL_KEY": TEST_KEY, "FAL_VIDEO_MCP_HOME": str(home), "FAL_VIDEO_MCP_FAL_BASE_URL": fake_fal.base})
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "server", "--log-level", "DEBUG"], env=env, cwd=str(root)
    )
    fake_fal.inject(r"^/", "status", status=401, body=f"invalid key {TEST_KEY}", times=100)
    stderr_path = tmp_path / "stderr.log"
    results: list[Any] = []
    with stderr_path.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            results.append(json.dumps([tool.model_dump(mode="json") for tool in (await client.list_tools()).tools]))
            results.append(await client.call_tool("training_status", {}))
            results.append(await client.call_tool("prepare_dataset", {"folder": str(tmp_path), "trigger_word": "X"}))
    log = stderr_path.read_text()
    assert "DEBUG" in log  # the server really logged at DEBUG
    assert_secret_absent(TEST_KEY, texts=[*results, log], db_path=home / "fal-video.sqlite3", data_dir=home)
