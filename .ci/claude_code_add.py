#!/usr/bin/env python3
"""Run the `claude mcp add` lines that README.md and examples/README.md give, with the real Claude Code CLI.

Installs @anthropic-ai/claude-code (major 2) from npm into a temp dir, and in a temp HOME and a temp project:
each documented line must succeed and write the `fal-video` entry to the project's .mcp.json; then
`claude mcp list` must show the server connected (the project's servers approved in the temp HOME, as a person
would in the trust dialog). Skipped, with a message, when npm is missing or cannot install the CLI.
Usage: .venv/bin/python .ci/claude_code_add.py
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", ROOT / "examples" / "README.md")
PLACEHOLDER = re.compile(r"/abs/path/to/\.venv/bin/fal-video-mcp|<checkout>/\.venv/bin/fal-video-mcp")
ADD_LINE = re.compile(r"claude mcp add [^`\n]+")


def documented_lines() -> list[tuple[Path, str]]:
    found = [(doc, match.group(0).strip()) for doc in DOCS for match in ADD_LINE.finditer(doc.read_text())]
    if not found:
        sys.exit("FAIL: no `claude mcp add` line found in README.md or examples/README.md")
    return found


def install_cli(prefix: Path) -> Path | None:
    npm = shutil.which("npm")
    if npm is None:
        print("SKIPPED: npm is not installed, so Claude Code's CLI cannot be checked.")
        return None
    done = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "@anthropic-ai/claude-code@2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    cli = prefix / "node_modules" / ".bin" / "claude"
    if done.returncode != 0 or not cli.exists():
        print(f"SKIPPED: npm could not install @anthropic-ai/claude-code: {done.stderr.strip()[-500:]}")
        return None
    return cli


def run(cli: Path, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(cli), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def check_line(cli: Path, doc: Path, line: str, server: str, work: Path) -> list[str]:
    home, project = work / "home", work / "project"
    for path in (home, project):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAL", "CLAUDE", "ANTHROPIC"))}
    env.update({"HOME": str(home), "FAL_KEY": "ci-placeholder-key"})
    args = shlex.split(PLACEHOLDER.sub(server, line))[1:]
    where = f"{doc.relative_to(ROOT)}: {line}"
    added = run(cli, args, project, env)
    if added.returncode != 0:
        return [f"{where}\n  exit {added.returncode}: {(added.stderr or added.stdout).strip()[-400:]}"]
    config = project / ".mcp.json"
    if not config.exists():
        return [f"{where}\n  wrote no .mcp.json (use --scope project, as documented)"]
    entry = json.loads(config.read_text())["mcpServers"].get("fal-video")
    problems = []
    if entry is None or entry.get("command") != server or entry.get("env", {}).get("FAL_KEY") != "${FAL_KEY}":
        problems.append(f"{where}\n  unexpected .mcp.json entry: {entry}")
    state_file = home / ".claude.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    state.setdefault("projects", {})[str(project)] = {
        "enabledMcpjsonServers": ["fal-video"],
        "hasTrustDialogAccepted": True,
    }
    state_file.write_text(json.dumps(state))
    listed = run(cli, ["mcp", "list"], project, env)
    row = next((r for r in listed.stdout.splitlines() if r.startswith("fal-video:")), "")
    if "Connected" not in row:
        problems.append(f"{where}\n  `claude mcp list` did not connect: {listed.stdout.strip()[-400:]}")
    return problems


def main() -> int:
    server = ROOT / ".venv" / "bin" / "fal-video-mcp"
    if not server.exists():
        sys.exit(f"FAIL: {server} is missing; install the project into .venv first (README quick start).")
    with tempfile.TemporaryDirectory(prefix="claude-code-check-") as tmp:
        cli = install_cli(Path(tmp) / "cli")
        if cli is None:
            return 0
        version = run(cli, ["--version"], Path(tmp), {**os.environ, "HOME": tmp}).stdout.strip()
        problems = []
        lines = documented_lines()
        for doc, line in lines:
            problems += check_line(cli, doc, line, str(server), Path(tmp) / "work")
    if problems:
        print(f"FAIL with Claude Code {version}:\n" + "\n".join(problems))
        return 1
    print(f"OK: {len(lines)} documented `claude mcp add` line(s) work with Claude Code {version}; server connected.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
