"""A stand-alone CDC consumer that the crash test kills with SIGKILL and starts again.

``python -m adlake_tests.cdc_consumer <config.json>`` runs :func:`adlake.databases.capture.capture`
(the function the Dagster asset runs in production) over and over until it is killed: one
micro-batch, a short pause, the next one. The JSON file holds::

    {"lake": "<lake folder>", "source": "<source name>", "url": "<connection URL>",
     "config": <a DatabaseSourceConfig as a dict>}

Each run prints one JSON line to stdout (flushed at once, so a killed process leaves every
finished run on record): the run number, the changes it captured, the replayed changes it
skipped, the position saved after it, whether it caught up, and the raw files it wrote. A run
that raises prints an ``error`` line instead and the loop goes on, as the next scheduled run
would in production.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from adlake.config import DatabaseSourceConfig
from adlake.databases.capture import capture
from adlake.databases.connection import parse_database_url
from adlake.lake.storage import Lake

PAUSE_SECONDS = 0.2


def _emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, sort_keys=True), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Load the JSON settings named on the command line and capture until killed."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m adlake_tests.cdc_consumer <config.json>", file=sys.stderr)
        return 2
    settings = json.loads(Path(args[0]).read_text())
    config = DatabaseSourceConfig.model_validate(settings["config"])
    url = parse_database_url(settings["url"], config.kind, "cdc_consumer")
    store = Lake(settings["lake"])
    source = settings["source"]
    run = 0
    while True:
        run += 1
        started = time.monotonic()
        try:
            outcome = capture(store, source, config, url)
        except Exception as error:  # noqa: BLE001 - reported, then the next run retries
            _emit({"run": run, "error": f"{type(error).__name__}: {error}"})
        else:
            _emit(
                {
                    "run": run,
                    "snapshot": outcome.snapshot,
                    "changes": sum(outcome.changes.values()),
                    "skipped": outcome.skipped_replayed,
                    "start_position": outcome.start_position,
                    "position": outcome.position,
                    "caught_up": outcome.caught_up,
                    "files": len(outcome.files),
                    "seconds": round(time.monotonic() - started, 3),
                }
            )
        time.sleep(PAUSE_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
