"""Local files named in a generation's input: accepted only where fal's schema takes such a file, checked by content.

A path is accepted in a field the endpoint's schema names as an image, video or audio input (or a LoRA path),
only for a file whose first bytes show an allow-listed format of that kind, under a size cap. Nothing is
uploaded here: the plan lists the files and they are uploaded after validation and the budget check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.catalog import CatalogEntry
from server.catalog.requests import media_kind
from server.errors import InvalidInput
from tools.generation.endpoints import MEDIA_FIELDS

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
MAX_BYTES = {"image": 50 * 1024**2, "video": 500 * 1024**2, "audio": 100 * 1024**2, "lora": 2 * 1024**3}
URL_PREFIXES = ("http://", "https://", "data:")

Location = tuple[str | int, ...]


@dataclass
class PendingUpload:
    location: Location  # where the URL goes in the request, e.g. ("image_url",) or ("loras", 0, "path")
    path: Path
    kind: str  # image | video | audio | lora
    label: str


def _looks_local(value: Any) -> bool:
    return (
        isinstance(value, str)
        and bool(value.strip())
        and not value.startswith(URL_PREFIXES)
        and (value.startswith(("/", "~", "./", "../")) or "\\" in value or Path(value).suffix != "")
    )


def _sniff(path: Path) -> str | None:
    """The kind of file by content: image | video | audio | lora, or None for anything else."""
    with path.open("rb") as handle:
        head = handle.read(64)
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "audio" if brand in (b"M4A ", b"M4B ") else "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video"  # webm / matroska
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio"
    if head.startswith((b"ID3", b"fLaC", b"OggS")) or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio"
    if len(head) > 9 and int.from_bytes(head[:8], "little") < 100_000_000 and head[8:9] == b"{":
        return "lora"  # safetensors: 8-byte header length, then a JSON header
    from PIL import Image  # on first use: Pillow is not needed to start the server

    try:
        with Image.open(path, formats=IMAGE_FORMATS):  # reads the header only: no decoding of a hostile file
            return "image"
    except Exception:  # Pillow raises many types for a file that is not an allowed image
        return None


def _check(path_text: str, kind: str, label: str, trusted: frozenset[str] = frozenset()) -> Path:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise InvalidInput(f"{label}: {path_text!r} is not a URL and no such local file exists.")
    size = path.stat().st_size
    if size > MAX_BYTES[kind]:
        raise InvalidInput(
            f"{label}: {path.name} is {size / 1024**2:.0f} MB; a {kind} is capped at "
            f"{MAX_BYTES[kind] / 1024**2:.0f} MB."
        )
    found = kind if path_text in trusted else _sniff(path)
    if found != kind:
        raise InvalidInput(
            f"{label}: {path.name} is not {'an' if kind[0] in 'aeiou' else 'a'} {kind} file by its content "
            f"({'unrecognised format' if found is None else 'it is ' + found}); only {kind} files are uploaded here."
        )
    return path


def pending_uploads(
    endpoint: str, entry: CatalogEntry | None, params: dict[str, Any], trusted: frozenset[str] = frozenset()
) -> list[PendingUpload]:
    """The local files in `params`, each checked; raises InvalidInput for a path where no file belongs.

    `trusted` paths (a registered model's own LoRA file) skip the content check, not the size cap.
    """
    uploads: list[PendingUpload] = []
    overrides = MEDIA_FIELDS.get(endpoint, {})
    for name, value in params.items():
        if name == "loras" and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict) and _looks_local(item.get("path")):
                    label = f"loras[{index}].path"
                    uploads.append(
                        PendingUpload(
                            ("loras", index, "path"), _check(item["path"], "lora", label, trusted), "lora", label
                        )
                    )
            continue
        kind = media_kind(entry, name) or overrides.get(name)
        if kind is None and not name.endswith(("_url", "_urls")):
            continue  # only URL-like fields can carry a file
        values = value if isinstance(value, list) else [value]
        local = [(index, item) for index, item in enumerate(values) if _looks_local(item)]
        if not local:
            continue
        if kind is None:
            raise InvalidInput(
                f"{name}={values[local[0][0]]!r} looks like a local path, but "
                + (
                    f"{entry.endpoint_id}'s schema does not take a file in {name!r}"
                    if entry
                    else "this endpoint is not in fal's catalogue, so local files cannot be checked for it"
                )
                + ". Give an https URL, or a local file only in an image/video/audio input."
            )
        for index, item in local:
            location: Location = (name, index) if isinstance(value, list) else (name,)
            label = f"{name}[{index}]" if isinstance(value, list) else name
            uploads.append(PendingUpload(location, _check(item, kind, label), kind, label))
    return uploads


def set_at(params: dict[str, Any], location: Location, value: str) -> None:
    target: Any = params
    for part in location[:-1]:
        target = target[part]
    target[location[-1]] = value
