"""The report ledger: every report request, recorded before it is polled (replaces DynamoDB).

One small JSON document per (dataset, account, window) in the state zone, written atomically
at each step: requested (remote id known), downloaded, landed (or no_data, failed). A retry
finds the remote id of a request still in flight and polls it instead of requesting again.
The documents sit under ``state/<source>/report_ledger/`` so the catalog can expose them as
one table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from adlake.lake.storage import Lake
from adlake.lake.zones import Zone

IN_FLIGHT = ("requested", "downloaded")
DONE = ("landed", "no_data")


def now_iso() -> str:
    """The current UTC time as an ISO string (the ledger's clock)."""
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ReportEntry:
    """One report request and what became of it."""

    source: str
    dataset: str
    api: str
    scope: str
    start: str
    end: str
    report_id: str
    status: str  # requested, downloaded, landed, no_data, failed
    requested_at: str
    updated_at: str
    run_id: str
    remote_status: str = ""
    report_type: str = ""
    requests: int = 1
    polls: int = 0
    bytes: int = 0
    rows: int = 0
    landed_at: str = ""
    problem: str = ""
    earlier_report_ids: list[str] = field(default_factory=list)
    day_rows: dict[str, int] = field(default_factory=dict)

    def update(self, **changes: Any) -> ReportEntry:
        """A copy with these changes and a fresh updated_at."""
        return replace(self, updated_at=now_iso(), **changes)


LEDGER_TABLE = "report_ledger"
# (name, DuckDB type, Hive type) of each field of ReportEntry, for the catalog's ledger table
LEDGER_COLUMNS: tuple[tuple[str, str, str], ...] = (
    *(
        (name, "VARCHAR", "string")
        for name in ("source", "dataset", "api", "scope", "start", "end")
    ),
    ("report_type", "VARCHAR", "string"),
    ("report_id", "VARCHAR", "string"),
    ("status", "VARCHAR", "string"),
    ("remote_status", "VARCHAR", "string"),
    *((name, "BIGINT", "bigint") for name in ("requests", "polls", "bytes", "rows")),
    *((name, "VARCHAR", "string") for name in ("requested_at", "updated_at", "landed_at")),
    ("run_id", "VARCHAR", "string"),
    ("problem", "VARCHAR", "string"),
    ("earlier_report_ids", "VARCHAR[]", "array<string>"),
    ("day_rows", "MAP(VARCHAR, BIGINT)", "map<string,bigint>"),
)


def ledger_prefix(source: str) -> str:
    """Where a source's ledger documents live (one table for the catalog)."""
    return f"{Zone.STATE.value}/{source}/{LEDGER_TABLE}"


class ReportLedger:
    """The ledger documents of one pulled dataset."""

    def __init__(self, lake: Lake, source: str, dataset: str) -> None:
        self.lake = lake
        self.source = source
        self.dataset = dataset
        self._prefix = f"{ledger_prefix(source)}/dataset={dataset}"

    def _path(self, scope: str, start: str, end: str) -> str:
        return f"{self._prefix}/scope={scope}/{start}_{end}.json"

    def get(self, scope: str, start: str, end: str) -> ReportEntry | None:
        """The entry of this account and window, if one was ever recorded."""
        path = self._path(scope, start, end)
        return ReportEntry(**self.lake.read_json(path)) if self.lake.exists(path) else None

    def save(self, entry: ReportEntry) -> None:
        """Make an entry durable (an atomic write; the previous version is replaced).

        One JSON object on one line, so the catalog (DuckDB, Athena's JSON SerDe) reads it.
        """
        document = json.dumps(asdict(entry), sort_keys=True).encode() + b"\n"
        self.lake.write_bytes(self._path(entry.scope, entry.start, entry.end), document)

    def entries(self) -> list[ReportEntry]:
        """Every entry of the dataset, oldest request first."""
        found = [
            ReportEntry(**json.loads(self.lake.read_bytes(f.path)))
            for f in self.lake.list_files(self._prefix)
            if f.path.endswith(".json")
        ]
        return sorted(found, key=lambda e: (e.requested_at, e.scope, e.start))
