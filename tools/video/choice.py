"""Which image-to-video endpoint animates a still, and what a clip costs before it is paid for (pure functions).

The default is the first endpoint of a short list of well-known families that the catalogue says is active and
whose schema this server can fill (a start image, a prompt, a length to choose). Where fal's price per second is
known the cheapest fit one of the list wins. The person's own choice is honoured if its schema fits, else
refused with the reason. Costs use fal's price where the catalogue has it; otherwise a stated, deliberately high
rate, so the budget caps still guard the call and the answer says the figure is an assumption.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from server.errors import InvalidInput
from tools.video.facts import VideoFacts

# Families known for keeping a face recognisable while moving it; the order is the preference when prices are not
# known. Kling 2.5 Turbo Pro first: 5 or 10 s, the clip keeps the still's shape (so a portrait still makes a
# portrait clip), no audio track to pay for.
PREFERRED_IMAGE_TO_VIDEO = (
    "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
    "fal-ai/bytedance/seedance/v1/pro/image-to-video",
    "fal-ai/veo3.1/fast/image-to-video",
    "fal-ai/wan/v2.2-a14b/image-to-video",
    "fal-ai/ltx-2/image-to-video",
)
# For a price fal has not published here: above what fal's listed video endpoints charge per second of output
# (the dearest with audio are around $0.40-0.50/s), so an estimate never undershoots.
ASSUMED_USD_PER_SECOND = 0.50
PER_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)?\s*(?:video\s+)?(?:seconds?|secs?|s)(?:\s+of\s+video)?\s*$")
ASSUMED_CLIP_SECONDS = 10.0  # for an endpoint whose schema does not say how long its clips are


@dataclass(frozen=True)
class Candidate:
    endpoint: str
    status: str  # active | deprecated (fal's metadata)
    facts: VideoFacts
    schema: dict[str, Any] = field(default_factory=dict, compare=False)  # fal's input schema, for the final check


@dataclass(frozen=True)
class Price:
    """fal's unit price: `unit` as fal names it (a second of video, one video …)."""

    usd: float
    unit: str


@dataclass(frozen=True)
class CostEstimate:
    usd: float
    seconds: float
    usd_per_second: float | None  # None: fal prices per clip, not per second
    basis: Literal["fal_price", "assumed"]
    note: str


def fitness_problem(facts: VideoFacts, *, with_lora: bool = False) -> str | None:
    """Why this endpoint cannot animate a still of a person for us; None when it can."""
    if not facts.takes_start_image:
        return "it takes no single start image (it is not an image-to-video endpoint for one still)"
    if facts.prompt_field is None:
        return "it takes no motion prompt"
    missing = facts.unfilled_required(with_lora=with_lora)
    if missing:
        return f"it also requires {', '.join(missing)}, which this tool does not supply"
    return None


def default_image_to_video(candidates: Iterable[Candidate], prices: dict[str, Price] | None = None) -> Candidate:
    """The default endpoint: fit and active, from the preferred list; cheapest per second when prices are known."""
    by_id = {candidate.endpoint: candidate for candidate in candidates}
    fit = [
        by_id[endpoint]
        for endpoint in PREFERRED_IMAGE_TO_VIDEO
        if endpoint in by_id and by_id[endpoint].status == "active" and fitness_problem(by_id[endpoint].facts) is None
    ]
    if not fit:
        raise InvalidInput(
            "none of the usual image-to-video endpoints (" + ", ".join(PREFERRED_IMAGE_TO_VIDEO) + ") is in the "
            "catalogue as active: name one with endpoint=… (see the catalogue's image-to-video category)"
        )
    priced = [(per_second(prices.get(c.endpoint)), index, c) for index, c in enumerate(fit)] if prices else []
    known = [(rate, index, c) for rate, index, c in priced if rate is not None]
    return min(known)[2] if known else fit[0]


def chosen_image_to_video(candidate: Candidate | None, endpoint: str, *, with_lora: bool = False) -> Candidate:
    """The person's choice, if the catalogue knows it and it can animate a still."""
    if candidate is None:
        raise InvalidInput(
            f"{endpoint} is not an image-to-video endpoint in fal's catalogue: leave endpoint out for the default "
            f"({PREFERRED_IMAGE_TO_VIDEO[0]}) or pick one from the catalogue's image-to-video category"
        )
    problem = fitness_problem(candidate.facts, with_lora=with_lora)
    if problem:
        raise InvalidInput(f"{endpoint} cannot animate a still here: {problem}. Leave endpoint out for the default")
    if candidate.status != "active":
        raise InvalidInput(f"fal lists {endpoint} as {candidate.status}: choose an active endpoint")
    return candidate


def per_second(price: Price | None) -> float | None:
    """USD per second of video, when fal prices the endpoint by the second ('second', '5 seconds', …)."""
    if price is None:
        return None
    match = PER_SECONDS.match(price.unit.lower())
    if match is None:
        return None
    count = float(match.group(1)) if match.group(1) else 1.0
    return price.usd / count if count > 0 else None


def estimate_cost(facts: VideoFacts, seconds: float | None, price: Price | None) -> CostEstimate:
    """What one clip will cost; conservative and labelled `assumed` when fal's price is not known."""
    length = seconds
    if length is None and facts.duration is not None:
        length = facts.duration.default_seconds() or facts.duration.longest_seconds()
    stated_length = length is not None
    length = length if length is not None else ASSUMED_CLIP_SECONDS
    rate = per_second(price)
    if rate is not None:
        return CostEstimate(
            round(rate * length, 4), length, rate, "fal_price", f"fal's price ${rate:g}/s × {length:g} s"
        )
    if price is not None and price.unit.lower().strip() in ("video", "videos", "clip", "request", "requests"):
        return CostEstimate(round(price.usd, 4), length, None, "fal_price", f"fal's price ${price.usd:g} per clip")
    how_long = f"{length:g} s" if stated_length else f"{length:g} s assumed (the schema does not say)"
    return CostEstimate(
        round(ASSUMED_USD_PER_SECOND * length, 4),
        length,
        ASSUMED_USD_PER_SECOND,
        "assumed",
        f"fal's price for {facts.endpoint} is unknown here: estimated at an assumed ${ASSUMED_USD_PER_SECOND:g}/s "
        f"× {how_long}, deliberately high",
    )
