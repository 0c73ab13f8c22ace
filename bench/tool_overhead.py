"""In-memory MCP tool-call overhead: median time of one `tools/call` round trip for a cheap tool.

Runs our real server (create_server, lifespan, SQLite on a temporary data dir) behind the SDK's in-memory
client, and, for comparison, a bare MCPServer with a no-op tool: the difference is what our code adds.

    python bench/tool_overhead.py                      # training_status without an id, 500 calls
    python bench/tool_overhead.py --tool prompt_library --args '{"action": "list"}' -n 1000
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.server import MCPServer

TARGET_MS = 5.0


async def _time_calls(
    server: MCPServer, tool: str, args: dict[str, Any], n: int, warmup: int
) -> tuple[list[float], str]:
    async with Client(server, mode="legacy") as client:
        outcome = ""
        for _ in range(warmup):
            result = await client.call_tool(tool, args)
            outcome = "error result" if result.is_error else "ok"
            text = " ".join(getattr(block, "text", "") for block in result.content)
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            await client.call_tool(tool, args)
            samples.append((time.perf_counter() - started) * 1000)
    return samples, f"{outcome}: {' '.join(text.split())[:120]}"


def _bare_server() -> MCPServer:
    bare = MCPServer("bare")

    @bare.tool()
    async def noop() -> dict[str, Any]:
        """Does nothing."""
        return {"ok": True}

    return bare


def _summary(samples: list[float]) -> str:
    samples = sorted(samples)
    p90 = samples[int(len(samples) * 0.9) - 1]
    return f"median {statistics.median(samples):.3f} ms, p90 {p90:.3f} ms, min {samples[0]:.3f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", default="training_status")
    parser.add_argument("--args", default="{}", help="JSON arguments for the tool.")
    parser.add_argument("-n", type=int, default=500, help="Measured calls.")
    parser.add_argument("--warmup", type=int, default=50)
    options = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the SDK logs every ToolError; keep the output to the figures

    from server.app import create_server
    from server.config import Settings

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), fal_key="bench-key-not-used")
        ours, outcome = await _time_calls(
            create_server(settings), options.tool, json.loads(options.args), options.n, options.warmup
        )
    bare, _ = await _time_calls(_bare_server(), "noop", {}, options.n, options.warmup)
    median = statistics.median(ours)
    print(f"python {sys.version.split()[0]}, {options.n} calls after {options.warmup} warm-up")
    print(f"{options.tool} {options.args} ({outcome})")
    print(f"  ours : {_summary(ours)}")
    print(f"  bare SDK no-op tool: {_summary(bare)}")
    print(f"  our code adds ~{median - statistics.median(bare):.3f} ms per call over the bare SDK")
    verdict = "OK" if median <= TARGET_MS else "OVER"
    print(f"  ratio to the {TARGET_MS:.0f} ms target: {median / TARGET_MS:.2f}x ({verdict})")


if __name__ == "__main__":
    anyio.run(main)
