"""Benchmark: the server's peak memory (VmHWM) while prepare_dataset checks a decompression-bomb set and a big folder.

Each case runs in a fresh server process (the real stdio MCP server, on a fresh data dir, upload off) and prints the
peak resident memory the kernel recorded for it. The core count is simulated (os.sched_getaffinity answers N cores)
to show that the worker threads, and with them the memory, stop growing at the cap; one extra row lifts the cap to
show what it holds back. Target: <= 1 GB on 2 cores, and not growing with the core count. Linux only (/proc).

Folders (generated in a temp dir):
- bombs: four 81 MP PNGs (~250 KB each), two 46 MP PNGs (under the 50 MP cap: decoded whole, then reduced),
  two 87 MP JPEGs with a face (drafted, and cropped from a 24 MP decode), four ordinary 12 MP photos.
- big: 50 generated 12 MP JPEGs (bench/dataset_prep.py's photos).
The generated photos share one face and four scenes, so the duplicate pass keeps only one of them and the run ends
refusing to write a dataset of one photo; every photo has been decoded, checked and cropped by then.

    python bench/memory.py [--cores 1,2,8,64] [--uncapped 16] [--count 50] [--only bombs,big]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dataset_prep import make_photos  # noqa: E402

SERVER = """
import os, sys
from pathlib import Path
Path(os.environ["BENCH_PID_FILE"]).write_text(str(os.getpid()))
cores = int(os.environ["BENCH_CORES"])
os.sched_getaffinity = lambda pid: set(range(cores))
if os.environ.get("BENCH_MAX_WORKERS"):
    import tools.dataset.analyse
    tools.dataset.analyse.MAX_WORKERS = int(os.environ["BENCH_MAX_WORKERS"])
from server.cli import main
main([])
"""


def bomb_png(path: Path, width: int, height: int) -> None:
    """A solid RGB PNG of any size in a few hundred KB, written row by row (never held in memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    deflate = zlib.compressobj(1)
    row = bytes(1 + 3 * width)  # filter byte + black pixels
    body = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def make_bombs(folder: Path) -> None:
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True)
    bomb_png(folder / "bomb-1.png", 9000, 9000)
    for n in (2, 3, 4):
        (folder / f"bomb-{n}.png").write_bytes((folder / "bomb-1.png").read_bytes())
    bomb_png(folder / "big-1.png", 6800, 6800)
    bomb_png(folder / "big-2.png", 6800, 6790)
    astronaut = Image.fromarray(skimage.data.astronaut())
    for n, size in ((1, (10800, 8100)), (2, (8100, 10800))):
        canvas = Image.fromarray(skimage.data.coffee()).resize(size)
        canvas.paste(astronaut.resize((2400, 2400)), (size[0] // 3, size[1] // 4))
        canvas.save(folder / f"huge-{n}.jpg", quality=85)
    photos = folder / "ordinary"
    photos.mkdir()
    make_photos(photos, 4)
    print(f"  bombs: {sum(1 for _ in folder.rglob('*.*'))} files, {_size_mb(folder):.0f} MB on disk", flush=True)


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


async def measure(folder: Path, cores: int, max_workers: int | None) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters

    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        pid_file = Path(tmp) / "pid"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAL")}
        env.update(
            {
                "FAL_VIDEO_MCP_HOME": str(Path(tmp) / "home"),
                "BENCH_PID_FILE": str(pid_file),
                "BENCH_CORES": str(cores),
                "BENCH_MAX_WORKERS": str(max_workers or ""),
            }
        )
        params = StdioServerParameters(command=sys.executable, args=["-c", SERVER], env=env, cwd=str(ROOT))
        async with Client(params) as client:
            idle = _peak_mb(int(pid_file.read_text()))
            started = time.perf_counter()
            args = {"folder": str(folder), "trigger_word": "BNCHX", "upload": False, "wait_seconds": 30}
            result = await client.call_tool("prepare_dataset", args)
            while not result.is_error and (result.structured_content or {}).get("status") == "running":
                run_id = result.structured_content["run_id"]  # type: ignore[index]
                result = await client.call_tool("dataset_status", {"run_id": run_id, "wait_seconds": 30})
            seconds = time.perf_counter() - started
            peak = _peak_mb(int(pid_file.read_text()))
            from tools.dataset.analyse import MAX_WORKERS

            workers = min(cores, max_workers or MAX_WORKERS)
        if result.is_error:
            text = " ".join(getattr(block, "text", "") for block in result.content)
            found = re.search(r"Only (\d+) of (\d+) photos are usable", text)
            outcome = f"all {found[2]} checked, {found[1]} usable: nothing written" if found else text[:80]
        else:
            data = result.structured_content or {}
            outcome = f"{data.get('image_count')} kept, {data.get('rejected_count')} rejected"
    return {
        "cores": cores,
        "workers": workers,
        "idle_mb": idle,
        "peak_mb": peak,
        "seconds": seconds,
        "outcome": outcome,
    }


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc (Linux only)")


async def run(args: argparse.Namespace) -> None:
    real_cores = len(os.sched_getaffinity(0))
    print(f"Python {sys.version.split()[0]}, {real_cores} real CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-mem-folders-") as tmp:
        bombs, big = Path(tmp) / "bombs", Path(tmp) / "big"
        print("generating folders ...", flush=True)
        if "bombs" in args.only:
            make_bombs(bombs)
        if "big" in args.only:
            big.mkdir()
            make_photos(big, args.count)
            print(f"  big: {args.count} × 12 MP JPEG, {_size_mb(big):.0f} MB on disk", flush=True)
        configs: list[tuple[int, int | None]] = [(cores, None) for cores in args.cores]
        if args.uncapped:
            configs.append((args.uncapped, args.uncapped))
        rows = []
        print(f"\n{'folder':<8}{'cores':>6}{'workers':>8}{'idle MB':>9}{'peak MB':>9}{'time s':>8}  outcome")
        for name, folder in (("bombs", bombs), ("big", big)):
            if name not in args.only:
                continue
            for cores, cap in configs:
                row = await measure(folder, cores, cap)
                row["folder"] = name
                rows.append(row)
                label = f"{row['workers']}{'*' if cap else ''}"
                print(
                    f"{name:<8}{cores:>6}{label:>8}{row['idle_mb']:>9.0f}{row['peak_mb']:>9.0f}"
                    f"{row['seconds']:>8.1f}  {row['outcome']}",
                    flush=True,
                )
        if args.uncapped:
            print(f"* the worker cap lifted to {args.uncapped}: what the cap holds back")
        capped = [r for r in rows if r["cores"] in args.cores]
        worst = max(r["peak_mb"] for r in capped)
        two = [r["peak_mb"] for r in capped if r["cores"] == 2]
        print(f"\nworst peak with the cap: {worst:.0f} MB (target ≤ 1024 MB) → {worst / 1024:.2f} of the target")
        if two:
            print(f"peak on 2 cores: {max(two):.0f} MB → {max(two) / 1024:.2f} of the target")
        for name in args.only:
            by_cores = {r["cores"]: r["peak_mb"] for r in capped if r["folder"] == name}
            peaks = ", ".join(f"{cores}: {mb:.0f}" for cores, mb in sorted(by_cores.items()))
            low, high = min(by_cores), max(by_cores)
            print(f"{name}: peak MB by cores {peaks}; {high} ÷ {low} cores = {by_cores[high] / by_cores[low]:.2f}")
        if args.json:
            print(json.dumps(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", default="1,2,8,64", help="simulated core counts (comma-separated)")
    parser.add_argument("--uncapped", type=int, default=16, help="also run with the worker cap lifted to N (0: off)")
    parser.add_argument("--count", type=int, default=50, help="photos in the big folder")
    parser.add_argument("--only", default="bombs,big", help="which folders to measure (comma-separated)")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args()
    args.cores = [int(c) for c in args.cores.split(",")]
    args.only = [name for name in ("bombs", "big") if name in args.only.split(",")]
    anyio.run(run, args)


if __name__ == "__main__":
    main()
