"""Table-driven bad-input harness: each case is one line, called through the MCP client like an agent.

A case passes when the call fails with a *clear* error (a ToolError or schema message that contains the expected
text, never the bare `Error executing tool X` of a crash) and leaves storage exactly as it was (row counts of every
SQLite table, and the set of files under the data dir).

    CASES = [
        Case("training_status", {"training_id": 42}, "training_id"),
        Case("prepare_dataset", lambda d: {"folder": str(folder_with(d, truncated=1)), "trigger_word": "SID"},
             "truncated"),
    ]

    @pytest.mark.parametrize("case", CASES, ids=case_id)
    async def test_bad_input(case, client, settings, tmp_path):
        await check_case(client, case, settings, tmp_path)

`args` is a dict, or a function of a scratch directory (outside the data dir) returning the dict, for cases
that need files. The `write_*` / `folder_with` builders below make the usual hostile files.
"""

from __future__ import annotations

import io
import os
import sqlite3
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import Client

from server.config import Settings

Args = dict[str, Any] | Callable[[Path], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    tool: str
    args: Args
    expect: str  # case-insensitive substring the error text must contain
    id: str = ""  # test id; default derived from tool + args
    files_may_change: bool = False  # set for tools that legitimately cache something before refusing


def case_id(case: Case) -> str:
    if case.id:
        return case.id
    shown = "files" if callable(case.args) else ",".join(f"{k}={v!r}"[:30] for k, v in case.args.items()) or "none"
    return f"{case.tool}[{shown}]"


def table_counts(db_path: Path) -> dict[str, int]:
    """Row count of every table (read through a separate connection, like another process would)."""
    if not db_path.exists():
        return {}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in sorted(names)}
    finally:
        conn.close()


def data_files(home: Path) -> set[str]:
    """Files under the data dir, except the database's own files and the cache of fal's public catalogue."""
    if not home.exists():
        return set()
    return {
        str(path.relative_to(home))
        for path in home.rglob("*")
        if path.is_file() and not path.name.startswith(("fal-video.sqlite3", "fal-catalog-cache.sqlite3"))
    }


def error_text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") or "" for block in result.content)


async def check_case(client: Client, case: Case, settings: Settings, scratch: Path) -> str:
    """Run one case; returns the error text. Asserts: error result, clear message, storage unchanged."""
    scratch.mkdir(parents=True, exist_ok=True)
    arguments = case.args(scratch) if callable(case.args) else case.args
    rows_before, files_before = table_counts(settings.db_path), data_files(settings.home)
    result = await client.call_tool(case.tool, arguments)
    text = error_text(result)
    assert result.is_error, f"{case_id(case)} unexpectedly succeeded: {text[:300]}"
    assert text.strip() != f"Error executing tool {case.tool}", f"{case_id(case)} crashed (see server log)"
    assert case.expect.lower() in text.lower(), f"{case_id(case)}: expected {case.expect!r} in: {text[:500]}"
    assert table_counts(settings.db_path) == rows_before, f"{case_id(case)} changed SQLite rows"
    if not case.files_may_change:
        assert data_files(settings.home) == files_before, f"{case_id(case)} left files in the data dir"
    return text


# -- hostile files -----------------------------------------------------------------------------------------


def write_jpeg(path: Path, size: tuple[int, int] = (640, 480), seed: int = 0) -> Path:
    """A real, decodable JPEG (a gradient, different per seed)."""
    from PIL import Image

    width, height = size
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    img.paste((seed * 37 % 256, 90, 160), (0, 0, width // 4, height // 4))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=85)
    return path


def write_truncated_jpeg(path: Path) -> Path:
    """A JPEG cut in half: the header decodes, the pixels do not."""
    data = write_jpeg(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_zero_byte(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write_not_an_image(path: Path) -> Path:
    """Text with an image extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is not a picture\n" * 20)
    return path


def write_decompression_bomb(path: Path, side: int = 30_000) -> Path:
    """A tiny PNG that claims side×side pixels (900 Mpx): Pillow refuses it with DecompressionBombError."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * (side + 1) * 4, 9)  # a few rows; the header is what matters
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def write_symlink_out(link: Path, target: Path) -> Path:
    """A symlink inside the folder pointing at a file outside it (e.g. /etc/passwd or a JPEG elsewhere)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)
    return link


def folder_with(
    root: Path,
    *,
    good: int = 0,
    truncated: int = 0,
    zero_byte: int = 0,
    not_image: int = 0,
    bombs: int = 0,
    symlinks_out: int = 0,
    name: str = "photos",
) -> Path:
    """A folder under `root` with that many files of each kind (names 000.jpg, ... in that order)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    index = 0

    def next_path(ext: str = ".jpg") -> Path:
        nonlocal index
        index += 1
        return folder / f"{index - 1:03d}{ext}"

    for seed in range(good):
        write_jpeg(next_path(), seed=seed)
    for _ in range(truncated):
        write_truncated_jpeg(next_path())
    for _ in range(zero_byte):
        write_zero_byte(next_path())
    for _ in range(not_image):
        write_not_an_image(next_path())
    for _ in range(bombs):
        write_decompression_bomb(next_path(".png"))
    outside = root / "outside"
    for seed in range(symlinks_out):
        write_symlink_out(next_path(), write_jpeg(outside / f"elsewhere_{seed}.jpg", seed=100 + seed))
    return folder


def huge_string(size: int = 200_000) -> str:
    return "A" * size


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, "PNG")
    return out.getvalue()
