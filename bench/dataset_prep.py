"""Benchmark: prepare 30 generated 12-megapixel JPEGs vs. merely decoding them once at full size.

Prints prepare time ÷ full-decode time, both measured in this one run with the same worker count
(the thread pool prepare_dataset uses). Target: ≤ 1.5.

    python bench/dataset_prep.py [--count 30] [--resolution 1024]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_photos(folder: Path, count: int) -> None:
    """12 MP (4000×3000) JPEGs: a real scene (scikit-image photos) enlarged, a real face pasted in, sensor-like grain.

    The grain matters: how much of a JPEG's decode time is entropy decoding (which draft decoding cannot skip)
    depends on the content. Mild grain (sigma 3) gives files of a phone photo's size; the bench prints the
    draft-decode ÷ full-decode ratio so the content's effect is visible.
    """
    import numpy as np
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(7)
    # Framing follows the guide's mix: half close-ups (head and shoulders), a quarter medium, a quarter wide.
    astronaut = Image.fromarray(skimage.data.astronaut())
    head = astronaut.crop((120, 10, 360, 310))
    faces = [
        head.resize((2320, 2900)),
        head.resize((2240, 2800)),
        astronaut.resize((2900, 2900)),
        astronaut.resize((1400, 1400)),
    ]
    scenes = [skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket(), skimage.data.immunohistochemistry()]
    for i in range(count):
        scene = Image.fromarray(scenes[i % len(scenes)]).resize((4000, 3000), Image.Resampling.BICUBIC)
        face = faces[i % len(faces)]
        x, y = int(rng.integers(0, 4000 - face.width)), int(rng.integers(0, 3000 - face.height + 1))
        scene.paste(face.rotate(rng.uniform(-8, 8)), (x, y))
        grain = rng.normal(0, 3, (3000, 4000, 1)).astype(np.float32)
        pixels = (np.asarray(scene, dtype=np.float32) + grain).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"photo_{i:03d}.jpg", quality=90)


def decode_full(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as img:
        img.load()


def decode_draft(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as img:
        img.draft("RGB", (img.width // 2, img.height // 2))
        img.load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--resolution", type=int, default=1024, choices=(512, 768, 1024))
    parser.add_argument("--workers", type=int, default=None, help="Threads for both passes (default: all cores).")
    parser.add_argument("--repeat", type=int, default=5, help="Interleaved rounds; the fastest of each is used.")
    args = parser.parse_args()

    from tools.dataset.analyse import Options, analyse_folder, workers
    from tools.dataset.scan import scan_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder, staging = Path(tmp) / "photos", Path(tmp) / "staging"
        folder.mkdir()
        staging.mkdir()
        print(f"generating {args.count} 12 MP JPEGs ...", file=sys.stderr)
        make_photos(folder, args.count)
        paths = sorted(folder.iterdir())
        size_mb = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
        pool = args.workers or workers()
        # Warm-up on the measured path (same options, workers and staging): imports, models, page cache.
        analyse_folder(scan_folder(folder), Options("SIDAI", resolution=args.resolution), staging, max_workers=pool)
        with ThreadPoolExecutor(max_workers=pool) as executor:
            list(executor.map(decode_full, paths))
        decode_runs, sequential_runs, prepare_runs = [], [], []
        for _ in range(args.repeat):  # interleaved, so background load hits both alike; fastest round counts
            started = time.perf_counter()
            for path in paths:
                decode_full(path)
            sequential_runs.append(time.perf_counter() - started)
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=pool) as executor:
                list(executor.map(decode_full, paths))
            decode_runs.append(time.perf_counter() - started)
            started = time.perf_counter()
            options = Options("SIDAI", resolution=args.resolution)
            results = analyse_folder(scan_folder(folder), options, staging, max_workers=pool)
            prepare_runs.append(time.perf_counter() - started)
        decode_s, prepare_s, sequential_s = min(decode_runs), min(prepare_runs), min(sequential_runs)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=pool) as executor:
            list(executor.map(decode_draft, paths))
        draft_s = time.perf_counter() - started
        staged = sum(1 for r in results if r.prepared is not None)
        duplicates = sum(1 for r in results if any(c.name == "duplicate" and c.verdict == "reject" for c in r.checks))
    print(f"workers: {pool}; {len(paths)} photos 4000x3000, {size_mb:.1f} MB each")
    print(f"decode once at full size: {decode_s:.2f} s ({decode_s / len(paths) * 1000:.0f} ms/photo wall)")
    print(f"1/2-scale draft decode alone: {draft_s / decode_s:.2f} of the full decode")
    print(f"prepare (check + crop + {args.resolution}px JPEG): {prepare_s:.2f} s, {staged}/{len(paths)} staged")
    if duplicates:
        # Every photo was still checked and cropped; the duplicate pass runs last and drops the staged copies.
        print(
            f"  {duplicates} flagged as near-duplicates: the generated photos reuse 4 scenes and one face, so the "
            "ORB duplicate pass does its worst-case work (every pair passes the pHash gate)"
        )
    print(f"decode once at full size, one thread: {sequential_s:.2f} s")
    print(f"ratio prepare / decode ({pool} threads each): {prepare_s / decode_s:.2f} (target <= 1.5)")
    print(f"ratio prepare / single-threaded decode: {prepare_s / sequential_s:.2f}")
    paired = sorted(p / d for p, d in zip(prepare_runs, decode_runs, strict=True))
    print(f"per-round ratios (same round, for the spread): {', '.join(f'{r:.2f}' for r in paired)}")


if __name__ == "__main__":
    main()
