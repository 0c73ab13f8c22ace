"""Dataset-level report: count verdict, the mix of angles/expressions/light/backgrounds/distances against the
guide's recommended shares, and concrete advice."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from tools.dataset import expression
from tools.dataset.text import method_note as text_method_note

if TYPE_CHECKING:
    from tools.dataset.analyse import ImageResult

# The guide's recommended mix (percent of the kept photos). None = "varied": some of each, no fixed share.
RECOMMENDED: dict[str, dict[str, float | None]] = {
    "angle": {"front": 50, "three-quarter": 30, "profile": 20},
    "expression": {"neutral": 60, "smiling": 30, "other": 10},
    "distance": {"close-up": 50, "medium": 30, "full body": 20},
    "background": {"clean": None, "indoor": None, "outdoor": None},
    "lighting": {"soft/even": None, "side-lit": None, "backlit": None, "dim": 0, "harsh": 0},
}
SHOT_NAMES = {
    "front": "front-facing",
    "three-quarter": "three-quarter view",
    "profile": "profile (side view)",
    "neutral": "neutral-expression",
    "smiling": "smiling",
    "other": "other-expression (laughing, serious, surprised)",
    "close-up": "close-up (head and shoulders)",
    "medium": "medium (waist up)",
    "full body": "full-body",
    "clean": "plain-background",
    "indoor": "indoor",
    "outdoor": "outdoor",
    "soft/even": "soft, even light",
    "side-lit": "directional (side) light",
}
METHODS = {
    "angle": "estimate: nose offset between the eyes from YuNet landmarks (|off| < 0.25 front, < 0.75 three-quarter, "
    "else profile); faces only the profile cascade finds count as profile",
    "distance": "estimate: face height ÷ image height (≥ 0.45 close-up, ≥ 0.20 medium, else full body)",
    "lighting": "estimate (unvalidated heuristic): face lightness < 70 dim; face halves differ > 1.45× side-lit; "
    "background > 1.5× face backlit; heavy clipping harsh",
    "background": "estimate (unvalidated heuristic): edge density outside the person < 0.04 clean; else outdoor "
    "when ≥ 15 % of it is sky-blue or foliage-green, otherwise indoor",
}
TOLERANCE = 10.0  # percentage points below the recommendation before we advise


def _method(dimension: str) -> str:
    return expression.method() if dimension == "expression" else METHODS[dimension]


class MixRow(BaseModel):
    value: str
    count: int
    actual_pct: float
    recommended_pct: float | None = Field(description="The guide's recommended share; null = 'varied, some of each'.")


class MixTable(BaseModel):
    dimension: str
    method: str
    unknown: int = Field(description="Kept photos for which no estimate was possible.")
    rows: list[MixRow]


class DatasetReport(BaseModel):
    kept: int
    rejected: int
    warned: int
    count_verdict: str = Field(description="too few | minimum | good | best")
    count_message: str
    mix: list[MixTable]
    advice: list[str]
    method_notes: list[str]


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
    for dimension, targets in RECOMMENDED.items():
        values = [getattr(r.estimates, dimension) for r in kept]
        known = [v for v in values if v]
        counts = Counter(known)
        rows = []
        for value, target in targets.items():
            count = counts.get(value, 0)
            pct = round(100 * count / len(known), 1) if known else 0.0
            rows.append(MixRow(value=value, count=count, actual_pct=pct, recommended_pct=target))
            if not known or (value == "other" and not expression.fer_available()):  # the cascade cannot see 'other'
                continue
            if target and pct < target - TOLERANCE:
                n = _needed(count, len(known), target - TOLERANCE / 2)
                if n:
                    advice.append(
                        f"Add {n} {SHOT_NAMES[value]} shot{'s' if n > 1 else ''} "
                        f"({pct:.0f}% now, guide ~{target:.0f}%)."
                    )
            elif target is None and count == 0 and len(known) >= 5 and value != "backlit":
                advice.append(f"Add a few {SHOT_NAMES[value]} photos: the guide recommends a varied mix.")
            elif target == 0 and count:
                advice.append(
                    f"Replace the {count} {value} photo{'s' if count > 1 else ''}: the guide wants no {value} light."
                )
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
        "Mix percentages are estimates from the methods given per table, over the kept photos.",
        "Recommended shares are the guide's recommendation: angles ~50/30/20 front/three-quarter/profile, "
        "expressions ~60/30/10 neutral/smiling/other, distances ~50/30/20 close-up/medium/full body; backgrounds and "
        "lighting varied (soft/natural plus some directional), none harsh or dim.",
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
