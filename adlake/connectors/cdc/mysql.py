"""MySQL/MariaDB change data capture from the row-based binary log (no Dagster).

- :func:`check_server` says, setting by setting, what the server needs (ROW format, full row
  images and full row metadata for column names) and the ``my.cnf`` line that fixes it.
- :func:`snapshot` reads the chosen tables as of one binlog position, the handover point.
- :class:`MySQLChangeStream` reads row events after a position in batches of whole
  transactions; :func:`lag` measures how far an acknowledged position is behind the server.

Positions are binlog coordinates packed into one ordered integer
(:func:`~adlake.connectors.cdc.changes.binlog_position`). Every change of a transaction carries
the position of the transaction's **commit** event (the end of its XID or COMMIT event) and a
``seq`` numbering its rows, because a commit is the only safe point to resume from: a stream
started in the middle of a transaction would miss the table-map events its rows need, and
binlog order is commit order, so (position, seq) orders changes the way the server applied
them. Any position a batch returns, or :attr:`MySQLChangeStream.position`, is such a boundary.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pymysql
import pymysql.cursors
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import MariadbGtidEvent, QueryEvent, RotateEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from adlake.connectors.cdc.changes import Change, binlog_coordinates, binlog_position
from adlake.connectors.cdc.errors import CdcError, TableTruncated
from adlake.connectors.cdc.mysql_values import binlog_row_text, select_row_text

REQUIRED_SETTINGS = {
    "log_bin": ("ON", "log_bin = mysql-bin   (and a unique server_id = 1)"),
    "binlog_format": ("ROW", "binlog_format = ROW"),
    "binlog_row_image": ("FULL", "binlog_row_image = FULL"),
    "binlog_row_metadata": ("FULL", "binlog_row_metadata = FULL"),
}
ROW_EVENTS = (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)
_TRUNCATE = re.compile(r"^TRUNCATE\s+(TABLE\s+)?(?:`?([^`.\s]+)`?\.)?`?([^`.\s;]+)`?")


class MySQLCdcError(CdcError):
    """The server cannot be captured as configured; the message names the setting and the fix."""


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def check_server(conn: pymysql.connections.Connection) -> None:
    """Raise :class:`MySQLCdcError` naming every binlog setting CDC needs that the server lacks.

    Row events carry column names only with ``binlog_row_metadata=FULL`` (MariaDB 10.5+,
    MySQL 8.0.14+), and updates carry both images only with ``binlog_row_image=FULL``.
    """
    wrong = []
    with conn.cursor() as cursor:
        for name, (wanted, fix) in REQUIRED_SETTINGS.items():
            cursor.execute("SHOW GLOBAL VARIABLES LIKE %s", (name,))
            found = cursor.fetchone()
            value = str(found[1]).upper() if found else None
            if value != wanted:
                shown = "missing (server too old)" if value is None else value
                wrong.append(f"{name} is {shown}, needs {wanted}: put `{fix}` under [mysqld]")
    if wrong:
        raise MySQLCdcError(
            "the server's binary log cannot be captured: "
            + "; ".join(wrong)
            + "; then restart the server"
        )


def _binary_log_status(cursor: Any) -> tuple[str, int]:
    """(file, offset) of the server's current binlog end."""
    try:
        cursor.execute("SHOW MASTER STATUS")
    except pymysql.err.ProgrammingError:  # MySQL 8.4 renamed the statement
        cursor.execute("SHOW BINARY LOG STATUS")
    row = cursor.fetchone()
    if not row:
        raise MySQLCdcError("the binary log is off: put `log_bin = mysql-bin` under [mysqld]")
    return row[0], int(row[1])


def current_position(conn: pymysql.connections.Connection) -> int:
    """The server's current binlog end, packed: where a stream starting now would begin."""
    with conn.cursor() as cursor:
        return binlog_position(*_binary_log_status(cursor))


def current_gtid(conn: pymysql.connections.Connection) -> str | None:
    """MariaDB's ``@@gtid_current_pos`` (or MySQL's ``@@gtid_executed``), for the record.

    The packed file/offset stays the resume position; the GTID set lets an operator find the
    same point on a replica after a failover.
    """
    with conn.cursor() as cursor:
        for variable in ("@@gtid_current_pos", "@@gtid_executed"):
            try:
                cursor.execute(f"SELECT {variable}")
            except pymysql.err.MySQLError:
                continue
            row = cursor.fetchone()
            return str(row[0]) if row and row[0] else None
    return None


def _snapshot_position(cursor: Any) -> int:
    """The binlog position of the consistent snapshot just started in this session.

    MariaDB reports it as ``binlog_snapshot_file``/``binlog_snapshot_position``; on MySQL,
    which does not, the snapshot is taken under a brief global read lock instead.
    """
    cursor.execute("SHOW SESSION STATUS LIKE 'binlog_snapshot_%'")
    status = {name.lower(): value for name, value in cursor.fetchall()}
    if status.get("binlog_snapshot_file"):
        return binlog_position(
            status["binlog_snapshot_file"], int(status["binlog_snapshot_position"])
        )
    cursor.execute("ROLLBACK")
    cursor.execute("FLUSH TABLES WITH READ LOCK")
    try:
        cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        return binlog_position(*_binary_log_status(cursor))
    finally:
        cursor.execute("UNLOCK TABLES")


def snapshot(
    conn: pymysql.connections.Connection, database: str, tables: Collection[str]
) -> tuple[int, Iterator[Change]]:
    """Start a consistent snapshot of ``tables`` now; (its binlog position, its rows).

    The position is fixed when this returns; the rows stream lazily, one unbuffered query per
    table, all inside one ``REPEATABLE READ`` transaction that the iterator commits at its end
    (the connection is busy until then). Every row is an ``insert`` at the snapshot position.

    Why it has no gap and no double: ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` on MariaDB
    takes the InnoDB read view and the binlog position under the same group-commit lock, so a
    transaction is visible to the snapshot exactly when its commit is in the binlog before
    ``binlog_snapshot_position`` (the status stays fixed while later transactions commit).
    A stream started at that position therefore sees exactly the transactions the snapshot
    does not, and their changes have strictly greater positions (commit positions lie after
    the snapshot point), so applying snapshot and stream latest-position-wins yields the table.
    No table lock is taken. This holds for transactional (InnoDB) tables only.
    """
    cursor = conn.cursor()
    cursor.execute("SET SESSION time_zone = '+00:00'")
    cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
    position = _snapshot_position(cursor)
    cursor.close()
    return position, _snapshot_rows(conn, database, list(tables), position)


def _snapshot_rows(
    conn: pymysql.connections.Connection, database: str, tables: list[str], position: int
) -> Iterator[Change]:
    try:
        for table in tables:
            with conn.cursor(pymysql.cursors.SSCursor) as cursor:
                cursor.execute(f"SELECT * FROM {_quote(database)}.{_quote(table)}")
                for seq, row in enumerate(cursor):
                    text = select_row_text(row, cursor.description)
                    yield Change("insert", position, seq, None, database, table, text)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


@dataclass(frozen=True)
class BinlogLag:
    """How far an acknowledged position is behind the server's binlog end."""

    bytes_behind: int
    files_behind: int


def lag(conn: pymysql.connections.Connection, acknowledged_position: int) -> BinlogLag:
    """Binlog bytes (and files) written after ``acknowledged_position``, from SHOW BINARY LOGS.

    The bytes of a purged file count as zero; a stream there fails with a clear error anyway.
    """
    with conn.cursor() as cursor:
        cursor.execute("SHOW BINARY LOGS")
        sizes = {int(row[0].rsplit(".", 1)[1]): int(row[1]) for row in cursor.fetchall()}
        current_file, current_offset = binlog_coordinates(
            binlog_position(*_binary_log_status(cursor))
        )
    file, offset = binlog_coordinates(acknowledged_position)
    if file == current_file:
        return BinlogLag(max(current_offset - offset, 0), 0)
    behind = max(sizes.get(file, 0) - offset, 0) + current_offset
    behind += sum(size for number, size in sizes.items() if file < number < current_file)
    return BinlogLag(behind, max(current_file - file, 0))


class MySQLChangeStream:
    """Row changes of chosen databases/tables after a binlog position, in whole transactions.

    ``tables`` are ``"database.table"`` names; every table of ``databases`` is captured too.
    ``server_id`` must differ from the server's and from every other replica or stream.

    The binlog has no server-side acknowledgement: the caller writes a batch durably, then
    calls :meth:`acknowledge` and persists :attr:`acknowledged`; a new stream started from it
    replays everything after it (never skips). A batch always ends at a commit, so any
    change's position, and :attr:`position` (which also moves past transactions of other
    tables), are safe resume points. A single transaction is never split, so memory is
    bounded by ``max_changes`` plus the largest transaction.
    """

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        server_id: int,
        start_position: int,
        *,
        databases: Collection[str] = (),
        tables: Collection[str] = (),
        poll_seconds: float = 0.5,
    ) -> None:
        if not databases and not tables:
            raise MySQLCdcError("a MySQL change stream needs `databases` or `tables` to capture")
        self._settings = {
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "connect_timeout": 10,
        }
        self.server_id = server_id
        self.databases = frozenset(databases)
        self.tables = frozenset(tables)
        self.poll_seconds = poll_seconds
        self.position = start_position
        self.acknowledged = start_position
        self.gtid: str | None = None
        self._reader: BinLogStreamReader | None = None

    def _captured(self, schema: str, table: str) -> bool:
        return schema in self.databases or f"{schema}.{table}" in self.tables

    def _file_name(self, number: int) -> str:
        """The server's binlog file of ``number``; a clear error once it has been purged."""
        connection = pymysql.connect(**self._settings)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW BINARY LOGS")
                names = [row[0] for row in cursor.fetchall()]
        finally:
            connection.close()
        for name in names:
            if int(name.rsplit(".", 1)[1]) == number:
                return name
        raise MySQLCdcError(
            f"binlog file number {number} is no longer on the server (purged; oldest is "
            f"{names[0] if names else 'none'}): the position is lost, take a new snapshot"
        )

    def _open(self) -> BinLogStreamReader:
        number, offset = binlog_coordinates(self.position)
        schemas = self.databases | {name.split(".", 1)[0] for name in self.tables}
        return BinLogStreamReader(
            connection_settings=self._settings,
            server_id=self.server_id,
            resume_stream=True,
            log_file=self._file_name(number),
            log_pos=max(offset, 4),
            blocking=False,
            only_schemas=sorted(schemas),
            only_events=[*ROW_EVENTS, XidEvent, QueryEvent, RotateEvent, MariadbGtidEvent],
            enable_logging=False,
        )

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def read_batch(self, max_changes: int = 10_000, max_seconds: float = 5.0) -> list[Change]:
        """Changes of the whole transactions committed after :attr:`position`.

        Returns once ``max_changes`` are collected or ``max_seconds`` have passed (finishing
        the transaction in hand), or as soon as the stream has caught up with some changes.
        """
        deadline = time.monotonic() + max_seconds
        changes: list[Change] = []
        pending: list[tuple[str, str, str, dict, dict | None]] = []
        while True:
            if self._reader is None:
                self._reader = self._open()
            event = self._reader.fetchone()
            if event is None:  # caught up: the server ends a non-blocking dump at the log end
                if not pending and self._reader.log_pos:  # the log end is a commit boundary
                    self.position = binlog_position(self._reader.log_file, self._reader.log_pos)
                self._close_reader()
                pending.clear()  # never happens (transactions are written whole); replayed
                if changes or time.monotonic() >= deadline:
                    return changes
                time.sleep(min(self.poll_seconds, max(deadline - time.monotonic(), 0)))
                continue
            if isinstance(event, RotateEvent):
                if not pending:
                    self.position = binlog_position(event.next_binlog, event.position)
            elif isinstance(event, MariadbGtidEvent):
                self.gtid = event.gtid
            elif isinstance(event, ROW_EVENTS):
                if self._captured(event.schema, event.table):
                    pending.extend(self._row_changes(event))
            elif isinstance(event, QueryEvent) and (truncated := self._truncated(event)):
                raise TableTruncated(
                    f"TRUNCATE of {truncated} cannot be captured as row changes: take a new "
                    "snapshot of the table"
                )
            elif isinstance(event, XidEvent) or (
                isinstance(event, QueryEvent) and _query_text(event) != "BEGIN"
            ):
                self.position = binlog_position(self._reader.log_file, event.packet.log_pos)
                when = datetime.fromtimestamp(event.timestamp, UTC)
                changes.extend(
                    Change(op, self.position, seq, when, schema, table, row, key)  # type: ignore[arg-type]
                    for seq, (op, schema, table, row, key) in enumerate(pending)
                )
                pending.clear()
                if len(changes) >= max_changes or time.monotonic() >= deadline:
                    return changes

    def _truncated(self, event: QueryEvent) -> str | None:
        """``database.table`` when the event truncates a captured table, else None."""
        match = _TRUNCATE.match(_query_text(event))
        if match is None:
            return None
        schema = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
        database, table = match.group(2) or schema, match.group(3)
        captured = {name.upper() for name in self.databases} | {
            name.upper() for name in self.tables
        }
        if database.upper() in captured or f"{database}.{table}".upper() in captured:
            return f"{database}.{table}".lower()
        return None

    @staticmethod
    def _row_changes(event: Any) -> Iterator[tuple[str, str, str, dict, dict | None]]:
        """(op, schema, table, row, old key) for each row of a row event."""
        keys = event.primary_key
        keys = (keys,) if isinstance(keys, str) else tuple(keys or ())
        for row in event.rows:
            if isinstance(event, UpdateRowsEvent):
                after = binlog_row_text(row["after_values"], event.columns)
                before = binlog_row_text(row["before_values"], event.columns)
                moved = any(before.get(k) != after.get(k) for k in keys)
                old_key = {k: before.get(k) for k in keys} if moved else None
                yield "update", event.schema, event.table, after, old_key
            else:
                op = "insert" if isinstance(event, WriteRowsEvent) else "delete"
                text = binlog_row_text(row["values"], event.columns)
                yield op, event.schema, event.table, text, None

    def acknowledge(self, position: int) -> None:
        """Record that everything up to ``position`` is durable; the caller persists it."""
        self.acknowledged = max(self.acknowledged, position)

    def close(self) -> None:
        """Close the replication connection."""
        self._close_reader()

    def __enter__(self) -> MySQLChangeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _query_text(event: QueryEvent) -> str:
    query = event.query
    if isinstance(query, bytes):
        query = query.decode("utf-8", errors="replace")
    return query.strip().upper()
