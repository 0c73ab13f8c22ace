"""`fal-video-mcp check-dataset DIR`: the prepare_dataset checks for a person without an agent (no FAL_KEY)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

PLACEHOLDER_TRIGGER = "[trigger]"


class ProgressBar:
    """A one-line text progress bar on stderr (redrawn in place when stderr is a terminal)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr  # looked up per call: a default bound at import goes stale under capture
        self.width = width
        self.started = time.perf_counter()
        self.tty = self.stream.isatty()

    def __call__(self, done: int, total: int, label: str) -> None:
        filled = round(self.width * done / max(total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {done}/{total} {time.perf_counter() - self.started:5.1f}s {label[:40]}"
        if self.tty:
            self.stream.write("\r" + line.ljust(100))
            if done == total:
                self.stream.write("\n")
        elif done == total or done % 10 == 0:
            self.stream.write(line + "\n")
        self.stream.flush()

    def stage(self, label: str) -> None:
        """A step after the per-photo pass (the duplicate comparison can take a while in a big folder)."""
        self.stream.write(f"{time.perf_counter() - self.started:5.1f}s {label}\n")
        self.stream.flush()


def format_table(headers: list[str], rows: list[list[str]], max_width: int = 60) -> str:
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, rule, *body])


def run_check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from server.errors import UserError
    from tools.dataset.analyse import Options
    from tools.dataset.prepare import run_prepare

    out = out or sys.stdout  # looked up per call, like ProgressBar's stream

    folder = Path(args.folder).expanduser()
    sheet = Path(args.sheet) if args.sheet else Path.cwd() / f"{folder.resolve().name or 'photos'}-check.png"
    trigger = (args.trigger_word or "").strip()
    options = Options(
        trigger_word=trigger or PLACEHOLDER_TRIGGER,
        subject=args.subject,
        resolution=args.resolution,
        same_person_check=args.same_person,
        exclude=tuple(args.exclude),
        text_check=args.text_check,
    )
    bar = ProgressBar()
    try:
        result, _ = run_prepare(
            None,
            None,
            str(folder),
            None,
            options,
            dry_run=True,
            on_progress=bar,
            sheet_path=sheet,
            check_trigger=bool(trigger),
            on_stage=bar.stage,
        )
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out.write(result.model_dump_json(indent=2) + "\n")
        return 0
    rows = [
        [
            img.file,
            img.verdict.upper(),
            "; ".join(img.reasons) or "-",
            ", ".join(v for v in img.estimates.values() if v) or "-",
        ]
        for img in result.images
    ]
    out.write(format_table(["photo", "verdict", "reasons", "estimates"], rows) + "\n\n")
    report = result.report
    assert report is not None  # run_prepare always reports
    out.write(f"{report.count_message}  ({report.kept} kept, {report.warned} warned, {report.rejected} rejected)\n\n")
    for table in report.mix:
        mix_rows = [
            [
                row.value,
                str(row.count),
                f"{row.actual_pct:.0f}%",
                "present" if row.recommended_pct is None else f"{row.recommended_pct:.0f}%",
            ]
            for row in table.rows
        ]
        out.write(f"{table.dimension} ({table.method})\n")
        out.write(format_table([table.dimension, "photos", "actual", "guide"], mix_rows) + "\n\n")
    if report.advice:
        out.write("Advice:\n" + "".join(f"  - {line}\n" for line in report.advice))
    for note in [*result.trigger_warnings, *report.method_notes]:
        out.write(f"Note: {note}\n")
    if result.ignored_files:
        out.write(f"Ignored {len(result.ignored_files)} non-image files.\n")
    out.write(f"Contact sheet: {sheet}\n")
    return 0
