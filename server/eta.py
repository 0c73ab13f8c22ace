"""How long a fal job has left: an estimate together with what it rests on, for every kind of job's status answer.

Jobs that fal reports no progress for (generations, clips) are timed against this server's own finished jobs: the
median duration of the latest ones, each from when it was sent to when fal had its result.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import datetime

TYPICAL_OF_LATEST = 20  # finished jobs a typical duration is taken from: recent enough to follow fal's speed


@dataclass(frozen=True)
class Eta:
    seconds: float | None  # None: nothing supports a figure; `basis` says why
    basis: str


def timestamp(iso: str | None) -> float | None:
    """Seconds since the epoch of a stored ISO time (None when absent or unreadable)."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def seconds_since(iso: str | None, now: float | None = None) -> float:
    started = timestamp(iso)
    return 0.0 if started is None else max(0.0, (time.time() if now is None else now) - started)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def spoken(seconds: float) -> str:
    """12 s, 3 min 5 s: how long, as a person would say it."""
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min" + (f" {whole % 60} s" if whole % 60 else "")


def remaining(typical_seconds: float, elapsed: float, basis: str) -> Eta:
    """What is left of a typical duration after `elapsed`; none once the job has run past it."""
    left = typical_seconds - elapsed
    if left < 1:
        return Eta(None, f"past the typical {spoken(typical_seconds)} ({basis})")
    return Eta(round(left), basis)
