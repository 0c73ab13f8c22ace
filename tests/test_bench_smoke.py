"""The benchmark scripts run and print their figures (tiny sample sizes: this checks they work, not speed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_tool_overhead_prints_its_ratio() -> None:
    out = _run("bench/tool_overhead.py", "-n", "20", "--warmup", "2")
    assert "median" in out and "ratio to the 5 ms target" in out


def test_cold_start_prints_its_ratio_and_profile() -> None:
    out = _run("bench/cold_start.py", "-n", "1")
    assert "tools/list" in out and "ours ÷ bare:" in out and "mcp_types" in out
    heavy = next(line for line in out.splitlines() if "heavy modules imported at start" in line)
    assert "httpx" in heavy and heavy.endswith(": []")


def test_tool_list_size_prints_both_budgets() -> None:
    out = _run("bench/tool_list_size.py", "--tools")
    assert "model-facing (name + description + inputSchema)" in out and "budget 4,000" in out
    assert "full tools/list answer" in out and "budget 10,000" in out and "prompt_library" in out


def test_dataset_prep_prints_its_ratios() -> None:
    out = _run("bench/dataset_prep.py", "--count", "2", "--repeat", "1", "--resolution", "512")
    assert "ratio prepare / Pillow decode" in out and "/ OpenCV decode" in out
    assert "(target <= 2.0)" in out and "per-round ratios" in out and "same-person step" in out
    assert "glibc keeps freed memory" in out or sys.platform != "linux"


def test_memory_prints_peak_rss_per_core_count() -> None:
    out = _run("bench/memory.py", "--only", "big", "--count", "2", "--cores", "2", "--uncapped", "0")
    assert "worst peak with the cap" in out and "(target ≤ 1024 MB)" in out
    assert "peak on 2 cores" in out and "big: peak MB by cores 2: " in out
