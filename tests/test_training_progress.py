"""Reading progress out of trainer log lines, and the ETA from two observations."""

from __future__ import annotations

import pytest

from tools.training.progress import eta_seconds, latest_step, log_messages


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["Downloading training data", "step 100/1000 loss=0.19", "step 300/1000 loss=0.17"], (300, 1000, 30.0)),
        (["Step 50 / 200"], (50, 200, 25.0)),
        (["steps: 7/10"], (7, 10, 70.0)),
        (["Training:  45%|████▌     | 450/1000 [01:02<01:16,  7.2it/s]"], (450, 1000, 45.0)),
        (["step 300/1000", "Saving checkpoint", "uploading 1/2 files"], (300, 1000, 30.0)),
        (["Loading model", "no numbers here"], None),
        (["step 12/0"], None),
    ],
)
def test_latest_step(lines: list[str], expected: tuple[int, int, float] | None) -> None:
    found = latest_step(lines)
    assert (None if found is None else (found.step, found.total, found.percent)) == expected


def test_log_messages_tolerates_fal_shapes() -> None:
    assert log_messages(None) == []
    assert log_messages([{"message": " step 1/2 ", "level": "INFO"}, "junk", {}]) == ["step 1/2", ""]


def test_eta_from_step_rate() -> None:
    assert eta_seconds(100, 1000.0, 300, 1040.0, 1000) == 140.0  # 200 steps in 40 s → 700 steps left
    assert eta_seconds(300, 1000.0, 300, 1040.0, 1000) is None  # no progress since the first observation
