"""Walk a user's photo folder read-only: which files are candidates, which category (subfolder) each is in."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from server.errors import UserError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif"})
MAX_FILES = 500


@dataclass(frozen=True)
class Candidate:
    path: Path  # as found under the root (never resolved: we report what the user sees)
    rel: str  # POSIX path relative to the root
    category: str | None  # first-level subfolder name, e.g. "professional"
    size: int
    mtime_ns: int
    refused: str | None = None  # reason this file is not read at all (e.g. a symlink leaving the folder)


@dataclass
class Scan:
    root: Path
    candidates: list[Candidate]
    ignored: list[str] = field(default_factory=list)  # non-image files, relative paths

    def fingerprint(self) -> str:
        """Changes whenever a candidate is added, removed, renamed or rewritten (size or mtime)."""
        digest = hashlib.sha256()
        for item in sorted(self.candidates, key=lambda c: c.rel):
            digest.update(f"{item.rel}\0{item.size}\0{item.mtime_ns}\0{item.refused}\n".encode())
        return digest.hexdigest()


def scan_folder(folder: str | Path, *, max_files: int = MAX_FILES) -> Scan:
    """List candidate photos under `folder`; raise UserError with the next step when the folder is unusable."""
    root = Path(folder).expanduser()
    if not str(folder).strip():
        raise UserError("No folder given. Pass the absolute path of a local folder of photos of one person.")
    if not root.exists():
        raise UserError(
            f"The folder {root} does not exist. Pass the absolute path of a local folder of photos (chat attachments "
            "cannot be read by tools: save them to a folder first)."
        )
    if not root.is_dir():
        raise UserError(f"{root} is a file, not a folder. Pass the folder that contains the photos.")
    root = root.resolve()
    if not os.access(root, os.R_OK | os.X_OK):
        raise UserError(f"The folder {root} cannot be read (permission denied). Fix its permissions and try again.")
    candidates: list[Candidate] = []
    ignored: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=None):
        # Hidden folders are skipped; symlinked folders are not followed (os.walk lists them, never enters them).
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                ignored.append(rel)
                continue
            parts = rel.split("/")
            category = parts[0] if len(parts) > 1 else None
            refused = None
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    refused = "symlink pointing outside the folder (not followed)"
            try:
                stat = path.stat()
            except OSError as exc:
                candidates.append(Candidate(path, rel, category, 0, 0, refused or f"cannot be read ({exc.strerror})"))
                continue
            candidates.append(Candidate(path, rel, category, stat.st_size, stat.st_mtime_ns, refused))
            if len(candidates) > max_files:
                raise UserError(
                    f"{root} holds more than {max_files} photos. A LoRA needs 20-50 good ones: copy a selection into "
                    "a new folder and pass that folder."
                )
    if not candidates:
        if ignored:
            raise UserError(
                f"{root} has no supported photos (JPEG, PNG, WEBP, HEIC/HEIF, AVIF); "
                f"found only e.g. {', '.join(ignored[:5])}."
            )
        raise UserError(f"{root} is empty. Put 20-30 photos of the person into it (subfolders are fine) and try again.")
    return Scan(root, candidates, ignored)
