"""Optional same-person check: a training set must show one person, or the LoRA learns a blend of faces.

Uses dlib's face descriptor from the optional `likeness` extra (tools/quality/likeness.py). Each photo's face is
compared with the set's consensus face: the photo whose median distance to all others is smallest. Measured on real
photos (shared/docs/dataset-analysis.md and our tests): the same person 0.06-0.44 apart, different people >= 0.62.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from tools.dataset.checks import Check

DIFFERENT_PERSON = 0.6
DESCRIPTOR_SIDE = 512  # enough for dlib's 150 px face chip on close-ups and medium shots; ~0.3 s per photo
METHOD = (
    f"Same-person check: dlib face descriptor of each photo against the set's consensus face; distance >= "
    f"{DIFFERENT_PERSON} rejects (same person measured 0.06-0.44, different people >= 0.62)."
)


def check_same_person(photos: Sequence[tuple[str, Path]]) -> tuple[dict[str, Check], str]:
    """(rel → Check for every photo with a measurable face, a method note). Needs the likeness extra."""
    from tools.quality import likeness

    likeness.require()
    vectors = {}
    for rel, path in photos:
        found = _descriptor(likeness, path)
        if found is not None:
            vectors[rel] = found
    if len(vectors) < 3:
        return {}, f"{METHOD} Skipped: dlib found a face in only {len(vectors)} photo(s); at least 3 are needed."
    distance = {(a, b): float(_norm(vectors[a] - vectors[b])) for a in vectors for b in vectors if a != b}
    consensus = min(vectors, key=lambda a: statistics.median(distance[a, b] for b in vectors if b != a))
    checks = {}
    for rel in vectors:
        gap = 0.0 if rel == consensus else distance[rel, consensus]
        if gap >= DIFFERENT_PERSON:
            reason = (
                f"may show a different person (face descriptor distance {gap:.2f} from the rest of the set; "
                f"the same person measures under {DIFFERENT_PERSON}): a second face makes the LoRA learn a blend"
            )
            checks[rel] = Check("same_person", round(gap, 3), "reject", reason)
        else:
            checks[rel] = Check("same_person", round(gap, 3), "ok", "")
    return checks, f"{METHOD} Checked {len(vectors)} of {len(photos)} photos."


def _descriptor(likeness: ModuleType, path: Path) -> object | None:
    try:
        faces = likeness.descriptors(path, max_side=DESCRIPTOR_SIDE)
    except OSError:  # unreadable files were already rejected by the other checks
        return None
    return faces[0] if faces else None


def _norm(vector: object) -> float:
    import numpy as np

    return float(np.linalg.norm(vector))
