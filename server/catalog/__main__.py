"""`python -m server.catalog build --from DIR | --from-api URL` writes the shipped snapshot;
`python -m server.catalog refresh` reads fal's Platform API into the cache and prints what changed."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import anyio

from server.catalog import snapshot
from server.catalog.platform import CATEGORIES, PlatformClient, PlatformUnavailable
from server.catalog.service import Catalog, RefreshReport
from server.config import ConfigError, Settings


async def _from_api(base: str, key: str | None) -> snapshot.Snapshot:
    async with PlatformClient(base, key) as client:
        pages = [{"models": await client.models(category=category)} for category in CATEGORIES]
        ids = [raw["endpoint_id"] for page in pages for raw in page["models"] if isinstance(raw, dict)]
        prices = [{"prices": await client.prices(ids)}]
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return snapshot.from_answers(pages, prices, source=f"fal Platform API at {base}", captured_at=now)


async def _refresh(catalog: Catalog) -> RefreshReport:
    try:
        return await catalog.refresh()
    finally:
        await catalog.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.catalog", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="Write the snapshot shipped in the package from fal's answers.")
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="directory", type=Path, help="Folder of captured models.*.json answers.")
    source.add_argument("--from-api", dest="api", help="A Platform API base URL, e.g. https://api.fal.ai/v1.")
    build.add_argument("--prices", type=Path, help="A /v1/models/pricing answer (JSON) to ship with --from.")
    build.add_argument("--out", type=Path, default=snapshot.SNAPSHOT_PATH)
    commands.add_parser("refresh", help="Read fal's catalogue and prices now (needs FAL_KEY); print what changed.")
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            if args.directory:
                snap = snapshot.from_directory(args.directory, args.prices)
            else:
                key = Settings.from_env().fal_key
                snap = anyio.run(_from_api, args.api, key.get_secret_value() if key else None)
        except (OSError, ValueError, PlatformUnavailable) as exc:
            print(f"build failed: {exc}", file=sys.stderr)
            return 1
        snap.built_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        size = snap.write(args.out)
        print(
            f"{args.out}: {len(snap.models)} endpoints, {len(snap.prices)} prices, {size / 1024:.0f} KB ({snap.source})"
        )
        return 0
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    catalog = Catalog(settings)
    report = anyio.run(_refresh, catalog)
    print(json.dumps(report.__dict__, indent=1))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
