"""Writes refused for lack of room: say what happened, in which folder, and how much space is left there."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from server.errors import DiskFull

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file system refused a file this large",
}


def is_out_of_room(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and not isinstance(exc, DiskFull) and exc.errno in _REASONS


def free_space(folder: Path) -> str:
    """Free space on the disk holding `folder` (its nearest existing parent), e.g. '12.3 MB'."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return "an unknown amount"
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if free >= size:
            return f"{free / size:.1f} {unit}"
    return f"{free} bytes"


def disk_full(exc: OSError, folder: Path, action: str) -> DiskFull:
    """The DiskFull error for `exc` (an out-of-room OSError) raised while trying to `action` in `folder`."""
    reason = _REASONS.get(exc.errno or 0, "the disk refused the write")
    error = DiskFull(
        f"Could not {action}: {reason} ({os.strerror(exc.errno or 0)}) in {folder}, which has {free_space(folder)} "
        "free now. Free some space there (or point FAL_VIDEO_MCP_HOME / FAL_VIDEO_MCP_OUTPUT_DIR at a disk with "
        "room) and try again."
    )
    error.errno = exc.errno
    return error
