"""Where a relational source's files and state live in the lake: the one place that knows.

- raw change batches: ``raw/<source>/<table>/changes/<first>_<last>[_snapshot].parquet``, named
  by the first and last position they hold (zero-padded, so names sort in position order);
- raw batch extracts: ``raw/<source>/<table>/extracts/<UTC time>_<full|incremental>.parquet``;
- the capture position of a CDC source: ``state/<source>/cdc/position.json``;
- a table's extract watermark: ``state/<source>/<table>/watermark.json``;
- a table's current state (what clean publishes) and what it has applied:
  ``state/<source>/<table>/current.parquet`` and ``applied.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, dataset_prefix

_CHANGE_FILE = re.compile(r"^(\d{20})_(\d{20})(_snapshot)?\.parquet$")
_EXTRACT_FILE = re.compile(r"^(\d{8}T\d{12})Z_(full|incremental)\.parquet$")


def changes_prefix(source: str, table: str) -> str:
    """The raw folder of a table's change batches."""
    return f"{dataset_prefix(Zone.RAW, source, table)}/changes"


def extracts_prefix(source: str, table: str) -> str:
    """The raw folder of a table's batch extracts."""
    return f"{dataset_prefix(Zone.RAW, source, table)}/extracts"


def table_state_prefix(source: str, table: str) -> str:
    """The state folder of one table."""
    return dataset_prefix(Zone.STATE, source, table)


def capture_state_path(source: str) -> str:
    """The capture position document of a CDC source."""
    return f"{Zone.STATE.value}/{source}/cdc/position.json"


@dataclass(frozen=True, order=True)
class ChangeFile:
    """One raw change batch of a table: positions ``first``..``last``, a snapshot or not."""

    last: int
    first: int
    snapshot: bool
    path: str


def change_file_path(source: str, table: str, first: int, last: int, snapshot: bool) -> str:
    """The raw path of a change batch holding positions ``first``..``last``."""
    suffix = "_snapshot" if snapshot else ""
    return f"{changes_prefix(source, table)}/{first:020d}_{last:020d}{suffix}.parquet"


def change_files(store: Lake, source: str, table: str) -> list[ChangeFile]:
    """The table's raw change batches in position order (other files are ignored)."""
    found = []
    for stored in store.list_files(changes_prefix(source, table), recursive=False):
        match = _CHANGE_FILE.match(stored.path.rsplit("/", 1)[-1])
        if match:
            first, last = int(match.group(1)), int(match.group(2))
            found.append(ChangeFile(last, first, bool(match.group(3)), stored.path))
    return sorted(found, key=lambda f: (f.last, f.first, not f.snapshot))


def extract_files(store: Lake, source: str, table: str) -> list[ChangeFile]:
    """The table's raw extracts in time order, as change files: position = extract time in
    microseconds since the epoch, ``snapshot`` = a full extract (the whole table)."""
    found = []
    for stored in store.list_files(extracts_prefix(source, table), recursive=False):
        match = _EXTRACT_FILE.match(stored.path.rsplit("/", 1)[-1])
        if match:
            when = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
            micros = int(when.timestamp()) * 1_000_000 + when.microsecond
            found.append(ChangeFile(micros, micros, match.group(2) == "full", stored.path))
    return sorted(found)
