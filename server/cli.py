"""Command line: `fal-video-mcp` serves MCP (stdio by default); `fal-video-mcp check-dataset DIR` checks photos."""

from __future__ import annotations

import argparse
import logging
import sys

from server import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fal-video-mcp",
        description="MCP server for training and running personal LoRA image models on fal.ai.",
    )
    parser.add_argument("--version", action="version", version=f"fal-video-mcp {__version__}")
    parser.add_argument(
        "--transport", choices=("stdio", "streamable-http"), default="stdio", help="MCP transport (default stdio)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="Bind address for streamable-http.")
    parser.add_argument("--port", type=int, default=8000, help="Port for streamable-http.")
    parser.add_argument("--log-level", default="WARNING", help="Log level for stderr (default WARNING).")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="Run the MCP server (the default).")
    check = commands.add_parser(
        "check-dataset",
        help="Check a folder of photos for LoRA training (no fal.ai key needed; nothing is uploaded).",
        description="Check a folder of photos of one person: per-photo verdicts, the mix of angles, expressions, "
        "distances, lighting and backgrounds against the recommended shares, and advice. Writes a contact sheet. "
        "The photos are only read.",
    )
    check.add_argument("folder", help="Folder of photos (subfolders count as categories).")
    check.add_argument("--trigger-word", default=None, help="Trigger word to validate and use in captions.")
    check.add_argument("--subject", default="person", help="Class word for captions (man, woman, person).")
    check.add_argument("--resolution", type=int, choices=(512, 768, 1024), default=1024, help="Target side in px.")
    check.add_argument(
        "--same-person", action="store_true", help="Flag photos of someone else (needs the likeness extra)."
    )
    check.add_argument("--sheet", default=None, help="Contact sheet PNG path (default ./<folder>-check.png).")
    check.add_argument("--json", action="store_true", help="Print the full result as JSON instead of a table.")
    check.add_argument(
        "--text-check",
        action="store_true",
        help="Also look for watermarks/text with OCR (needs the optional RapidOCR engine; ~0.4 s per photo).",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if args.command in (None, "serve"):
        from server.app import create_server

        server = create_server()
        if args.transport == "stdio":
            server.run("stdio")
        else:
            server.run("streamable-http", host=args.host, port=args.port)
        return
    if args.command == "check-dataset":
        from server.check_dataset import run_check

        raise SystemExit(run_check(args))
    parser.error(f"unknown command {args.command!r}")
