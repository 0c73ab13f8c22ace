"""Training captions built from the analysis (no captioning model ships inside a wheel).

fal's fast trainer ignores `trigger_word` once captions exist, so every caption must contain the trigger itself.
"""

from __future__ import annotations

import string

from server.errors import UserError
from tools.dataset.checks import Estimates
from tools.dataset.results import DEFAULT_TEMPLATE, PLACEHOLDERS

_ANGLE = {"front": "front view", "three-quarter": "three-quarter view", "profile": "profile view"}
_EXPRESSION = {"smiling": "smiling", "neutral": "neutral expression"}
_DISTANCE = {"close-up": "close-up", "medium": "medium shot", "full body": "full body"}
_LIGHT = {
    "soft/even": "soft light",
    "side-lit": "side light",
    "backlit": "backlit",
    "dim": "dim light",
    "harsh": "harsh light",
}
_BACKGROUND = {"clean": "plain background", "indoor": "indoors", "outdoor": "outdoors"}


def validate_template(template: str) -> str:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise UserError(f"caption_template is not a valid template ({exc}). Example: {DEFAULT_TEMPLATE!r}.") from exc
    if "trigger" not in fields:
        raise UserError(
            "caption_template must contain {trigger}: fal's trainers only learn the trigger word from the captions. "
            f"Example: {DEFAULT_TEMPLATE!r}."
        )
    unknown = fields - set(PLACEHOLDERS)
    if unknown:
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise UserError(f"caption_template uses unknown placeholders {sorted(unknown)}; available: {known}.")
    return template


def category_words(category: str | None) -> str:
    return " ".join(category.replace("_", " ").replace("-", " ").split()).lower() if category else ""


def build_caption(template: str, trigger: str, subject: str, est: Estimates, category: str | None) -> str:
    parts = {
        "angle": _ANGLE.get(est.angle or "", ""),
        "expression": _EXPRESSION.get(est.expression or "", ""),
        "distance": _DISTANCE.get(est.distance or "", ""),
        "lighting": _LIGHT.get(est.lighting or "", ""),
        "background": _BACKGROUND.get(est.background or "", ""),
        "category": category_words(category),
    }
    order = ("angle", "expression", "distance", "lighting", "background", "category")
    details = "".join(f", {parts[key]}" for key in order if parts[key])
    text = template.format(trigger=trigger, subject=subject, details=details, **parts)
    text = " ".join(text.replace(" ,", ",").split()).strip(" ,")
    if trigger not in text:  # cannot happen with a validated template; keep the invariant anyway
        text = f"{trigger}, {text}"
    return text
