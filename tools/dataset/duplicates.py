"""Near-duplicate photos: perceptual hash, then ORB + RANSAC for heavy crops of the same photo.

pHash Hamming ≤ 10 is a duplicate (the mirrored image counts as the same photo); the closest distinct photos of one
person were 24 apart. A heavily cropped copy changes the pHash (obama.jpg vs its partial-face crop: 28-30), so pairs
up to 32 apart are also matched geometrically: ORB keypoints of ~512 px grey copies, Lowe's ratio test, and a RANSAC
homography; ≥ 25 inliers is the same photo (the crop had 103, distinct photos 0). Of each group of near-duplicates
the best one (usable, larger, sharper) is kept and the others are rejected with the name of the one kept.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tools.dataset.checks import VERDICT_RANK, Check

if TYPE_CHECKING:
    from tools.dataset.analyse import ImageResult

MAX_DISTANCE = 10
# Only pairs this close are worth a geometric match. The doc says < 30; on the 512 px hash copy the real crop pair
# measures 30 (28 at other resamplings), so the gate keeps a margin: random 64-bit hashes average 32 apart.
ORB_MAX_PHASH = 33
ORB_SIDE = 512
# Matching cost grows with features² (~1.3 ms per pair at 400 on one core); at 400 a greyscale 800 px crop of a
# 1434x2333 photo keeps 49 inliers (31 at 300: too close to the threshold) and distinct photos stay at 0.
ORB_FEATURES = 400
ORB_RATIO = 0.75
ORB_MIN_INLIERS = 25
# Pre-screen: the 100 strongest keypoints of one photo against all of the other (~0.3 ms instead of ~1.2 ms). On the
# real photos and crops of them, same-photo pairs gave ≥ 10 ratio-test matches and distinct pairs ≤ 5.
PRESCREEN_KEYPOINTS = 100
PRESCREEN_MATCHES = 7
RANSAC_PX = 5.0
# Pairs are matched in batches on the thread pool. A batch that joins two groups shrinks the next to 8 (in a folder
# of many duplicates, later pairs are often joined already and skipped); one that joins none doubles it, up to 256
# (a batch of 8 kept 2 threads only ~1.1x busier than one; 256 made the pass 1.4x faster on distinct photos).
MATCH_BATCH, MAX_MATCH_BATCH = 8, 256
PHASH_SIZE = 8
_MIRROR_SIGNS = [(-1.0) ** k for k in range(PHASH_SIZE)]


@dataclass(frozen=True)
class OrbFeatures:
    points: Any  # float32 (n, 2), pixel coordinates in the ORB copy, strongest keypoint first
    descriptors: Any  # uint8 (n, 32), same order


def phashes(rgb: Any) -> tuple[Any, Any]:
    """imagehash.phash of the image and of its mirror, from one resize and one DCT.

    The steps are imagehash 4.3's phash (greyscale, 32×32 Lanczos, 2-D DCT-II, 8×8 low frequencies above their
    median). Mirroring a row flips the sign of its odd horizontal frequencies, so the mirror's hash needs no second
    image: tests check both against imagehash itself.
    """
    import imagehash
    import numpy as np
    import scipy.fftpack
    from PIL import Image

    side = PHASH_SIZE * 4
    pixels = np.asarray(Image.fromarray(rgb).convert("L").resize((side, side), Image.Resampling.LANCZOS))
    low = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)[:PHASH_SIZE, :PHASH_SIZE]
    mirrored = low * _MIRROR_SIGNS
    return imagehash.ImageHash(low > np.median(low)), imagehash.ImageHash(mirrored > np.median(mirrored))


def orb_features(grey: Any) -> OrbFeatures | None:
    """ORB keypoints of a ~512 px copy of a grey image (None when the image has too little texture)."""
    import cv2
    import numpy as np

    scale = ORB_SIDE / max(grey.shape[:2])
    if scale < 1:
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    keypoints, descriptors = cv2.ORB_create(nfeatures=ORB_FEATURES).detectAndCompute(grey, None)  # type: ignore[attr-defined]
    if descriptors is None or len(keypoints) < ORB_MIN_INLIERS:
        return None
    order = np.argsort([-k.response for k in keypoints], kind="stable")
    return OrbFeatures(np.array([keypoints[i].pt for i in order], dtype=np.float32), descriptors[order])


def _ratio_matches(query: Any, train: Any) -> tuple[Any, Any]:
    """Indices of query descriptors passing Lowe's ratio test, and their nearest train descriptor."""
    import cv2
    import numpy as np

    # batchDistance returns plain arrays: no per-match Python objects as with BFMatcher.knnMatch.
    dist, idx = cv2.batchDistance(query, train, cv2.CV_32S, normType=cv2.NORM_HAMMING, K=2)
    if dist.ndim < 2 or dist.shape[1] < 2:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    good = np.flatnonzero((idx[:, 0] >= 0) & (idx[:, 1] >= 0) & (dist[:, 0] < ORB_RATIO * dist[:, 1]))
    return good, idx[good, 0]


def orb_prescreen(a: OrbFeatures, b: OrbFeatures) -> bool:
    """Cheap test whether a pair can be the same photo (a full orb_inliers match follows when it is)."""
    good, _ = _ratio_matches(a.descriptors[:PRESCREEN_KEYPOINTS], b.descriptors)
    return len(good) >= PRESCREEN_MATCHES


def orb_inliers(a: OrbFeatures, b: OrbFeatures) -> int:
    """Keypoints of `a` that map onto `b` under one homography (RANSAC) after the ratio test."""
    import cv2

    good, nearest = _ratio_matches(a.descriptors, b.descriptors)
    if len(good) < ORB_MIN_INLIERS:  # RANSAC cannot find more inliers than matches
        return 0
    _, mask = cv2.findHomography(a.points[good], b.points[nearest], cv2.RANSAC, RANSAC_PX)
    return int(mask.sum()) if mask is not None else 0


def _distance(a: ImageResult, b: ImageResult) -> int:
    assert a.hashes is not None and b.hashes is not None
    return int(min(a.hashes[0] - b.hashes[0], a.hashes[0] - b.hashes[1]))


def _quality(item: ImageResult) -> tuple[int, int]:
    size = item.original_size or (0, 0)
    return (-VERDICT_RANK[item.verdict], size[0] * size[1])  # ties: the first in folder order is kept


def _evidence(
    a: ImageResult, b: ImageResult, close: tuple[int, str] | None, orb: tuple[int, str] | None
) -> tuple[int, str]:
    """Why `a` is a duplicate of the kept `b`: directly, or through the group's chain (a burst: 1≈2≈3)."""
    d = _distance(a, b)
    if d <= MAX_DISTANCE or (close is None and orb is None):
        return d, f"pHash distance {d}"
    if close is not None:
        nearest, other = close
        return d, f"pHash distance {nearest} to {other}, in the same group"
    assert orb is not None
    n, other = orb
    if other == b.rel:
        return d, f"a crop of the same photo: {n} matching ORB keypoints, pHash distance {d}"
    return d, f"a crop of the same photo: {n} matching ORB keypoints with {other}"


def mark_duplicates(
    results: list[ImageResult], pool: Executor | None = None, on_pairs: Callable[[int, int], None] | None = None
) -> int:
    """Add a reject 'duplicate' check to every near-duplicate but the best of its group; returns how many.

    Geometric matches run in batches on `pool` (OpenCV releases the GIL: 2 threads match 1.4-1.9x faster) with the
    outcome of the serial order: a pair already joined by an earlier match is skipped, then or when applied.
    ORB features are dropped from every result afterwards: they are only needed here. `on_pairs(done, total)`
    hears after each batch how many candidate pairs were settled (the pass is O(n²): 43 s for 400 distinct photos
    on 2 cores, where 70,000 of the 80,000 pairs passed the pHash gate).
    """
    hashed = [r for r in results if r.hashes is not None]
    parent = list(range(len(hashed)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    candidates = []
    close: dict[int, tuple[int, str]] = {}  # image → (distance, name) of its closest pHash near-duplicate
    for i in range(len(hashed)):
        for j in range(i + 1, len(hashed)):
            d = _distance(hashed[i], hashed[j])
            if d <= MAX_DISTANCE:
                parent[root(j)] = root(i)
                for k, other in ((i, j), (j, i)):
                    if d < close.get(k, (MAX_DISTANCE + 1, ""))[0]:
                        close[k] = (d, hashed[other].rel)
            elif d < ORB_MAX_PHASH and hashed[i].features is not None and hashed[j].features is not None:
                candidates.append((i, j))
    orb: dict[int, tuple[int, str]] = {}  # image → (inliers, name) of its strongest ORB match

    def match(pair: tuple[int, int]) -> int:
        a, b = hashed[pair[0]].features, hashed[pair[1]].features
        assert a is not None and b is not None
        return orb_inliers(a, b) if orb_prescreen(a, b) else 0

    start, batch = 0, MATCH_BATCH
    while start < len(candidates):
        todo = [(i, j) for i, j in candidates[start : start + batch] if root(i) != root(j)]
        start += batch
        found = pool.map(match, todo) if pool is not None else map(match, todo)
        joined = False
        for (i, j), n in zip(todo, found, strict=True):
            if n < ORB_MIN_INLIERS or root(i) == root(j):  # joined by an earlier pair of this batch
                continue
            for k, other in ((i, j), (j, i)):
                if n > orb.get(k, (0, ""))[0]:
                    orb[k] = (n, hashed[other].rel)
            parent[root(j)] = root(i)
            joined = True
        batch = MATCH_BATCH if joined else min(2 * batch, MAX_MATCH_BATCH)
        if on_pairs is not None:
            on_pairs(min(start, len(candidates)), len(candidates))
    for r in results:
        r.features = None
    groups: dict[int, list[int]] = {}
    for i in range(len(hashed)):
        groups.setdefault(root(i), []).append(i)
    marked = 0
    for members in groups.values():
        if len(members) < 2:
            continue
        best = max(members, key=lambda i: _quality(hashed[i]))
        for i in members:
            if i == best:
                continue
            d, how = _evidence(hashed[i], hashed[best], close.get(i), orb.get(i))
            hashed[i].checks.append(Check("duplicate", d, "reject", f"near-duplicate of {hashed[best].rel} ({how})"))
            staged = hashed[i].prepared
            if staged is not None:
                staged.unlink(missing_ok=True)  # a staged crop in our own data dir
                hashed[i].prepared = None
                hashed[i].prepared_thumbnail = None
            marked += 1
    return marked
