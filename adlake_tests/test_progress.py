"""Progress lines of long steps come at a readable cadence: per state change and per interval."""

from __future__ import annotations

import pytest

from adlake import progress
from adlake.progress import Cadence


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A monotonic clock the test moves by hand."""
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    return now


def test_a_step_called_every_tenth_of_a_second_logs_every_ten_seconds(clock) -> None:
    lines: list[str] = []
    cadence = Cadence(lines.append, every=10)
    for tick in range(600):  # one minute of calls
        clock[0] = 1000 + tick / 10
        cadence(f"chunk {tick}")
    assert lines == [f"chunk {n}" for n in range(0, 600, 100)]


def test_a_new_state_is_logged_at_once_and_a_repeated_one_waits(clock) -> None:
    lines: list[str] = []
    cadence = Cadence(lines.append, every=10)
    for status in ["PENDING"] * 5 + ["PROCESSING"] * 5:
        cadence(status, state=status)
        clock[0] += 1
    assert lines == ["PENDING", "PROCESSING"]


def test_a_quiet_start_keeps_a_short_step_silent(clock) -> None:
    lines: list[str] = []
    cadence = Cadence(lines.append, every=10, quiet_start=True)
    for _ in range(50):
        cadence("copied")
        clock[0] += 0.1  # five seconds in all
    assert lines == []
    clock[0] += 5
    cadence("copied")
    assert lines == ["copied"]
