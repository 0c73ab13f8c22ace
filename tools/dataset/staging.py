"""Staging folders for prepare_dataset runs, each held by a file lock for as long as its run lives.

A run builds its dataset in `datasets/<slug>/.staging-<id>/` and renames it into place when done. A process killed
mid-run (kill -9, a crash, a power cut) leaves its staging folder behind; the operating system drops the process's
lock with it. `remove_stale` deletes exactly the folders whose lock nobody holds, so a run of another server process
on the same data dir keeps its folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType

PREFIX = ".staging-"
LOCK_SUFFIX = ".lock"
# A staging folder without a lock file was left by a version that did not lock; it is only taken for stale when
# no run could still be using it.
UNLOCKED_GRACE_SECONDS = 3600.0

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


class Staging:
    """`with Staging(base) as folder:` a fresh staging folder under `base`, locked, removed on exit (unless the run
    renamed it into place)."""

    def __init__(self, base: Path) -> None:
        name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
        self.path = base / name
        self._lock_path = base / f"{name}{LOCK_SUFFIX}"
        self._fd: int | None = None

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The lock exists and is held before the folder does: a cleaner never sees the folder unlocked.
        self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        if not _try_lock(self._fd):  # a fresh file nobody else knows: cannot happen short of a broken filesystem
            raise OSError(f"could not lock {self._lock_path}")
        self.path.mkdir()
        return self.path

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._lock_path.unlink(missing_ok=True)


def remove_stale(datasets_dir: Path) -> list[Path]:
    """Delete the staging folders (and lock files) no live run holds; returns the folders deleted."""
    removed = []
    for base in _folders(datasets_dir):
        for entry in sorted(base.glob(f"{PREFIX}*")):
            if not entry.name.endswith(LOCK_SUFFIX):
                if _take_if_free(entry, entry.with_name(entry.name + LOCK_SUFFIX)):
                    removed.append(entry)
            elif not entry.with_name(entry.name.removesuffix(LOCK_SUFFIX)).exists():
                _take_if_free(entry.with_name(entry.name.removesuffix(LOCK_SUFFIX)), entry)  # killed before mkdir
    return removed


def _take_if_free(folder: Path, lock: Path) -> bool:
    if not lock.exists():
        try:
            age = time.time() - folder.lstat().st_mtime
        except OSError:
            return False
        if age < UNLOCKED_GRACE_SECONDS:
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:  # its run finished and removed it meanwhile
        return False
    try:
        if not _try_lock(fd):
            return False  # a live run, in this process or another
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
        else:
            folder.unlink(missing_ok=True)
    finally:
        os.close(fd)
    lock.unlink(missing_ok=True)
    return True


def _folders(folder: Path) -> list[Path]:
    try:
        return [entry for entry in folder.iterdir() if entry.is_dir() and not entry.is_symlink()]
    except OSError:
        return []
