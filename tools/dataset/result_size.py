"""Keep a dataset result under the hosts' 1 MB limit however many photos the folder holds.

A result carries its JSON twice (text and structured content) plus the contact-sheet preview (≤ 300 KB as
base64), so the rows get 250 KB. Every photo keeps its row (file, verdict, reasons, estimates, caption) as long as
that can fit; what goes first, step by step until the rows fit, is the detail a reader needs least: the measured
checks of photos that passed, then everyone's measured checks (the reasons name every failed one), then the
estimates of rejected photos and all but their first two reasons. Only then are the last rows left out. The
result says what was left out and where the full table is.
"""

from __future__ import annotations

from collections.abc import Callable

from tools.dataset.results import ImageRow

JSON_BUDGET = 250_000


def _json_size(rows: list[ImageRow]) -> int:
    return sum(len(row.model_dump_json()) + 1 for row in rows)


def _without_ok_checks(row: ImageRow) -> ImageRow:
    return row.model_copy(update={"checks": []}) if row.verdict == "ok" else row


def _without_checks(row: ImageRow) -> ImageRow:
    return row.model_copy(update={"checks": []})


def _rejects_in_brief(row: ImageRow) -> ImageRow:
    if row.verdict != "reject":
        return row
    return row.model_copy(update={"estimates": {}, "reasons": row.reasons[:2]})


STEPS: list[tuple[str, Callable[[ImageRow], ImageRow]]] = [
    ("the measured checks of photos that passed every check", _without_ok_checks),
    ("every photo's measured checks (its reasons name each failed one)", _without_checks),
    ("the estimates of rejected photos and all but their first two reasons", _rejects_in_brief),
]


def fit_rows(rows: list[ImageRow], budget: int = JSON_BUDGET) -> tuple[list[ImageRow], list[str]]:
    """`rows`, trimmed step by step until their JSON fits `budget`; and what each step left out."""
    left_out: list[str] = []
    size = _json_size(rows)
    for what, step in STEPS:
        if size <= budget:
            return rows, left_out
        rows = [step(row) for row in rows]
        left_out.append(what)
        size = _json_size(rows)
    if size > budget:
        kept, used = 0, 0
        for row in rows:
            used += len(row.model_dump_json()) + 1
            if used > budget:
                break
            kept += 1
        left_out.append(f"the rows of the last {len(rows) - kept} of {len(rows)} photos")
        rows = rows[:kept]
    return rows, left_out


def trim_note(left_out: list[str], full_table: str) -> str | None:
    if not left_out:
        return None
    return f"To stay under the hosts' 1 MB result limit this leaves out {'; then '.join(left_out)}. {full_table}"
