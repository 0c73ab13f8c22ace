"""Run every per-image check over a scanned folder in a thread pool; optionally write the square training crops.

Each photo is decoded once, at the smallest draft size that still serves the output resolution; the analysis
works on a 1024 px copy of those pixels and the crop reuses them. Only a crop that needs more pixels than the
draft holds (a tight crop of a large photo) decodes the file again at full resolution.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.disk import is_out_of_room
from tools.dataset.caption import build_caption
from tools.dataset.checks import (
    Check,
    Estimates,
    check_exposure,
    check_eyes_and_covering,
    check_faces,
    check_filters,
    check_resolution,
    check_sharpness,
    estimate,
    face_planes,
    worst,
)
from tools.dataset.crop import CropError, crop_side_px, encode, plan_crop, render
from tools.dataset.decode import DecodeError, decode
from tools.dataset.duplicates import ORB_SIDE, OrbFeatures, mark_duplicates, orb_features, phashes
from tools.dataset.faces import detect_faces
from tools.dataset.identity import descriptor
from tools.dataset.scan import Candidate, Scan

ANALYSIS_SIDE = 1024
THUMBNAIL_SIDE = 160  # the contact sheet's cells: kept from the analysis instead of decoding every photo again

ProgressCallback = Callable[[int, int, str], None]  # photos done, photos in all, the photo just done
StageCallback = Callable[[str], None]  # a step after the per-photo pass began, e.g. the duplicate comparison


@dataclass(frozen=True)
class Options:
    trigger_word: str
    subject: str = "person"
    resolution: int = 1024
    image_format: str = "jpeg"
    caption_template: str = "photo of {trigger} {subject}{details}"
    crop: str = "face"
    include_warnings: bool = True
    same_person_check: bool = True  # tools/dataset/identity.py
    text_check: bool = False  # optional OCR (tools/dataset/text.py)
    exclude: tuple[str, ...] = ()  # photos (paths relative to the folder) left out on request


@dataclass
class ImageResult:
    rel: str
    category: str | None
    checks: list[Check] = field(default_factory=list)
    estimates: Estimates = field(default_factory=Estimates)
    caption: str | None = None
    original_size: tuple[int, int] | None = None
    file_format: str | None = None
    hashes: tuple[Any, Any] | None = None  # pHash of the image and of its mirror
    features: OrbFeatures | None = None  # ORB keypoints for the duplicate pass, dropped after it
    descriptor: Any = None  # unit face descriptor for the same-person pass, dropped after it
    prepared: Path | None = None  # staged training image
    thumbnail: bytes | None = None  # JPEG, ≤ THUMBNAIL_SIDE, of the upright photo
    prepared_thumbnail: bytes | None = None  # JPEG, THUMBNAIL_SIDE square, of the staged training image
    crop_note: str | None = None

    @property
    def verdict(self) -> str:
        return worst([c.verdict for c in self.checks])

    @property
    def reasons(self) -> list[str]:
        """Human reasons for anything not ok (worst first); 'ok' images get their one-line summary."""
        bad = [c for c in self.checks if c.verdict != "ok"]
        bad.sort(key=lambda c: c.verdict != "reject")
        return [c.reason for c in bad]

    @property
    def measured(self) -> dict[str, float | str | None]:
        return {c.name: c.value for c in self.checks}

    def kept(self, include_warnings: bool) -> bool:
        return self.verdict == "ok" or (self.verdict == "warn" and include_warnings)


MAX_WORKERS = 4  # each worker holds a decoded photo: memory must not grow with the machine's core count


def workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def analyse_folder(
    scan: Scan,
    options: Options,
    staging: Path | None,
    on_progress: ProgressCallback | None = None,
    max_workers: int | None = None,
    on_stage: StageCallback | None = None,
) -> list[ImageResult]:
    """Check every candidate (and stage its crop when `staging` is given); results in the scan's order.

    A callback that raises stops the run: photos not started yet are dropped, the ones in progress finish.
    """
    import cv2

    pool_size = min(max_workers or workers(), len(scan.candidates))
    cv2.setNumThreads(1 if pool_size > 1 else 0)  # the pool already uses every core
    results: dict[str, ImageResult] = {}
    total = len(scan.candidates)
    with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="dataset") as pool:
        try:
            futures = {pool.submit(analyse_one, cand, options, staging): cand for cand in scan.candidates}
            for done, future in enumerate(as_completed(futures), start=1):
                cand = futures[future]
                try:
                    results[cand.rel] = future.result()
                except Exception as exc:  # a bug or an exotic file must cost one image, not the whole run
                    if is_out_of_room(exc):  # ... but a full disk is not the photo's fault: stop the run
                        raise
                    failed = ImageResult(cand.rel, cand.category)
                    failed.checks.append(Check("readable", None, "reject", f"could not be processed ({exc})"))
                    results[cand.rel] = failed
                if on_progress is not None:
                    on_progress(done, total, cand.rel)
            ordered = [results[c.rel] for c in scan.candidates]
            mark_duplicates(ordered, pool, _pair_stage(on_stage, total))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return ordered


def analyse_one(cand: Candidate, options: Options, staging: Path | None) -> ImageResult:
    import cv2

    result = ImageResult(cand.rel, cand.category)
    if cand.refused:
        result.checks.append(Check("readable", None, "reject", cand.refused))
        return result
    try:
        decoded = decode(cand.path, options.resolution)
    except DecodeError as exc:
        result.checks.append(Check("readable", None, "reject", str(exc)))
        return result
    result.original_size = decoded.original_size
    result.file_format = decoded.file_format
    # Integer box reduction to a ~1024 px analysis copy: far cheaper than an arbitrary-ratio resample.
    pixels = decoded.pixels
    height, width = pixels.shape[:2]
    rgb = _reduce(pixels, math.ceil(max(width, height) / ANALYSIS_SIDE))
    to_original = decoded.original_size[0] / rgb.shape[1]

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # ~512 px copy for colour statistics and hashes: an exact 2x reduction (the analysis copy is 513-1024 px).
    small = rgb if max(rgb.shape[:2]) <= 512 else _reduce(rgb, 2)
    small_lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)
    result.thumbnail = _thumbnail(small)

    result.checks.append(check_resolution(decoded.original_size, options.resolution))
    faces = check_faces(detect_faces(rgb), to_original, options.resolution)
    result.checks += faces.checks
    planes = face_planes(rgb, faces.subject)
    result.checks.append(check_sharpness(grey, faces.subject))
    exposure, harsh = check_exposure(grey, planes)
    result.checks.append(exposure)
    result.checks.append(check_filters(small, small_lab))
    result.checks += check_eyes_and_covering(planes)
    result.estimates = estimate(grey, small, small_lab[..., 0], planes, faces.subject, harsh)
    result.hashes = phashes(small)
    # ORB wants ~512 px: the 512 px copy when it is that large (the 1024 px copy's own area resample cost 2 ms);
    # smaller copies lose the keypoints that match heavy crops, so those resample the analysis copy instead.
    near_orb_side = small is not rgb and max(small.shape[:2]) >= 0.9 * ORB_SIDE
    result.features = orb_features(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if near_orb_side else grey)
    result.caption = build_caption(
        options.caption_template, options.trigger_word, options.subject, result.estimates, cand.category
    )

    if options.text_check and result.verdict != "reject":  # OCR is slow: only for photos still in the running
        from tools.dataset.text import check_text

        result.checks.append(check_text(rgb))

    if options.same_person_check and faces.subject is not None and result.verdict != "reject":
        result.descriptor = descriptor(rgb, faces.subject)

    # The framing is planned in a dry run too: whether a crop to one person is possible is part of the verdict.
    if not result.kept(options.include_warnings):
        return result
    try:
        plan = plan_crop(
            options.crop,
            (rgb.shape[1], rgb.shape[0]),
            faces.subject,
            faces.others,
            result.estimates.distance,
            to_original,
        )
    except CropError as exc:
        result.checks.append(Check("crop", None, "reject", str(exc)))
        return result
    result.crop_note = plan.note
    if staging is None:
        return result
    source = pixels
    if decoded.scale > 1 and crop_side_px(plan, (width, height)) < options.resolution:
        source = decode(cand.path, 1 << 30).pixels  # this crop needs the full-resolution pixels
    square = render(source, plan, options.resolution)
    data = encode(square, options.image_format)
    result.prepared_thumbnail = _thumbnail(square)
    suffix = ".png" if options.image_format == "png" else ".jpg"
    staged = staging / (hashlib.sha1(cand.rel.encode()).hexdigest()[:16] + suffix)
    staged.write_bytes(data)
    result.prepared = staged
    return result


def _pair_stage(on_stage: StageCallback | None, photos: int) -> Callable[[int, int], None] | None:
    """Duplicate-pass progress as stage messages, at most one per ~10 % of the pairs."""
    if on_stage is None:
        return None
    on_stage(f"comparing {photos} photos for near-duplicates")
    last = [0.0]

    def on_pairs(done: int, total: int) -> None:
        if done == total or done / total - last[0] >= 0.1:
            last[0] = done / total
            on_stage(f"comparing {photos} photos for near-duplicates: {done}/{total} similar pairs compared")

    return on_pairs


def _thumbnail(rgb: Any) -> bytes:
    """A small JPEG for the contact sheet (the sheet of a 400-photo folder decoded every photo again: 15 s)."""
    import cv2

    factor = THUMBNAIL_SIDE / max(rgb.shape[:2])
    if factor < 1:
        size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return encode(rgb, "jpeg", quality=90)


def _reduce(pixels: Any, step: int) -> Any:
    """Exact step×step box means (a partial last row/column too): OpenCV for an even 2x, in a quarter of PIL's
    reduce() time with the same values; PIL otherwise."""
    import cv2
    import numpy as np
    from PIL import Image

    height, width = pixels.shape[:2]
    if step == 1:
        return pixels
    if step == 2 and width % 2 == 0 and height % 2 == 0:
        return cv2.resize(pixels, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    return np.asarray(Image.fromarray(pixels).reduce(step))
