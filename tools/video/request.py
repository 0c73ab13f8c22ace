"""One clip planned end to end before anything is paid: what to animate, which endpoint, the body, the cost.

`plan_video` resolves the start (a registered model → a still to make with its LoRA; a generation id → its saved
still; a local image → measured, uploaded only after every check), picks the endpoint from fal's catalogue (the
default, or the person's choice if it fits), builds the body with the endpoint's own field names, checks it
against fal's schema, and estimates the still plus the clip. Every refusal happens here, before any fal call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prompts.loader import Template, render, render_motion
from server.catalog import validate
from server.catalog.service import Catalog, CatalogEntry
from server.errors import InvalidInput, NotFound
from server.state import AppState
from server.storage import from_json
from tools.generation.plan import Plan, plan_generation
from tools.library import prompt_store
from tools.models import registry
from tools.models.registry import ModelVersion
from tools.video.choice import (
    PREFERRED_IMAGE_TO_VIDEO,
    Candidate,
    CostEstimate,
    Price,
    chosen_image_to_video,
    default_image_to_video,
    estimate_cost,
)
from tools.video.facts import VideoFacts, check_still, clip_seconds, facts_of
from tools.video.plan import STILL_SIZES, VideoAsk, check_ask, still_prompt, still_size_for, video_body
from tools.video.stills import Still, local_still

GENERATION_ID = re.compile(r"^gen_[A-Za-z0-9]+$")
PLACEHOLDER_URL = "https://v3.fal.media/files/placeholder/still.jpg"  # stands in for the still in schema checks
IMAGE_TO_VIDEO = "image-to-video"
TEXT_TO_VIDEO = "text-to-video"
SOMEONE = "the person"  # the trigger word of a still that no registered model made

StartKind = Literal["model", "generation", "image", "text"]  # text: a video LoRA, no still


@dataclass
class VideoPlan:
    endpoint: str
    facts: VideoFacts
    start_kind: StartKind
    motion: str
    body: dict[str, Any]  # the start image field holds PLACEHOLDER_URL until the still is known
    seconds: float | None
    cost: CostEstimate
    still_cost: float
    model: ModelVersion | None = None  # whose still (and name on the saved clip)
    still_plan: Plan | None = None  # model start: the generation that makes the still
    still_input: dict[str, Any] | None = None  # what the still was asked with (before the server picks a seed)
    still_generation_id: str | None = None  # generation start
    still_path: Path | None = None  # generation / image start: the local file to upload
    still_url: str | None = None  # generation start: fal's URL, used when the local file is gone
    scenario: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def total_estimate(self) -> float:
        return round(self.cost.usd + self.still_cost, 4)


async def plan_video(
    state: AppState,
    *,
    start: str,
    prompt: str | None,
    scenario: str | None,
    endpoint: str | None,
    duration_seconds: float | None,
    aspect_ratio: str | None,
    resolution: str | None,
    still_prompt_text: str | None,
    input_params: dict[str, Any] | None,
) -> VideoPlan:
    template = _video_template(state, scenario) if scenario else None
    kind, reference = _start_kind(start)
    model: ModelVersion | None = None
    still: Still | None = None
    still_url: str | None = None
    if kind == "model":
        model = registry.resolve(state.store, reference)
        base = state.catalog.get(model.base_endpoint)
        if base is not None and base.category == TEXT_TO_VIDEO:
            return await _text_to_video(
                state, base, model, template, prompt, endpoint, duration_seconds, aspect_ratio, resolution, input_params
            )
        if base is not None and base.category == IMAGE_TO_VIDEO:
            raise InvalidInput(
                f"{model.model_name} v{model.version} is a video LoRA for {base.endpoint_id}, which animates a still "
                "and makes none: animate a still of this person (start=gen_… or an image) with the default endpoint, "
                "or train on a text-to-video trainer (e.g. fal-ai/wan-trainer/t2v-14b) to use the LoRA here"
            )
    elif kind == "generation":
        still, still_url, model = _generation_still(state, reference)
    else:
        still = local_still(reference)
    trigger = model.trigger_word if model else SOMEONE
    # the still shows who it is: the motion names "the person", a token the video model never learned would not help
    motion = (prompt or "").strip() or (render_motion(template, SOMEONE) if template else "") or ""
    seconds_asked = duration_seconds
    if seconds_asked is None and template is not None:
        seconds_asked = template.settings.duration_seconds
    ask = VideoAsk(motion, seconds_asked, aspect_ratio, resolution, dict(input_params or {}))
    check_ask(ask)
    catalog: Catalog = state.catalog
    candidate = await _endpoint(catalog, endpoint)
    facts = candidate.facts
    still_plan: Plan | None = None
    still_input: dict[str, Any] | None = None
    if kind == "model":
        assert model is not None
        scenario_size = template.settings.image_size if template else None
        size = still_size_for(ask, facts, scenario_size if isinstance(scenario_size, str) else None)
        text = (still_prompt_text or "").strip() or (render(template, trigger) if template else "")
        still_input = {**(template.settings.as_input() if template else {}), "image_size": size, "num_images": 1}
        still_input["prompt"] = text or still_prompt(trigger, motion)
        still_plan = await plan_generation(
            state, endpoint=f"{model.model_name}@v{model.version}", input_params=still_input, scenario=scenario
        )
        still_size = STILL_SIZES[size]
    else:
        assert still is not None
        check_still(facts, still.width, still.height, still.size_bytes)
        still_size = (still.width, still.height)
    body = video_body(facts, ask, image_url=PLACEHOLDER_URL, still_size=still_size)
    _check_schema(candidate, body)
    seconds = clip_seconds(facts, ask.duration_seconds)
    price = await catalog.price(candidate.endpoint)
    cost = estimate_cost(facts, seconds, Price(price.unit_price, price.unit) if price else None)
    return VideoPlan(
        endpoint=candidate.endpoint,
        facts=facts,
        start_kind=kind,
        motion=ask.prompt,
        body=body,
        seconds=cost.seconds,
        cost=cost,
        still_cost=still_plan.estimate if still_plan else 0.0,
        model=model,
        still_plan=still_plan,
        still_input=still_input,
        still_generation_id=reference if kind == "generation" else None,
        still_path=still.path if still is not None and still.path.is_file() else None,
        still_url=still_url,
        scenario=scenario,
        warnings=still_plan.warnings if still_plan else [],
    )


async def _text_to_video(
    state: AppState,
    entry: CatalogEntry,
    model: ModelVersion,
    template: Template | None,
    prompt: str | None,
    endpoint: str | None,
    duration_seconds: float | None,
    aspect_ratio: str | None,
    resolution: str | None,
    input_params: dict[str, Any] | None,
) -> VideoPlan:
    """A model trained on a video trainer: its own text-to-video LoRA endpoint makes the clip, no still."""
    if endpoint and endpoint.strip().strip("/") != entry.endpoint_id:
        raise InvalidInput(
            f"{model.model_name} is a video LoRA that runs on {entry.endpoint_id}: leave endpoint out (a LoRA only "
            "works on the model family it was trained for)"
        )
    if not model.lora_url:
        raise InvalidInput(f"{model.model_name} v{model.version} has no LoRA URL: register the version again")
    motion = (prompt or "").strip() or (render_motion(template, model.trigger_word) if template else "") or ""
    if motion and model.trigger_word and model.trigger_word.lower() not in motion.lower():
        motion = f"{model.trigger_word}, {motion}"
    seconds_asked = duration_seconds
    if seconds_asked is None and template is not None:
        seconds_asked = template.settings.duration_seconds
    ask = VideoAsk(motion, seconds_asked, aspect_ratio, resolution, dict(input_params or {}))
    check_ask(ask)
    candidate = _candidate(entry)
    facts = candidate.facts
    loras = [{"path": model.lora_url, "scale": model.lora_scale}]
    body = video_body(facts, ask, image_url=None, loras=loras)
    _check_schema(candidate, body)
    price = await state.catalog.price(entry.endpoint_id)
    cost = estimate_cost(
        facts, clip_seconds(facts, ask.duration_seconds), Price(price.unit_price, price.unit) if price else None
    )
    return VideoPlan(
        endpoint=entry.endpoint_id,
        facts=facts,
        start_kind="text",
        motion=motion,
        body=body,
        seconds=cost.seconds,
        cost=cost,
        still_cost=0.0,
        model=model,
        scenario=template.name if template else None,
    )


# -- resolving ------------------------------------------------------------------------------------------


async def _endpoint(catalog: Catalog, endpoint: str | None) -> Candidate:
    if endpoint is None or not endpoint.strip():
        entries = [e for e in catalog.entries(kind="inference") if e.category == IMAGE_TO_VIDEO and e.input_schema]
        await catalog.prices(list(PREFERRED_IMAGE_TO_VIDEO))  # fal's live prices, when a key and the network allow
        prices = {
            entry.endpoint_id: Price(price.unit_price, price.unit)
            for entry in entries
            if (price := catalog.cached_price(entry.endpoint_id)) is not None
        }
        return default_image_to_video([_candidate(entry) for entry in entries], prices)
    wanted = endpoint.strip().strip("/")
    entry = catalog.get(wanted) or await catalog.lookup(wanted)
    if entry is not None and entry.category != IMAGE_TO_VIDEO:
        raise InvalidInput(
            f"{wanted} is a {entry.category or 'non-video'} endpoint, not image-to-video: leave endpoint out for the "
            "default, or name an image-to-video endpoint from fal's catalogue"
        )
    return chosen_image_to_video(_candidate(entry) if entry and entry.input_schema else None, wanted)


def _candidate(entry: CatalogEntry) -> Candidate:
    return Candidate(entry.endpoint_id, entry.status, facts_of(entry), entry.input_schema or {})


def _start_kind(start: str) -> tuple[StartKind, str]:
    text = start.strip()
    if not text:
        raise InvalidInput(
            "start is empty: give a registered model name, a generation id (gen_…) or the absolute path of an image"
        )
    if GENERATION_ID.match(text):
        return "generation", text
    if text.startswith(("/", "~")) or Path(text).suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"):
        return "image", text
    return "model", text


def _generation_still(state: AppState, generation_id: str) -> tuple[Still, str | None, ModelVersion | None]:
    """The first image of a finished generation: its local file (measured again), else its recorded size + URL."""
    row = state.store.query_one("SELECT * FROM generations WHERE id = ?", (generation_id,))
    if row is None:
        raise NotFound(f"no generation {generation_id!r}: generation ids come from execute_custom_model")
    if row["status"] != "completed":
        raise InvalidInput(
            f"generation {generation_id} is {row['status']}, not completed: wait for it with generation_status, "
            "then animate it"
        )
    files = from_json(row["files_json"], [])
    images = [f for f in files if str(f.get("content_type") or "image/").startswith("image/")]
    if not images:
        raise InvalidInput(f"generation {generation_id} has no image to animate")
    first = images[0]
    model = None
    if row["model_name"] and row["model_version"]:
        model = registry.find(state.store, f"{row['model_name']}@v{row['model_version']}")
    if first.get("path") and Path(first["path"]).is_file():
        return local_still(first["path"]), first.get("url"), model
    width, height = first.get("width"), first.get("height")
    if not (isinstance(width, int) and isinstance(height, int) and first.get("url")):
        raise InvalidInput(f"generation {generation_id}'s image is no longer on disk: generate a new still")
    return Still(Path(""), width, height, 0), first["url"], model


def _video_template(state: AppState, scenario: str) -> Template:
    template = prompt_store.get_template(state.store, scenario)
    if not template.is_video:
        raise InvalidInput(
            f"scenario {template.name!r} is an image scenario without a motion prompt: pass prompt= for the motion, "
            "or use a video scenario (prompt_library list, tags ['video'])"
        )
    return template


def _check_schema(candidate: Candidate, body: dict[str, Any]) -> None:
    """fal's own schema for the endpoint decides, as its 422 would, before anything is paid."""
    found = validate.problems(candidate.schema, body)
    if found:
        raise InvalidInput(f"{candidate.endpoint} would refuse this request: " + "; ".join(p.message for p in found))
