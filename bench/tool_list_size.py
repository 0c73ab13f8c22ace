"""What the tool list costs every conversation: the bytes and tokens (bytes ÷ 4) of the `tools/list` answer.

    python bench/tool_list_size.py            # totals and the budget
    python bench/tool_list_size.py --tools    # also one line per tool, largest first

Two figures, each against its budget: what the model reads (name + description + inputSchema of every tool)
and the full answer as sent on the wire (with annotations, titles and output schemas).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

MODEL_FACING_BUDGET = 4_000
FULL_BUDGET = 10_000


def tokens(size: int) -> int:
    return size // 4


def sizes(tools: list[dict[str, Any]]) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """(model-facing bytes, full bytes, per tool (model-facing, full)) of a tools/list answer in wire form."""
    per_tool = {}
    for tool in tools:
        facing = {key: tool[key] for key in ("name", "description", "inputSchema") if key in tool}
        per_tool[tool["name"]] = (len(_json(facing)), len(_json(tool)))
    return (
        len(_json([{k: t[k] for k in ("name", "description", "inputSchema") if k in t} for t in tools])),
        len(_json({"tools": tools})),
        per_tool,
    )


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


async def listed_tools() -> list[dict[str, Any]]:
    from server.app import create_server
    from server.config import Settings

    with tempfile.TemporaryDirectory() as home:
        async with Client(create_server(Settings(home=Path(home))), mode="legacy") as client:
            answer = await client.list_tools()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in answer.tools]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", action="store_true", help="one line per tool")
    options = parser.parse_args()
    tools = anyio.run(listed_tools)
    facing, full, per_tool = sizes(tools)
    print(f"{len(tools)} tools")
    print(
        f"  model-facing (name + description + inputSchema): {facing:7,d} B = {tokens(facing):6,d} tokens "
        f"(budget {MODEL_FACING_BUDGET:,d}: {tokens(facing) / MODEL_FACING_BUDGET:.0%})"
    )
    print(
        f"  full tools/list answer                          : {full:7,d} B = {tokens(full):6,d} tokens "
        f"(budget {FULL_BUDGET:,d}: {tokens(full) / FULL_BUDGET:.0%})"
    )
    if options.tools:
        print("\n  tool                        model-facing   full (bytes)")
        for name, (tool_facing, tool_full) in sorted(per_tool.items(), key=lambda item: -item[1][1]):
            print(f"  {name:28s} {tool_facing:10,d} {tool_full:8,d}")


if __name__ == "__main__":
    main()
