"""Optional likeness scoring: dlib's 128-d face descriptor, generated image vs. the model's training photos.

Enabled by the `likeness` extra (`dlib-bin` wheel + the `face_recognition_models` weights, ~100 MB). Distances
between descriptors of the same person are ~0.06-0.44 and of different people >= 0.62 (dlib's threshold is
0.6); the score maps the median distance to the reference photos onto 1-10 so the matrix's likeness column
can be filled without a human. Without the extra every entry point raises a UserError that says how to enable it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from statistics import median
from typing import Any

from pydantic import BaseModel, Field

from server.errors import UserError
from server.images import open_image

METHOD = "dlib-face-descriptor"
ENABLE_HINT = (
    "Automatic likeness scoring needs the optional 'likeness' extra (dlib + its ~100 MB face models). Install it "
    "into the server's environment with: pip install 'fal-video-mcp[likeness]' (or: uv pip install "
    "'fal-video-mcp[likeness]'), then restart the server. Until then, score likeness 1-10 by eye with "
    "quality_matrix action=record."
)
# Score 10 at or below SAME (clearly the same person), 1 at or above OTHER (clearly someone else).
SAME_DISTANCE = 0.30
OTHER_DISTANCE = 0.80
MAX_SIDE = 1024  # descriptors are computed on a 150 px chip; larger inputs only cost detection time
_lock = threading.Lock()  # dlib models are not documented as thread-safe


class LikenessResult(BaseModel):
    path: str
    faces: int = Field(description="Faces found in the image (the largest one is scored).")
    distance: float | None = Field(description="Median descriptor distance to the reference photos.")
    score: float | None = Field(description="1-10, None when no face was found.")


def available() -> bool:
    try:
        _models()
    except UserError:
        return False
    return True


def require() -> None:
    _models()


def distance_to_score(distance: float) -> float:
    """Linear between SAME (10) and OTHER (1): 0.44 (loosest same-person pair seen) → 7.5, 0.6 → 4.6."""
    fraction = (distance - SAME_DISTANCE) / (OTHER_DISTANCE - SAME_DISTANCE)
    return round(min(10.0, max(1.0, 10.0 - 9.0 * fraction)), 1)


@lru_cache(maxsize=1)
def _models() -> tuple[Any, Any, Any]:
    try:
        import dlib
        import face_recognition_models
    except ImportError as exc:
        raise UserError(ENABLE_HINT) from exc
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    encoder = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    return detector, predictor, encoder


def descriptors(path: Path, max_side: int = MAX_SIDE) -> list[Any]:
    """One 128-d numpy vector per face, largest face first. Blocking: call from a worker thread."""
    import numpy as np
    from PIL import ImageOps

    detector, predictor, encoder = _models()
    with open_image(path) as img:
        img.draft("RGB", (max_side, max_side))
        rgb = ImageOps.exif_transpose(img).convert("RGB")
        rgb.thumbnail((max_side, max_side))
        pixels = np.asarray(rgb)
    with _lock:
        faces = sorted(detector(pixels, 1), key=lambda r: r.width() * r.height(), reverse=True)
        if not faces and max(pixels.shape[:2]) < 600:  # small faces in small images: one more upsample
            faces = sorted(detector(pixels, 2), key=lambda r: r.width() * r.height(), reverse=True)
        return [np.array(encoder.compute_face_descriptor(pixels, predictor(pixels, face))) for face in faces]


def reference_descriptors(paths: Sequence[Path]) -> list[Any]:
    found = []
    for path in paths:
        faces = descriptors(path)
        if faces:
            found.append(faces[0])
    if not found:
        raise UserError(
            f"No face was found in any of the {len(paths)} reference photo(s); give clear photos of the person "
            "(reference_photos) or score likeness by eye."
        )
    return found


def score_images(references: list[Any], paths: Sequence[Path]) -> list[LikenessResult]:
    """Blocking: each image's largest face against every reference descriptor."""
    import numpy as np

    results = []
    for path in paths:
        faces = descriptors(path)
        if not faces:
            results.append(LikenessResult(path=str(path), faces=0, distance=None, score=None))
            continue
        distance = float(median(float(np.linalg.norm(faces[0] - ref)) for ref in references))
        results.append(
            LikenessResult(
                path=str(path), faces=len(faces), distance=round(distance, 3), score=distance_to_score(distance)
            )
        )
    return results


def combine(results: Sequence[LikenessResult]) -> LikenessResult:
    """One generation with several images: the mean score and median distance of the images with a face."""
    scored = [r for r in results if r.score is not None and r.distance is not None]
    if not scored:
        return LikenessResult(path=results[0].path if results else "", faces=0, distance=None, score=None)
    return LikenessResult(
        path=scored[0].path,
        faces=len(scored),
        distance=round(median(r.distance for r in scored if r.distance is not None), 3),
        score=round(sum(r.score for r in scored if r.score is not None) / len(scored), 1),
    )


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def dataset_photos(directory: Path, limit: int = 12) -> list[Path]:
    """The prepared training images of a dataset: image files with a caption (.txt) beside them, which
    leaves out the dataset's own contact sheet and anything else stored next to the images."""
    if not directory.is_dir():
        return []
    photos = sorted(
        p
        for p in directory.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and p.with_suffix(".txt").is_file()
    )
    return photos[:limit]
