"""Leave named photos out of a scanned folder, so an agent without file access can drop one (exclude=[...])."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from server.errors import InvalidInput
from tools.dataset.scan import Scan


def exclude_files(scan: Scan, names: Sequence[str]) -> Scan:
    """The scan without the photos named, each by its path relative to the folder (as the per-photo table shows
    it) or by its bare file name when that is unique. A name matching no photo is an error that lists the photos."""
    if not names:
        return scan
    by_rel = {c.rel: c.rel for c in scan.candidates}
    by_name: dict[str, list[str]] = {}
    for cand in scan.candidates:
        by_name.setdefault(cand.rel.rsplit("/", 1)[-1], []).append(cand.rel)
    dropped: set[str] = set()
    unknown, ambiguous = [], []
    for raw in names:
        name = raw.strip().removeprefix("./")
        if name in by_rel:
            dropped.add(name)
        elif len(by_name.get(name, [])) == 1:
            dropped.add(by_name[name][0])
        elif name in by_name:
            ambiguous.append(f"{raw!r} (is it {' or '.join(by_name[name])}?)")
        else:
            unknown.append(repr(raw))
    if unknown or ambiguous:
        known = ", ".join(c.rel for c in scan.candidates[:20])
        more = f" and {len(scan.candidates) - 20} more" if len(scan.candidates) > 20 else ""
        problems = []
        if unknown:
            problems.append(f"not in the folder: {', '.join(unknown)}")
        if ambiguous:
            problems.append(f"matching several photos: {', '.join(ambiguous)}")
        raise InvalidInput(
            f"exclude names photos {'; '.join(problems)}. Name each photo by its path relative to {scan.root} as "
            f"the per-photo table shows it. Photos there: {known}{more}."
        )
    kept = [c for c in scan.candidates if c.rel not in dropped]
    if not kept:
        raise InvalidInput(f"exclude leaves no photo of {scan.root} to check: name only the photos to leave out.")
    return replace(scan, candidates=kept)
