"""Which fal trainer start_training uses: any person/subject image trainer in fal's catalogue, by id or alias.

Facts come from the catalogue (server/catalog/trainers.py reads each trainer's schema); this module resolves
what the agent typed, explains the names fal cannot train, prices a run, and ranks the trainers for a person.
"""

from __future__ import annotations

from server.catalog import Catalog, CatalogEntry
from server.catalog.pricing import Estimate, estimate_inference, estimate_training
from server.catalog.trainers import DEFAULT_TRAINER, LEGACY_ALIASES, TrainerProfile, profile, short_alias
from server.errors import InvalidInput, NotFound
from tools.training.results import TrainerChoice, TrainerGuide

WHY_DEFAULT = (
    "flux-lora (fal-ai/flux-lora-fast-training) is the default for a person: FLUX.1 [dev], face masks on "
    "(create_masks), a published price ($2 per 1000 steps at the time of the catalogue), and its LoRA runs on "
    "fal-ai/flux-lora whose per-megapixel price is known. The portrait and Wan 2.2 trainers have more face options "
    "(crop, detection, masks) and can give a closer likeness; Z-Image turbo v2 is the cheapest known per step."
)

# Names an agent may use (from the setup guide) that fal cannot train: explained, never guessed.
UNSUPPORTED: dict[str, str] = {
    "sdxl-lora": (
        "fal has no SDXL LoRA trainer, so model_type 'sdxl-lora' cannot be trained here. Train a FLUX LoRA instead "
        "(model_type 'flux-lora', the default). An SDXL LoRA trained elsewhere (kohya, civitai, ...) can still be "
        "used: register its .safetensors URL or file with manage_model(action='register_external', "
        "base_endpoint='fal-ai/lora', base_model='stabilityai/stable-diffusion-xl-base-1.0', ...) and run it."
    ),
    "sd15-lora": (
        "fal has no Stable Diffusion 1.5 LoRA trainer, so model_type 'sd15-lora' cannot be trained here. Train a "
        "FLUX LoRA instead (model_type 'flux-lora', the default). An SD 1.5 LoRA trained elsewhere can still be "
        "used: register it with manage_model(action='register_external', base_endpoint='fal-ai/lora', "
        "base_model='runwayml/stable-diffusion-v1-5', ...) and run it."
    ),
    "dreambooth": (
        "DreamBooth full fine-tuning is not offered by fal for FLUX (its one full fine-tune, flux-pro-trainer, is "
        "deprecated). What runs here is LoRA training, which is what fal serves with fal-ai/flux-lora: use "
        "model_type 'flux-lora' (default), 'flux-lora-portrait' or 'flux-lora-turbo'."
    ),
}
UNSUPPORTED_ALIASES = {
    "sdxl": "sdxl-lora",
    "sd15": "sd15-lora",
    "sd1.5-lora": "sd15-lora",
    "sd-1.5-lora": "sd15-lora",
    "dreambooth-flux": "dreambooth",
    "flux-dreambooth": "dreambooth",
    "full-finetune": "dreambooth",
    "full-fine-tune": "dreambooth",
    "finetune": "dreambooth",
}


def _candidate_ids(model_type: str) -> list[str]:
    key = model_type.strip().strip("/")
    lowered = key.lower()
    if lowered in LEGACY_ALIASES:
        return [LEGACY_ALIASES[lowered]]
    return [key] if "/" in key and key.startswith(("fal-ai/", "ideogram/")) else [f"fal-ai/{key}", key]


async def _profile_of(catalog: Catalog, entry: CatalogEntry) -> TrainerProfile:
    paired = [await catalog.lookup(endpoint) for endpoint in entry.inference_endpoint_ids]
    return profile(entry, paired)


def fitting(catalog: Catalog) -> list[TrainerProfile]:
    """Every trainer in the catalogue as it is known now (no network)."""
    return [
        profile(entry, [catalog.get(endpoint) for endpoint in entry.inference_endpoint_ids])
        for entry in catalog.entries(kind="training")
    ]


def choices_text(catalog: Catalog) -> str:
    return ", ".join(sorted(p.alias for p in fitting(catalog) if p.fits and p.status == "active"))


async def resolve_trainer(catalog: Catalog, model_type: str) -> TrainerProfile:
    """The trainer named by `model_type` (alias, short alias or endpoint id). Raises when it cannot train a person."""
    key = model_type.strip().lower()
    unsupported = UNSUPPORTED.get(UNSUPPORTED_ALIASES.get(key, key))
    if unsupported:
        raise InvalidInput(unsupported)
    for endpoint in _candidate_ids(model_type):
        entry = await catalog.lookup(endpoint)
        if entry is None:
            continue
        if entry.kind != "training":
            raise InvalidInput(
                f"{entry.endpoint_id} is an inference endpoint, not a trainer. Trainers for a person: "
                f"{choices_text(catalog)}."
            )
        found = await _profile_of(catalog, entry)
        if not found.fits:
            raise InvalidInput(
                f"{found.endpoint} cannot train on a person's photo set: {found.reason}. Trainers that can: "
                f"{choices_text(catalog)}."
            )
        return found
    raise NotFound(
        f"Unknown model_type {model_type!r}: fal's catalogue has no such trainer ({catalog.snapshot_note}). "
        f"Use one of: {choices_text(catalog)} (or a full fal endpoint id such as fal-ai/z-image-turbo-trainer-v2)."
    )


def trainer_for_endpoint(catalog: Catalog, endpoint: str) -> TrainerProfile | None:
    """The profile of a trainer already used (registration, status): from what is known, no network."""
    entry = catalog.get(endpoint)
    if entry is None:
        return None
    return profile(entry, [catalog.get(item) for item in entry.inference_endpoint_ids])


async def training_estimate(catalog: Catalog, trainer: TrainerProfile, steps: int, cap: float) -> Estimate:
    return estimate_training(await catalog.price(trainer.endpoint), steps, cap)


async def image_estimate(catalog: Catalog, endpoint: str, cap: float) -> Estimate:
    entry = await catalog.lookup(endpoint)
    params = {"num_images": 1, "image_size": "square_hd"}
    return estimate_inference(await catalog.price(endpoint), params, entry, cap)


async def guide(catalog: Catalog, cap: float, steps: int | None = None) -> TrainerGuide:
    """Rank the trainers that fit a person: likeness options first, then the known price of the run."""
    profiles = fitting(catalog)
    usable = [p for p in profiles if p.fits and p.status == "active" and p.makes == "image"]
    await catalog.prices(
        [p.endpoint for p in usable] + [p.inference_endpoints[0] for p in usable if p.inference_endpoints]
    )
    rows = []
    for trainer in usable:
        run_steps = min(max(steps, trainer.steps_range[0]), trainer.steps_range[1]) if steps else trainer.steps_default
        cost = await training_estimate(catalog, trainer, run_steps, cap)
        inference = trainer.inference_endpoints[0] if trainer.inference_endpoints else ""
        image = await image_estimate(catalog, inference, cap) if inference else None
        rows.append(
            TrainerChoice(
                rank=0,
                model_type=trainer.alias,
                endpoint=trainer.endpoint,
                likeness_options=list(trainer.likeness_options),
                steps=run_steps,
                steps_range=f"{trainer.steps_range[0]}–{trainer.steps_range[1]}",
                training_usd=cost.usd if cost.known else None,
                training_price=cost.basis,
                inference_endpoint=inference,
                image_usd=image.usd if image and image.known else None,
                captions=trainer.caption_rule,
                lora_files=list(trainer.lora_outputs),
            )
        )
    rows.sort(key=lambda row: (-len(row.likeness_options), row.training_usd is None, row.training_usd or 0.0))
    for index, row in enumerate(rows, 1):
        row.rank = index
    return TrainerGuide(
        default=short_alias(DEFAULT_TRAINER),
        why_default=WHY_DEFAULT,
        trainers=rows,
        not_for_people={p.alias: p.reason for p in profiles if not p.fits},
        video_trainers={
            p.alias: f"a video LoRA of the person, run with video(start=<model>) on {p.inference_endpoints[0]}"
            for p in profiles
            if p.fits and p.status == "active" and p.makes == "video" and p.inference_endpoints
        },
        data=f"{catalog.snapshot_note}; prices refreshed from fal when a key and the network allow. "
        + (catalog.last_note or ""),
    )
