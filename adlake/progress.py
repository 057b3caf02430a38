"""Progress lines of long steps at a cadence a person reads: not one per row, chunk or poll, and
not only one at the end.

A report poll, a large download, a snapshot or a CDC catch-up calls its :class:`Cadence` as
often as it likes; the cadence passes a line on when the step's state changes (a report goes from
PENDING to PROCESSING) and otherwise at most once every ``every`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PROGRESS_EVERY = 10.0  # seconds between two progress lines of one step

Log = Callable[[str], None]


def monotonic_gate(every: float) -> Callable[[], bool]:
    """A gate that opens at most once per ``every`` seconds (the first call opens it)."""
    last = [float("-inf")]

    def ready() -> bool:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            return True
        return False

    return ready


class Cadence:
    """Passes a long step's progress lines to ``log``: at once when ``state`` changes, else at
    most once per ``every`` seconds. ``quiet_start`` holds the first line back one interval, so
    a step that ends quickly logs nothing but its result."""

    def __init__(self, log: Log, every: float = PROGRESS_EVERY, quiet_start: bool = False) -> None:
        self._log = log
        self._gate = monotonic_gate(every)
        self._state: object = None
        if quiet_start:
            self._gate()

    def __call__(self, message: str, state: object = None) -> None:
        """Log ``message`` if ``state`` differs from the last one seen or the interval passed."""
        changed = state is not None and state != self._state
        self._state = state if state is not None else self._state
        if self._gate() or changed:
            self._log(message)
