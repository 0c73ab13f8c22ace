"""Dataset-level report: count verdict, the mix of angles/expressions/light/backgrounds/distances against the
guide's recommended shares, and concrete advice."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tools.dataset import expression
from tools.dataset.results import DatasetReport, MixRow, MixTable
from tools.dataset.text import method_note as text_method_note

if TYPE_CHECKING:
    from tools.dataset.analyse import ImageResult

# The guide's recommended mix, exactly (percent of the kept photos). None: the guide names these as all to be
# present but gives no shares, so only their presence is reported.
GUIDE_MIX: dict[str, dict[str, float | None]] = {
    "angle": {"front": 40, "three-quarter": 30, "profile": 20, "various": 10},
    "expression": {"neutral": 40, "smiling": 30, "various emotions": 30},
    "lighting": {"soft natural": 40, "studio": 30, "various": 30},
    "background": {"clean/neutral": 50, "indoor": 25, "outdoor": 25},
    "clothing": {"professional": 40, "casual": 40, "variety": 20},
    "distance": {"close-up": None, "medium": None, "full body": None},
}
NOT_ESTIMATED = {("angle", "various")}  # tilted, from above or below: the landmarks give no such class
SHOT_NAMES = {
    "front": "front-facing",
    "three-quarter": "three-quarter view",
    "profile": "profile (side view)",
    "neutral": "neutral-expression",
    "smiling": "smiling",
    "various emotions": "other-expression (laughing, serious, surprised)",
    "soft natural": "soft natural-light",
    "studio": "studio-light (even light, plain background)",
    "various": "varied-light (directional, backlit, evening)",
    "clean/neutral": "plain-background",
    "indoor": "indoor",
    "outdoor": "outdoor",
    "professional": "professional-clothing",
    "casual": "casual-clothing",
    "variety": "other-outfit",
    "close-up": "close-up (head and shoulders)",
    "medium": "medium (waist up)",
    "full body": "full-body",
}
METHODS = {
    "angle": "estimate: nose offset between the eyes from YuNet landmarks (|off| < 0.25 front, < 0.75 three-quarter, "
    "else profile); faces only the profile cascade finds count as profile; 'various' (tilted, from above or below) "
    "is not estimated",
    "distance": "estimate: face height ÷ image height (≥ 0.45 close-up, ≥ 0.20 medium, else full body); the guide "
    "wants all three present and gives no shares",
    "lighting": "estimate (unvalidated heuristic) mapped onto the guide's classes: even light on the face with a plain "
    "background → studio; even light elsewhere → soft natural; side-lit, backlit, dim or harsh → various",
    "background": "estimate (unvalidated heuristic): edge density outside the person < 0.04 clean/neutral; else "
    "outdoor when ≥ 15 % of it is sky-blue or foliage-green, otherwise indoor",
    "clothing": "not estimated from the pixels: counted only from subfolder names (professional/, casual/; any other "
    "subfolder counts as variety); photos outside such subfolders are unknown",
}
TOLERANCE = 10.0  # percentage points below the recommendation before we advise


def _method(dimension: str) -> str:
    return expression.method() if dimension == "expression" else METHODS[dimension]


def guide_class(dimension: str, result: ImageResult) -> str | None:
    """The guide's class of one photo for `dimension`, from our estimates; None when it cannot be told."""
    est = result.estimates
    if dimension == "expression":
        return "various emotions" if est.expression == "other" else est.expression
    if dimension == "lighting":
        if est.lighting is None:
            return None
        if est.lighting == "soft/even":
            return "studio" if est.background == "clean" else "soft natural"
        return "various"
    if dimension == "background":
        return "clean/neutral" if est.background == "clean" else est.background
    if dimension == "clothing":
        if result.category is None:
            return None
        category = result.category.lower()
        return category if category in ("professional", "casual") else "variety"
    value = getattr(est, dimension)
    return str(value) if value else None


def count_verdict(kept: int) -> tuple[str, str]:
    if kept < 10:
        return "too few", f"{kept} usable photos: below the minimum of 10-15 (recommended 20-30, 50+ is best)."
    if kept < 20:
        return "minimum", f"{kept} usable photos: enough to train (minimum 10-15), but 20-30 is recommended."
    if kept < 50:
        return "good", f"{kept} usable photos: within the recommended 20-30+ (50+ is best)."
    return "best", f"{kept} usable photos: 50+ is the best case."


def _needed(have: int, total: int, target_pct: float) -> int:
    """How many photos of a kind to add so their share reaches the target."""
    target = target_pct / 100
    if target >= 1:
        return 0
    return max(0, math.ceil((target * total - have) / (1 - target)))


def build_report(results: Sequence[ImageResult], include_warnings: bool, text_checked: bool = False) -> DatasetReport:
    kept = [r for r in results if r.kept(include_warnings)]
    rejected = [r for r in results if r.verdict == "reject"]
    warned = [r for r in results if r.verdict == "warn"]
    verdict, message = count_verdict(len(kept))
    advice: list[str] = []
    total = len(kept)
    if total < 20:
        advice.append(f"Add {20 - total} more good photos to reach the recommended 20 (30+ is better).")
    mix: list[MixTable] = []
    for dimension, targets in GUIDE_MIX.items():
        values = [guide_class(dimension, r) for r in kept]
        known = [v for v in values if v]
        counts = Counter(known)
        rows = []
        for value, target in targets.items():
            count = counts.get(value, 0)
            pct = round(100 * count / len(known), 1) if known else 0.0
            rows.append(MixRow(value=value, count=count, actual_pct=pct, recommended_pct=target))
            advice += _mix_advice(dimension, value, target, count, pct, len(known))
        mix.append(
            MixTable(dimension=dimension, method=_method(dimension), unknown=len(values) - len(known), rows=rows)
        )
    duplicates = sum(1 for r in results if any(c.name == "duplicate" for c in r.checks))
    if duplicates:
        advice.append(
            f"Remove {duplicates} near-duplicate{'s' if duplicates > 1 else ''} (already left out of the set)."
        )
    reasons = Counter(c.name for r in rejected for c in r.checks if c.verdict == "reject" and c.name != "duplicate")
    labels = {
        "faces": "without a visible face",
        "sharpness": "blurry",
        "exposure": "badly exposed",
        "resolution": "too small",
        "readable": "unreadable",
        "face_size": "with a tiny face",
        "eyes": "with hidden eyes",
        "covering": "with a covered face",
        "crop": "with other faces too close",
        "same_person": "of someone else",
        "text": "with a watermark or caption",
    }
    for name, count in reasons.most_common():
        advice.append(f"Replace {count} photo{'s' if count > 1 else ''} {labels.get(name, name)}.")
    filtered = sum(1 for r in warned if any(c.name == "filter" and c.verdict == "warn" for c in r.checks))
    if filtered:
        advice.append(
            f"{filtered} photo{'s look' if filtered > 1 else ' looks'} filtered or black-and-white; "
            "unedited originals train better."
        )
    notes = [
        "Mix percentages are estimates from the methods given per table, over the kept photos whose class could be "
        "told.",
        "Recommended shares are the guide's: angles 40/30/20/10 front/three-quarter/profile/various, expressions "
        "40/30/30 neutral/smiling/various emotions, lighting 40/30/30 soft natural/studio/various, backgrounds "
        "50/25/25 clean/indoor/outdoor, clothing 40/40/20 professional/casual/variety; close-up, medium and full-body "
        "shots all present (no shares given); 10-15 photos minimum, 20-30 recommended, 50+ best; 1024 px minimum.",
        text_method_note(text_checked),
    ]
    return DatasetReport(
        kept=len(kept),
        rejected=len(rejected),
        warned=len(warned),
        count_verdict=verdict,
        count_message=message,
        mix=mix,
        advice=advice,
        method_notes=notes,
    )


def _mix_advice(dimension: str, value: str, target: float | None, count: int, pct: float, known: int) -> list[str]:
    """Advice for one row of the mix: too few of a kind, or a kind the guide wants present missing."""
    if not known or (dimension, value) in NOT_ESTIMATED:
        return []
    if value == "various emotions" and not expression.fer_available():  # the cascade cannot see other expressions
        return []
    if target is None:
        return [f"Add a {SHOT_NAMES[value]} shot: the guide wants all distances present."] if count == 0 else []
    if pct >= target - TOLERANCE:
        return []
    n = _needed(count, known, target - TOLERANCE / 2)
    if not n:
        return []
    return [f"Add {n} {SHOT_NAMES[value]} shot{'s' if n > 1 else ''} ({pct:.0f}% now, guide {target:.0f}%)."]
