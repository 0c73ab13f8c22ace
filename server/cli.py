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
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="Bind address for streamable-http (default 127.0.0.1; any other needs FAL_VIDEO_MCP_HTTP_TOKEN).",
    )
    parser.add_argument("--port", type=int, default=8000, help="Port for streamable-http.")
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="Also accept this Host header (streamable-http; repeatable; 'name:*' for any port).",
    )
    parser.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="Also accept this browser Origin, e.g. https://app.example (streamable-http; repeatable).",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="Level for every logger, uvicorn's included; logs go to stderr (default WARNING).",
    )
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
        "--no-same-person",
        dest="same_person",
        action="store_false",
        help="Do not reject photos of someone other than the person most photos show (on by default).",
    )
    check.add_argument(
        "--exclude", action="append", default=[], metavar="PHOTO", help="Leave this photo out (repeatable)."
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
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if args.command in (None, "serve"):
        if args.transport == "stdio":
            from server.app import create_server

            create_server().run("stdio")
        else:
            _serve_http(args)
        return
    if args.command == "check-dataset":
        from server.check_dataset import run_check

        raise SystemExit(run_check(args))
    parser.error(f"unknown command {args.command!r}")


def _serve_http(args: argparse.Namespace) -> None:
    from server.config import ConfigError, Settings
    from server.http_transport import check_bind, serve

    try:
        settings = Settings.from_env()
        token = settings.http_token.get_secret_value() if settings.http_token else None
        check_bind(args.host, token)  # before the server and its tools are imported

        from server.app import create_server

        serve(
            create_server(settings),
            host=args.host,
            port=args.port,
            token=token,
            log_level=args.log_level,
            extra_hosts=args.allowed_host,
            extra_origins=args.allowed_origin,
        )
    except ConfigError as exc:
        print(f"fal-video-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
