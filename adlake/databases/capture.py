"""One CDC micro-batch run of a database source: snapshot once, then stream changes into raw.

A run reads the source's capture position from the state zone and then:

1. **First run** (no position yet): takes the consistent snapshot (PostgreSQL: a new slot with
   an exported snapshot; MySQL/MariaDB: ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` at a
   binlog position), writes each table's rows as one ``_snapshot`` change batch, and saves the
   snapshot position. With ``snapshot: false`` it only creates (or verifies) the slot / takes
   the binlog end, and saves that.
2. **Every run**: reads whole transactions after the saved position, at most
   ``max_changes_per_run`` changes or ``max_seconds_per_run`` seconds, and for each chunk writes
   one Parquet change batch per table into raw, *then* saves the new position, *then*
   acknowledges it to the server (PostgreSQL's slot moves; the binlog has nothing to tell).

A crash anywhere replays from the last saved position. Replayed changes that a batch file
already holds are skipped per table (each file is named by its last position), so raw never
holds a change twice, and clean never misses one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pymysql

from adlake.config.databases import DatabaseSourceConfig
from adlake.connectors.cdc import mysql as cdc_mysql
from adlake.connectors.cdc import postgres as cdc_postgres
from adlake.connectors.cdc.changes import Change, ChangeBatchWriter
from adlake.connectors.cdc.errors import CdcError, TableTruncated
from adlake.databases.connection import DatabaseUrl
from adlake.databases.layout import capture_state_path, change_file_path, change_files
from adlake.lake.storage import Lake
from adlake.progress import PROGRESS_EVERY, Cadence

READ_CHUNK = 10_000  # changes per read (whole transactions): one Parquet batch per table
READ_SECONDS = 2.0


@dataclass
class CaptureState:
    """What the state zone remembers about a CDC source between runs."""

    engine: str
    position: int
    snapshot_position: int | None
    updated_at: str
    last_commit_time: str | None = None
    changes_captured: int = 0

    @classmethod
    def load(cls, store: Lake, source: str) -> CaptureState | None:
        """The saved state of ``source``, or None before its first successful run."""
        path = capture_state_path(source)
        return cls(**store.read_json(path)) if store.exists(path) else None

    def save(self, store: Lake, source: str) -> None:
        """Write the state atomically (call only once the files it covers are durable)."""
        store.write_json(capture_state_path(source), asdict(self))


@dataclass
class CaptureOutcome:
    """What one run captured, for metadata and the lag check."""

    start_position: int
    position: int
    snapshot: bool = False
    changes: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    skipped_replayed: int = 0
    caught_up: bool = False
    last_commit_time: datetime | None = None
    lag_bytes: int = 0
    lag_seconds: float = 0.0


class ChangeSource(Protocol):
    """What the runner needs from an engine: a snapshot, a stream, a lag measure."""

    def snapshot(self) -> AbstractContextManager[tuple[int, Iterator[Change]]]:
        """(the snapshot position, every row of every table as an insert there)."""
        ...

    def start_without_snapshot(self) -> int:
        """Prepare to stream changes made from now on; the starting position."""
        ...

    def stream(self, position: int) -> Any:
        """A change stream (``read_batch``, ``acknowledge``, ``close``) after ``position``."""
        ...

    def lag_bytes(self, position: int) -> int:
        """How many bytes of log the server holds after ``position``."""
        ...


def table_names(config: DatabaseSourceConfig, url: DatabaseUrl) -> dict[tuple[str, str], str]:
    """(schema or database, table) -> dataset name, as changes name their tables."""
    names = {}
    for dataset, table in config.tables.items():
        assert table.table is not None  # a cdc source reads tables (validated)
        qualifier, _, name = table.table.rpartition(".")
        default = "public" if config.kind == "postgres" else url.database
        names[(qualifier or default, name)] = dataset
    return names


class PostgresSource:
    """PostgreSQL: a publication and a pgoutput slot named after the source."""

    def __init__(self, url: DatabaseUrl, slot: str, tables: list[str]) -> None:
        self.url, self.slot, self.tables = url, slot, tables

    @contextmanager
    def snapshot(self) -> Iterator[tuple[int, Iterator[Change]]]:
        """Drop a slot left by a first run that never finished, then snapshot (see module)."""
        cdc_postgres.drop_slot(self.url.url, self.slot)
        with cdc_postgres.snapshot(self.url.url, self.slot, self.slot, self.tables) as taken:
            yield taken.position, taken.changes()

    def start_without_snapshot(self) -> int:
        """Create or verify the publication and slot; the slot's confirmed position."""
        lsn = cdc_postgres.ensure_publication_and_slot(
            self.url.url, self.slot, self.slot, self.tables
        )
        return cdc_postgres.parse_lsn(lsn)

    def stream(self, position: int) -> cdc_postgres.PostgresChangeStream:
        """The slot's stream from ``position`` (the saved one), moving the slot up to it."""
        return cdc_postgres.PostgresChangeStream(
            self.url.url, self.slot, self.slot, start_position=position
        )

    def lag_bytes(self, position: int) -> int:
        """WAL bytes the server wrote after the slot's confirmed position."""
        return cdc_postgres.slot_lag(self.url.url, self.slot)[2]


class MySQLSource:
    """MySQL/MariaDB: the row binlog, read as a replica with its own server_id."""

    def __init__(self, url: DatabaseUrl, server_id: int, tables: list[tuple[str, str]]) -> None:
        self.url, self.server_id, self.tables = url, server_id, tables
        databases = {database for database, _ in tables}
        if len(databases) != 1:
            raise CdcError(
                f"the tables of one MySQL CDC source must live in one database to share one "
                f"consistent snapshot, found {sorted(databases)}: split them into one source "
                "per database"
            )
        self.database = databases.pop()

    def _connect(self) -> pymysql.connections.Connection:
        settings = self.url.mysql_settings()
        settings["database"] = self.database
        try:
            return pymysql.connect(**settings)
        except pymysql.err.MySQLError as error:
            raise CdcError(f"cannot connect to {self.url.masked}: {error.args[-1]}") from None

    @contextmanager
    def snapshot(self) -> Iterator[tuple[int, Iterator[Change]]]:
        """Check the binlog settings, then a consistent snapshot at a binlog position."""
        connection = self._connect()
        try:
            cdc_mysql.check_server(connection)
            yield cdc_mysql.snapshot(connection, self.database, [t for _, t in self.tables])
        finally:
            connection.close()

    def start_without_snapshot(self) -> int:
        """Check the binlog settings; the binlog end now."""
        connection = self._connect()
        try:
            cdc_mysql.check_server(connection)
            return cdc_mysql.current_position(connection)
        finally:
            connection.close()

    def stream(self, position: int) -> cdc_mysql.MySQLChangeStream:
        """Row changes of the tables after ``position``."""
        return cdc_mysql.MySQLChangeStream(
            self.url.host,
            self.url.port,
            self.url.user,
            self.url.password,
            self.server_id,
            position,
            tables=[f"{d}.{t}" for d, t in self.tables],
        )

    def lag_bytes(self, position: int) -> int:
        """Binlog bytes written after ``position``."""
        connection = self._connect()
        try:
            return cdc_mysql.lag(connection, position).bytes_behind
        finally:
            connection.close()


def change_source(source: str, config: DatabaseSourceConfig, url: DatabaseUrl) -> ChangeSource:
    """The engine-specific side of a source's capture."""
    names = list(table_names(config, url))
    if config.kind == "postgres":
        return PostgresSource(url, config.slot_name(source), [f"{s}.{t}" for s, t in names])
    return MySQLSource(url, config.replica_server_id(source), names)


class _BatchFiles:
    """Writes changes into one raw change batch per table; skips what raw already holds."""

    def __init__(self, store: Lake, source: str, datasets: dict[tuple[str, str], str]) -> None:
        self.store, self.source, self.datasets = store, source, datasets
        self.durable = {
            dataset: max((f.last for f in change_files(store, source, dataset)), default=-1)
            for dataset in datasets.values()
        }

    def write(self, changes: Iterable[Change], snapshot_at: int | None = None) -> dict[str, Any]:
        """Write ``changes`` (in position order); per table: count, file; and skipped replays.

        With ``snapshot_at`` the changes are a snapshot at that position: every table gets a
        ``_snapshot`` file, an empty table an empty one, so clean knows to start over from it.
        """
        snapshot = snapshot_at is not None
        written: dict[str, Any] = {"files": [], "changes": {}, "skipped": 0}
        with self.store.scratch() as scratch:
            writers: dict[str, tuple[ChangeBatchWriter, int]] = {}
            for change in changes:
                dataset = self.datasets.get((change.schema_name or "", change.table_name))
                if dataset is None:
                    continue
                if not snapshot and change.position <= self.durable[dataset]:
                    written["skipped"] += 1
                    continue
                if dataset not in writers:
                    staged = Path(scratch) / f"{dataset}.parquet"
                    writers[dataset] = (ChangeBatchWriter(staged), change.position)
                writers[dataset][0].write([change])
            if snapshot:
                for dataset in self.datasets.values():
                    if dataset not in writers:
                        staged = Path(scratch) / f"{dataset}.parquet"
                        writers[dataset] = (ChangeBatchWriter(staged), -1)
            for dataset, (writer, first) in writers.items():
                count, last = writer.close()
                if snapshot_at is not None:
                    first = last = snapshot_at
                path = change_file_path(self.source, dataset, first, last, snapshot)
                self.store.publish(str(writer.path), path)
                self.durable[dataset] = max(self.durable[dataset], last)
                written["files"].append(path)
                written["changes"][dataset] = count
        return written


def capture(
    store: Lake,
    source: str,
    config: DatabaseSourceConfig,
    url: DatabaseUrl,
    *,
    engine: ChangeSource | None = None,
    log: Callable[[str], None] = lambda _message: None,
    progress_every: float = PROGRESS_EVERY,
) -> CaptureOutcome:
    """Run one micro-batch of ``source`` (see the module docstring); what it captured.

    A long snapshot or catch-up logs its progress every ``progress_every`` seconds.
    """
    engine = engine or change_source(source, config, url)
    datasets = table_names(config, url)
    files = _BatchFiles(store, source, datasets)
    state = CaptureState.load(store, source)
    cadence = Cadence(log, progress_every, quiet_start=True)
    if state is None:
        state, snapshot = _start(store, source, config, engine, files, log, cadence)
        outcome = CaptureOutcome(state.position, state.position, snapshot=config.snapshot)
        outcome.files.extend(snapshot["files"])
        outcome.changes.update(snapshot["changes"])
    else:
        outcome = CaptureOutcome(state.position, state.position)
    stream = engine.stream(state.position)
    try:
        _stream(store, source, config, state, stream, files, outcome, cadence)
    except TableTruncated as error:
        raise TableTruncated(
            f"{error} Everything before it is captured (position {state.position}). To "
            f"snapshot again, delete {capture_state_path(source)} from the lake: the next run "
            "takes a new snapshot and clean starts over from it"
        ) from None
    finally:
        stream.close()
    outcome.position = state.position
    outcome.lag_bytes = engine.lag_bytes(state.position)
    if not outcome.caught_up and state.last_commit_time:
        behind = datetime.now(UTC) - datetime.fromisoformat(state.last_commit_time)
        outcome.lag_seconds = max(behind.total_seconds(), 0.0)
    log(
        f"captured {sum(outcome.changes.values()):,} change(s) up to position {state.position}"
        f"{' (caught up)' if outcome.caught_up else ''}"
    )
    return outcome


def _stream(
    store: Lake,
    source: str,
    config: DatabaseSourceConfig,
    state: CaptureState,
    stream: Any,
    files: _BatchFiles,
    outcome: CaptureOutcome,
    cadence: Cadence,
) -> None:
    """Read, write, save, acknowledge, chunk after chunk, within the run's budget."""
    deadline = time.monotonic() + config.max_seconds_per_run
    captured = 0
    while True:
        budget = min(READ_CHUNK, config.max_changes_per_run - captured)
        remaining = deadline - time.monotonic()
        if budget <= 0 or remaining <= 0:
            break
        batch = stream.read_batch(max_changes=budget, max_seconds=min(READ_SECONDS, remaining))
        position = max([state.position, *(c.position for c in batch)])
        position = max(position, getattr(stream, "position", position))
        if batch:
            written = files.write(batch)
            outcome.files.extend(written["files"])
            outcome.skipped_replayed += written["skipped"]
            for dataset, count in written["changes"].items():
                outcome.changes[dataset] = outcome.changes.get(dataset, 0) + count
            captured += len(batch)
            commit_time = max((c.commit_time for c in batch if c.commit_time), default=None)
            if commit_time is not None:
                outcome.last_commit_time = commit_time
                state.last_commit_time = commit_time.isoformat()
        if position != state.position:
            state.position = position
            state.changes_captured += len(batch)
            state.updated_at = _now()
            state.save(store, source)  # durable files first, then the position
            stream.acknowledge(position)
        cadence(_catching_up(captured, state, config))
        if len(batch) < budget:
            outcome.caught_up = True
            break


def _start(
    store: Lake,
    source: str,
    config: DatabaseSourceConfig,
    engine: ChangeSource,
    files: _BatchFiles,
    log: Callable[[str], None],
    cadence: Cadence,
) -> tuple[CaptureState, dict[str, Any]]:
    """The first run: the snapshot (or the starting position), saved once it is durable."""
    if not config.snapshot:
        position = engine.start_without_snapshot()
        state = CaptureState(config.kind, position, None, _now())
        state.save(store, source)
        log(f"capturing changes from position {position} on (no snapshot)")
        return state, {"files": [], "changes": {}}
    with engine.snapshot() as (position, rows):
        written = files.write(_counted(rows, cadence), snapshot_at=position)
    state = CaptureState(config.kind, position, position, _now())
    state.save(store, source)
    log(
        f"snapshot at position {position}: "
        + ", ".join(f"{table} {rows:,} row(s)" for table, rows in written["changes"].items())
    )
    return state, written


def _catching_up(captured: int, state: CaptureState, config: DatabaseSourceConfig) -> str:
    """A progress line of the catch-up: changes so far, the position, how far behind."""
    behind = ""
    if state.last_commit_time:
        seconds = (
            datetime.now(UTC) - datetime.fromisoformat(state.last_commit_time)
        ).total_seconds()
        behind = f", last commit {max(seconds, 0):,.0f} s ago"
    return (
        f"catching up: {captured:,} of at most {config.max_changes_per_run:,} change(s) "
        f"captured, position {state.position}{behind}"
    )


def _counted(rows: Iterable[Any], cadence: Cadence) -> Iterator[Any]:
    """The snapshot's rows, passed through with a progress line at the cadence."""
    for count, row in enumerate(rows, start=1):
        if count % 1000 == 0:
            cadence(f"snapshot: {count:,} row(s) written so far")
        yield row


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
