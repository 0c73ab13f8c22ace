"""Per-image checks: each yields a measured value, a verdict (ok / warn / reject) and a human reason.

Thresholds come from docs/dataset-analysis.md (measured with 0 false alarms on real originals). Per-face
estimates (angle, expression, distance, lighting, background) are estimates and are labelled so in reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tools.dataset.expression import expression
from tools.dataset.faces import Face, angle_of, covering_ratio, eyes_hidden

VERDICT_RANK = {"ok": 0, "warn": 1, "reject": 2}

# Face height as a share of the output side: below 1/8 warn, below 1/16 reject (64 / 128 px at 1024).
FACE_MIN_SHARE_REJECT = 1 / 16
FACE_MIN_SHARE_WARN = 1 / 8
GROUP_FACE_RATIO = 0.3


@dataclass
class Check:
    name: str
    value: float | str | None
    verdict: str  # ok | warn | reject
    reason: str


@dataclass
class Estimates:
    angle: str | None = None  # front | three-quarter | profile
    expression: str | None = None  # neutral | smiling | other
    distance: str | None = None  # close-up | medium | full body
    lighting: str | None = None  # soft/even | side-lit | backlit | dim | harsh
    background: str | None = None  # clean | indoor | outdoor


@dataclass
class FacePlanes:
    """CIELAB lightness and YCrCb of the region around the subject's face, and the face in the region's coordinates.

    Only the face region is converted: the eye, cheek and mouth patches and the face's own lightness are all inside
    it, and converting the whole 1024 px copy to CIELAB cost more than every check that reads it.
    """

    lab_l: Any
    ycrcb: Any
    face: Face

    @property
    def face_box(self) -> tuple[slice, slice]:
        x, y, w, h = (round(v) for v in self.face.box)
        return slice(max(0, y), max(0, y + h)), slice(max(0, x), max(0, x + w))


def face_planes(rgb: Any, face: Face | None) -> FacePlanes | None:
    import cv2

    if face is None:
        return None
    H, W = rgb.shape[:2]
    x, y, w, h = face.box
    x0, y0 = max(0, int(x - 0.25 * w)), max(0, int(y - 0.25 * h))
    x1, y1 = min(W, int(x + 1.25 * w) + 1), min(H, int(y + 1.25 * h) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    region = rgb[y0:y1, x0:x1]
    lab_l = cv2.cvtColor(region, cv2.COLOR_RGB2LAB)[..., 0]
    return FacePlanes(lab_l, cv2.cvtColor(region, cv2.COLOR_RGB2YCrCb), face.shifted(-x0, -y0))


@dataclass
class FaceFindings:
    checks: list[Check] = field(default_factory=list)
    subject: Face | None = None  # in analysis-image coordinates
    others: list[Face] = field(default_factory=list)  # other clear faces (group photo)


def worst(verdicts: list[str]) -> str:
    return max(verdicts, key=lambda v: VERDICT_RANK[v], default="ok")


def histogram(values: Any) -> Any:
    """Counts of each uint8 value (int64[256]); OpenCV's calcHist is ~3x faster than np.bincount here."""
    import cv2
    import numpy as np

    if values.size == 0:
        return np.zeros(256, dtype=np.int64)
    return cv2.calcHist([np.ascontiguousarray(values)], [0], None, [256], [0, 256]).ravel().astype(np.int64)


def check_resolution(size: tuple[int, int], target: int) -> Check:
    short = min(size)
    value = float(short)
    if short >= target:
        return Check("resolution", value, "ok", f"{size[0]}x{size[1]}")
    if short >= target / 2:
        return Check(
            "resolution",
            value,
            "warn",
            f"{size[0]}x{size[1]}: short side {short} px is below the recommended {target} px (will be upscaled)",
        )
    return Check(
        "resolution",
        value,
        "reject",
        f"{size[0]}x{size[1]}: short side {short} px is far below the recommended {target} px",
    )


def check_faces(faces: list[Face], scale_to_original: float, target: int) -> FaceFindings:
    """Exactly one clear face: zero → reject; several → warn (crop to the subject); too small → warn/reject."""
    found = FaceFindings()
    if not faces:
        found.checks.append(Check("faces", 0, "reject", "no face found"))
        return found
    subject = faces[0]
    found.subject = subject
    found.others = [f for f in faces[1:] if f.box[3] >= GROUP_FACE_RATIO * subject.box[3]]
    if found.others:
        found.checks.append(
            Check(
                "faces",
                1 + len(found.others),
                "warn",
                f"{1 + len(found.others)} faces: the crop keeps only the largest one; check it is the right person",
            )
        )
    else:
        found.checks.append(Check("faces", 1, "ok", "one clear face"))
    face_px = subject.box[3] * scale_to_original
    if face_px < FACE_MIN_SHARE_REJECT * target:
        found.checks.append(Check("face_size", round(face_px), "reject", f"face only {face_px:.0f} px tall"))
    elif face_px < FACE_MIN_SHARE_WARN * target:
        found.checks.append(Check("face_size", round(face_px), "warn", f"face small ({face_px:.0f} px tall)"))
    else:
        found.checks.append(Check("face_size", round(face_px), "ok", f"face {face_px:.0f} px tall"))
    return found


def _face_grey(grey: Any, face: Face, side: int = 128) -> Any | None:
    import cv2

    x, y, w, h = (round(v) for v in face.box)
    H, W = grey.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    # Never upscale: interpolation smooths a small face and would read as blur.
    side = min(side, x1 - x0, y1 - y0)
    return cv2.resize(grey[y0:y1, x0:x1], (side, side), interpolation=cv2.INTER_AREA)


def check_sharpness(grey: Any, face: Face | None) -> Check:
    import cv2
    import numpy as np

    crop = _face_grey(grey, face) if face else None
    if crop is not None:
        pixel_var = float(np.var(crop))
        value = float(cv2.Laplacian(crop, cv2.CV_64F).var()) / pixel_var if pixel_var > 1 else 0.0
        value = round(value, 3)
        if value < 0.05:
            return Check("sharpness", value, "reject", f"face is blurry (sharpness {value:.3f} < 0.05)")
        if value < 0.10:
            return Check("sharpness", value, "warn", f"face is soft (sharpness {value:.3f} < 0.10)")
        return Check("sharpness", value, "ok", f"face sharp ({value:.3f})")
    value = round(float(cv2.Laplacian(grey, cv2.CV_64F).var()), 1)
    if value < 15:
        return Check("sharpness", value, "reject", f"image is blurry (Laplacian variance {value} < 15)")
    if value < 50:
        return Check("sharpness", value, "warn", f"image is soft (Laplacian variance {value} < 50)")
    return Check("sharpness", value, "ok", f"sharp (Laplacian variance {value})")


def check_exposure(grey: Any, planes: FacePlanes | None) -> tuple[Check, bool]:
    """Returns the check and whether the contrast is harsh (used by the lighting estimate)."""
    import numpy as np

    # Every statistic from one histogram: a single pass over the pixels instead of four.
    hist = histogram(grey)
    mean = float(hist @ np.arange(256)) / grey.size
    p99 = float(np.searchsorted(np.cumsum(hist), 0.99 * grey.size))
    blown = float(hist[250:].sum()) / grey.size
    crushed = float(hist[:6].sum()) / grey.size
    harsh = crushed > 0.20 and blown > 0.05
    value = round(mean, 1)
    if mean < 50 or p99 < 110:
        return Check("exposure", value, "reject", f"too dark (mean {mean:.0f}, 99th percentile {p99:.0f})"), harsh
    if blown > 0.08:
        return Check("exposure", value, "reject", f"blown out ({blown:.0%} of pixels clipped white)"), harsh
    if harsh:
        return Check("exposure", value, "warn", "harsh contrast (deep shadows and clipped highlights)"), harsh
    if blown > 0.05:
        return Check("exposure", value, "warn", f"bright: {blown:.0%} of pixels clipped white"), harsh
    if planes is not None:
        region = planes.lab_l[planes.face_box]
        if region.size:
            face_l = float(region.mean())
            if face_l < 60:
                return Check("exposure", value, "warn", f"face underexposed (face lightness {face_l:.0f} < 60)"), harsh
            if face_l > 200:
                return Check("exposure", value, "warn", f"face overexposed (face lightness {face_l:.0f} > 200)"), harsh
    return Check("exposure", value, "ok", f"well exposed (mean {mean:.0f})"), harsh


def check_filters(rgb512: Any, lab512: Any) -> Check:
    """Greyscale, sepia/tint, faded or oversaturated edits (warnings: they teach the model the filter).

    Colour statistics need no detail: every other pixel of the ~512 px copy (and its CIELAB) is plenty.
    """
    import cv2
    import numpy as np

    lab = lab512[::2, ::2].astype(np.float32)
    a, b = lab[..., 1] - 128.0, lab[..., 2] - 128.0
    chroma = np.sqrt(a * a + b * b)
    p95 = float(np.percentile(chroma, 95))
    if p95 < 2:
        return Check("filter", round(p95, 1), "warn", "black-and-white photo (colour photos train better)")
    total = float(chroma.sum())
    concentration = float(np.hypot(a.sum(), b.sum()) / total) if total > 0 else 0.0
    if concentration >= 0.95 and p95 > 3:
        return Check("filter", round(concentration, 3), "warn", "one-colour tint (sepia or colour filter)")
    sample = np.ascontiguousarray(rgb512[::2, ::2])
    rgb = sample.astype(np.float32)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colourfulness = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    saturation = float(cv2.cvtColor(sample, cv2.COLOR_RGB2HSV)[..., 1].mean() / 255.0)
    if colourfulness > 100 or saturation > 0.6:
        return Check(
            "filter",
            round(colourfulness, 1),
            "warn",
            f"heavily saturated (colourfulness {colourfulness:.0f}, mean saturation {saturation:.2f}): looks filtered",
        )
    if p95 < 20:
        return Check("filter", round(p95, 1), "warn", f"washed-out colours (chroma p95 {p95:.0f} < 20): faded filter?")
    return Check("filter", round(colourfulness, 1), "ok", "natural colours")


def check_eyes_and_covering(planes: FacePlanes | None) -> list[Check]:
    if planes is None or planes.face.landmarks is None:
        return []
    eyes = _ratio_check(
        "eyes", eyes_hidden(planes.lab_l, planes.face), 0.35, "eyes not visible (sunglasses?)", "eyes visible"
    )
    # Skin share is a weak cue on real photos (orange light, a shaded chin, stubble read as 0.4-0.6 on 5 of 169
    # uncovered faces in bench/eye_checks.py): only a lower face with almost no skin is rejected.
    cover = _ratio_check(
        "covering",
        covering_ratio(planes.ycrcb, planes.face),
        0.35,
        "lower face covered (mask, scarf or hand?)",
        "mouth and chin visible",
        warn_below=0.65,
    )
    return [check for check in (eyes, cover) if check is not None]


def _ratio_check(
    name: str, ratio: float | None, reject_below: float, bad: str, good: str, warn_below: float | None = None
) -> Check | None:
    """A landmark ratio rounded to 2 places: reject below the limit (warn below `warn_below`); None when it could
    not be measured."""
    if ratio is None:
        return None
    value = round(ratio, 2)
    if value < reject_below:
        return Check(name, value, "reject", bad)
    if warn_below is not None and value < warn_below:
        return Check(name, value, "warn", f"{bad.split(' (')[0]} in part, or in shadow? (skin ratio {value})")
    return Check(name, value, "ok", good)


def estimate(grey: Any, rgb512: Any, l512: Any, planes: FacePlanes | None, face: Face | None, harsh: bool) -> Estimates:
    """Angle, expression, distance, lighting and background of the subject (all estimates).

    `grey` is the analysis copy; `rgb512` and `l512` (its CIELAB lightness) the ~512 px copy, which is plenty for
    the background's median lightness and colour shares.
    """
    import cv2
    import numpy as np

    est = Estimates()
    if face is None or planes is None:
        return est
    H, W = grey.shape
    est.angle = angle_of(face)[0]
    est.expression = expression(grey, face)
    ratio = face.box[3] / H
    est.distance = "close-up" if ratio >= 0.45 else "medium" if ratio >= 0.20 else "full body"
    face_l = planes.lab_l[planes.face_box]
    face_mean = float(face_l.mean()) if face_l.size else 0.0
    mid = face_l.shape[1] // 2
    left, right = face_l[:, :mid], face_l[:, mid:]
    # The person: the face widened to the shoulders, down to the bottom edge. Background statistics are the whole
    # image's minus the person rectangle's (no mask of the whole image).
    x, y, w, h = (round(v) for v in face.box)
    py0, px0 = max(0, y - h // 2), max(0, x - w)
    px1 = max(px0, min(W, x + 2 * w))
    background_px = H * W - max(0, H - py0) * max(0, px1 - px0)
    scale = l512.shape[1] / W
    person512 = (slice(round(py0 * scale), None), slice(round(px0 * scale), round(px1 * scale)))
    bg_hist = histogram(l512) - histogram(l512[person512])
    bg_count = int(bg_hist.sum())
    bg_median = float(np.searchsorted(np.cumsum(bg_hist), bg_count / 2)) if bg_count else 0.0
    if harsh:
        est.lighting = "harsh"
    elif face_mean < 70:
        est.lighting = "dim"
    elif bg_count and bg_median > 1.5 * max(face_mean, 1):
        est.lighting = "backlit"
    elif left.size and right.size and max(left.mean(), right.mean()) / max(min(left.mean(), right.mean()), 1) > 1.45:
        est.lighting = "side-lit"
    else:
        est.lighting = "soft/even"
    if background_px < 0.05 * H * W:
        est.background = "clean"
        return est
    # Edge density outside the person rectangle, by counting (no boolean-mask copy of the whole image).
    edges = cv2.Canny(grey, 100, 200)
    density = (cv2.countNonZero(edges) - cv2.countNonZero(edges[py0:, px0:px1])) / background_px
    if density < 0.04:
        est.background = "clean"
    elif bg_count:
        hsv = cv2.cvtColor(rgb512, cv2.COLOR_RGB2HSV)
        hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
        sky = (hue >= 90) & (hue <= 130) & (sat > 40) & (val > 120)
        foliage = (hue >= 35) & (hue <= 85) & (sat > 50) & (val > 40)
        nature = (sky | foliage).view(np.uint8)
        share = (cv2.countNonZero(nature) - cv2.countNonZero(nature[person512])) / bg_count
        est.background = "outdoor" if share >= 0.15 else "indoor"
    else:
        est.background = "indoor"
    return est
