"""Cold start: spawn the stdio server, time until its `tools/list` answer, next to a bare MCP SDK server.

    python bench/cold_start.py          # 15 interleaved rounds (single starts vary a lot: fewer say little)
    python bench/cold_start.py -n 25

The figure is ours ÷ bare: spawn → initialize → tools/list for `python -m server` against the same for a bare
MCP SDK 2.x server with one tool (what any MCPServer pays), measured in alternating rounds of one run so that
machine load hits both alike (target ≤ 1.15). Then what ours is made of: interpreter start, `import mcp.server`,
`import server.app`, and `python -X importtime -c "import server.app"` summed by top-level package (self time).

Our modules are byte-compiled first, as pip compiles the SDK's when it installs it: where PYTHONDONTWRITEBYTECODE
is set (this workplace sets it), an editable checkout would otherwise compile every module it imports at every
start, which says nothing about the server's own start-up work. Every round starts with the data dir that the
first start created (its database and folders), as every start after the first one on a machine does; that first
start is printed on its own.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.15
HEAVY = {"fal_client", "httpx", "PIL", "cv2", "numpy", "yaml", "jsonschema"}
OURS = ("server", "tools", "prompts")
BARE_SERVER = """
from mcp.server import MCPServer

server = MCPServer("bare")


@server.tool()
def ping() -> str:
    \"\"\"Answer pong.\"\"\"
    return "pong"


server.run()
"""


def _env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAL")}
    env.update({"FAL_KEY": "bench-key-not-used", "FAL_VIDEO_MCP_HOME": home})
    return env


def _time_process(code: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
        samples.append(time.perf_counter() - started)
    return samples


def _time_import(module: str) -> float:
    """Seconds spent importing `module`, measured inside a fresh interpreter (excludes start and shutdown)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip())


async def _stdio_to_tools_list(args: list[str], home: str) -> tuple[float, int]:
    params = StdioServerParameters(command=sys.executable, args=args, env=_env(home), cwd=str(ROOT))
    started = time.perf_counter()
    async with Client(params) as client:
        count = len((await client.list_tools()).tools)
        return time.perf_counter() - started, count


def _import_profile() -> tuple[dict[str, float], float]:
    """Self time (s) per top-level package for `import server.app`, and the total."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import server.app"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stderr
    by_package: dict[str, float] = defaultdict(float)
    total = 0.0
    for line in out.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        by_package[name.split(".")[0]] += int(self_us) / 1e6
        total += int(self_us) / 1e6
    return dict(by_package), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=15)
    options = parser.parse_args()

    for package in ("server", "tools", "prompts"):
        compileall.compile_dir(ROOT / package, quiet=1)
    _time_process("import server.app", 1)  # warm the disk cache
    with tempfile.TemporaryDirectory() as scratch:
        bare_script = Path(scratch) / "bare_server.py"
        bare_script.write_text(BARE_SERVER)
        home = str(Path(scratch) / "home")
        anyio.run(_stdio_to_tools_list, [str(bare_script)], home)
        first_start, _ = anyio.run(_stdio_to_tools_list, ["-m", "server"], home)
        # Interleaved rounds, so that load from other processes hits every measurement alike.
        rounds: dict[str, list[float]] = defaultdict(list)
        tools = 0
        for index in range(options.n):
            pair = [("ours", ["-m", "server"]), ("bare", [str(bare_script)])]
            for label, args in pair if index % 2 == 0 else pair[::-1]:
                seconds, count = anyio.run(_stdio_to_tools_list, args, home)
                rounds[label].append(seconds)
                tools = count if label == "ours" else tools
            rounds["ratio"].append(rounds["ours"][-1] / rounds["bare"][-1])
            rounds["interpreter"] += _time_process("pass", 1)
            rounds["sdk"].append(_time_import("mcp.server"))
            rounds["imports"].append(_time_import("server.app"))
    ours, bare, interpreter, sdk, imports = (
        statistics.median(rounds[label]) for label in ("ours", "bare", "interpreter", "sdk", "imports")
    )
    lazy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, server.app; server.app.create_server(); "
            f"print(sorted({HEAVY!r} & set(sys.modules)), sum(m.split('.')[0] in {OURS!r} for m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()
    by_package, total = _import_profile()
    ratio = ours / bare

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {options.n} interleaved rounds")
    print(f"  spawn → initialize → tools/list, ours ({tools} tools): {ours * 1000:7.0f} ms")
    print(f"  the same, bare MCP SDK server with one tool  : {bare * 1000:7.0f} ms")
    print(f"  ours, the first start (creates the data dir) : {first_start * 1000:7.0f} ms (one sample)")
    verdict = "OK" if ratio <= TARGET_RATIO else "OVER"
    rounds_text = ", ".join(f"{r:.2f}" for r in rounds["ratio"])
    print(f"  ours ÷ bare: {ratio:.2f} (target ≤ {TARGET_RATIO}: {verdict}); per round: {rounds_text}")
    print(f"  interpreter start (python -c pass)        : {interpreter * 1000:7.0f} ms")
    print(f"  import mcp.server (the SDK, in-process)   : {sdk * 1000:7.0f} ms")
    print(f"  import server.app (in-process)            : {imports * 1000:7.0f} ms  (+{(imports - sdk) * 1000:.0f} ms)")
    heavy, loaded = lazy.rsplit(" ", 1)
    print(f"  heavy modules imported at start ({', '.join(sorted(HEAVY))}): {heavy}")
    print(f"  our modules imported at start: {loaded}")
    print(f"\nimport server.app, self time by top-level package (total {total * 1000:.0f} ms):")
    for name, seconds in sorted(by_package.items(), key=lambda item: -item[1])[:10]:
        print(f"  {name:24s} {seconds * 1000:6.0f} ms  {seconds / total:4.0%}")


if __name__ == "__main__":
    main()
