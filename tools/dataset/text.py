"""Optional text / watermark check with RapidOCR (PP-OCRv4 ONNX models that ship inside its wheel).

Rule (docs/dataset-analysis.md): text whose box centre lies in the outer 15 % border, or a word repeated across the
photo (a tiled watermark), is a watermark → reject: a LoRA learns a watermark like any other detail and reproduces
it in generated images. Any other legible text (a sign, a T-shirt print) → warn: it may be learned too, but it is
part of the scene and the person decides. OCR costs ~0.3-0.5 s per photo on one core, so the check is opt-in
(prepare_dataset text_check=true, check-dataset --text-check) and runs only on photos that passed every other check.

rapidocr_onnxruntime declares opencv-python as a dependency, which would replace our opencv-python-headless, so it is
installed with --no-deps plus the three packages it really imports (onnxruntime, pyclipper, shapely).
"""

from __future__ import annotations

import queue
import re
from collections import Counter
from typing import Any

from server.errors import UserError
from tools.dataset.checks import Check

INSTALL_COMMANDS = (
    "pip install --no-deps 'rapidocr_onnxruntime>=1.4,<2'",
    "pip install 'onnxruntime>=1.17,<2' 'pyclipper>=1.3,<2' 'shapely>=2,<3'",
)
BORDER = 0.15
MIN_SCORE = 0.6  # recognition confidence; below it the "text" is usually texture
MIN_CHARS = 3  # letters or digits in one box: single glyphs are mostly false alarms on fabric and foliage
REPEATS = 3  # a word of ≥ 3 characters seen this often is a tiled watermark
DET_SIDE = 960  # detection input long side (RapidOCR's default upscales the short side to 736: slower, no gain)

_engines: queue.SimpleQueue[Any] = queue.SimpleQueue()  # one engine per concurrent caller, reused across runs


def install_hint() -> str:
    return " && ".join(INSTALL_COMMANDS)


def require_ocr() -> None:
    """Raise a UserError with the install commands when RapidOCR cannot be imported."""
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except Exception as exc:  # ImportError, or a missing runtime dependency inside it
        raise UserError(
            f"text_check needs the optional OCR engine, which is not installed ({exc}). Install it into the "
            f"server's Python environment with: {install_hint()} — the --no-deps keeps RapidOCR from replacing "
            "opencv-python-headless with opencv-python. Or call again without text_check."
        ) from exc


def method_note(checked: bool) -> str:
    if checked:
        return (
            "Text and watermarks were checked with RapidOCR (text in the outer 15% border or a repeated word = "
            "watermark, rejected; other legible text = warning); very small, faint or stylised text can be missed."
        )
    return (
        "Text and watermarks were not checked: pass text_check=true (check-dataset --text-check) after installing "
        f"the optional OCR engine ({install_hint()}), or look for logos and captions yourself."
    )


def _engine() -> Any:
    try:
        return _engines.get_nowait()
    except queue.Empty:
        from rapidocr_onnxruntime import RapidOCR

        # One thread per engine: the dataset thread pool already keeps every core busy.
        return RapidOCR(
            intra_op_num_threads=1, inter_op_num_threads=1, det_limit_type="max", det_limit_side_len=DET_SIDE
        )


def read_text(rgb: Any) -> list[tuple[str, float, float]]:
    """(text, centre x, centre y) of every confident text line, centres as fractions of the image size."""
    import numpy as np

    engine = _engine()
    try:
        # A RapidOCR engine keeps per-call state, so one engine never serves two threads at once.
        found, _ = engine(np.ascontiguousarray(rgb[..., ::-1]), use_cls=False)
    finally:
        _engines.put(engine)
    height, width = rgb.shape[:2]
    lines = []
    for box, text, score in found or []:
        if float(score) < MIN_SCORE or sum(ch.isalnum() for ch in text) < MIN_CHARS:
            continue
        centre = np.asarray(box, dtype=float).mean(axis=0)
        lines.append((text.strip(), float(centre[0]) / width, float(centre[1]) / height))
    return lines


def _border(x: float, y: float) -> str | None:
    vertical = "top" if y < BORDER else "bottom" if y > 1 - BORDER else ""
    horizontal = "left" if x < BORDER else "right" if x > 1 - BORDER else ""
    if vertical and horizontal:
        return f"{vertical}-{horizontal} corner"
    return f"{vertical or horizontal} border" if vertical or horizontal else None


def _quote(texts: list[str], limit: int = 60) -> str:
    joined = " | ".join(dict.fromkeys(texts))
    return joined if len(joined) <= limit else joined[: limit - 1] + "…"


def classify(lines: list[tuple[str, float, float]]) -> Check:
    """Verdict for the text lines found in one photo."""
    if not lines:
        return Check("text", None, "ok", "no text found")
    texts = [t for t, _, _ in lines]
    words = Counter(w for t in texts for w in re.findall(r"\w{3,}", t.lower()))
    repeated = [w for w, n in words.items() if n >= REPEATS]
    if repeated:
        return Check(
            "text",
            _quote(texts),
            "reject",
            f"watermark: {repeated[0]!r} repeated {words[repeated[0]]}x across the photo (a model learns it)",
        )
    in_border = [(t, where) for t, x, y in lines if (where := _border(x, y))]
    if in_border:
        text, where = in_border[0]
        return Check(
            "text", _quote([t for t, _ in in_border]), "reject", f"watermark or caption {text!r} in the {where}"
        )
    return Check(
        "text", _quote(texts), "warn", f"text in the scene {_quote(texts)!r}: it may show up in generated images"
    )


def check_text(rgb: Any) -> Check:
    return classify(read_text(rgb))
