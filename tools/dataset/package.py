"""The training archive: a flat, byte-for-byte reproducible zip of NNN.jpg/.png + NNN.txt (fal's trainer layout)."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # constant timestamps: identical content → identical zip → one upload


def write_zip(dest: Path, members: Sequence[Path]) -> str:
    """Write `members` (flat, in the given order) to `dest` atomically; returns the zip's sha256."""
    tmp = dest.with_name(dest.name + ".part")
    with zipfile.ZipFile(tmp, "w") as archive:
        for path in members:
            info = zipfile.ZipInfo(path.name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            # Images are already compressed; captions are text.
            info.compress_type = zipfile.ZIP_DEFLATED if path.suffix == ".txt" else zipfile.ZIP_STORED
            archive.writestr(info, path.read_bytes())
    tmp.replace(dest)
    return sha256_file(dest)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
