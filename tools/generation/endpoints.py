"""What fal's catalogue cannot say about inference endpoints, and the catalogue as documentation.

Inputs, defaults, ranges, output shapes and LoRA support come from fal's own schemas (server/catalog); this
module keeps only the few facts a schema does not carry.
"""

from __future__ import annotations

from server.catalog import Catalog
from server.catalog.requests import accepts_loras, output_kind

# A model trained for text to image runs image to image on this sibling when an image_url is given.
IMAGE_VARIANTS = {"fal-ai/flux-lora": "fal-ai/flux-lora/image-to-image"}
# File inputs of endpoints outside the captured categories (their schema is fetched from fal on first use).
MEDIA_FIELDS: dict[str, dict[str, str]] = {"fal-ai/flux-lora/image-to-image": {"image_url": "image"}}
LORA_SCALE_NAMES = ("lora_scale", "scale", "lora_strength")


def markdown_table(catalog: Catalog) -> str:
    """Endpoints that run LoRAs, with their unit price (as last read from fal)."""
    lines = ["| Endpoint | Output | Unit price | Status |", "|---|---|---|---|"]
    for entry in catalog.entries(kind="inference"):
        if not accepts_loras(entry):
            continue
        price = catalog.cached_price(entry.endpoint_id)
        shown = f"${price.unit_price:g} per {price.unit}" if price else "unknown (held at the per-call cap)"
        lines.append(f"| `{entry.endpoint_id}` | {output_kind(entry)} | {shown} | {entry.status} |")
    lines += [
        "",
        f"Source: {catalog.snapshot_note}; schemas and prices are re-read from fal when a key and the network allow. "
        "Every request is checked against the endpoint's own schema before anything is spent.",
    ]
    return "\n".join(lines)
