"""Reading a training's progress out of fal's log lines ("step 300/1000 loss=…") and estimating the ETA."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from server.eta import Eta

# "step 300/1000", "Step 300 / 1000", "steps: 300/1000", "300/1000 [01:02<03:04" (tqdm) — the last one wins.
_STEP = re.compile(r"(?:\bsteps?\b[\s:=#]*)(\d+)\s*/\s*(\d+)", re.IGNORECASE)
_TQDM = re.compile(r"\b(\d+)\s*/\s*(\d+)\s*\[")

KEEP_LOG_LINES = 50


@dataclass(frozen=True)
class StepProgress:
    step: int
    total: int

    @property
    def percent(self) -> float:
        return round(100.0 * min(self.step, self.total) / self.total, 1) if self.total else 0.0


def log_messages(logs: list[dict[str, Any]] | None) -> list[str]:
    return [str(line.get("message", "")).strip() for line in logs or [] if isinstance(line, dict)]


def latest_step(messages: list[str]) -> StepProgress | None:
    """The most recent step N/M in the logs (None when no line names one)."""
    for message in reversed(messages):
        for pattern in (_STEP, _TQDM):
            matches = pattern.findall(message)
            if matches:
                step, total = (int(x) for x in matches[-1])
                if total > 0 and step <= total:
                    return StepProgress(step, total)
    return None


def eta_seconds(first_step: int, first_at: float, step: int, now: float, total: int) -> float | None:
    """Remaining time from the step rate between the first progress observation and now."""
    if step <= first_step or now <= first_at:
        return None
    rate = (step - first_step) / (now - first_at)
    return round((total - step) / rate, 1)


# Before fal's logs give a step rate, the ETA comes from the steps asked for and a duration per step. fal's catalogue
# gives a duration (metadata.duration_estimate: 35 and 20, read as minutes for the default 1000 steps; seconds
# would be impossible for a training) for these two trainers only, and the project's catalogue does not keep it:
FAL_SECONDS_PER_STEP = {"fal-ai/qwen-image-trainer": 35 * 60 / 1000, "fal-ai/ltx-video-trainer": 20 * 60 / 1000}
# Every other trainer: the lower of those two rates, named as an assumption in every answer that uses it.
ASSUMED_SECONDS_PER_STEP = 1.2


def planned_eta(endpoint: str, total_steps: int | None, done_steps: int = 0, *, queued: bool = False) -> Eta | None:
    """Remaining time estimated from the steps left and the trainer's duration per step (no measurement yet)."""
    if not total_steps:
        return None
    rate = FAL_SECONDS_PER_STEP.get(endpoint)
    source = "fal's duration estimate" if rate else f"an assumed {ASSUMED_SECONDS_PER_STEP:g} s/step"
    left = max(total_steps - done_steps, 0)
    after = " once it leaves the queue" if queued else ""
    return Eta(round(left * (rate or ASSUMED_SECONDS_PER_STEP), 0), f"estimate: {left} steps at {source}{after}")


def measured_eta(seconds: float) -> Eta:
    return Eta(seconds, "measured from fal's step logs")
