"""PostgreSQL change data capture: a publication, a pgoutput slot, a snapshot, a change stream.

How a table is captured, start to finish:

1. :func:`snapshot` creates the publication and the logical slot *with an exported snapshot*
   and reads every table inside that snapshot; each row is an ``insert`` at the slot's
   consistent point. (:func:`ensure_publication_and_slot` is the same without the snapshot,
   for a table whose history is not wanted.)
2. :class:`PostgresChangeStream` reads the slot: whole transactions, each change at the LSN
   just past its transaction's commit record, ``seq`` counting changes within it.
3. Once the caller has made a batch durable in raw, it calls
   :meth:`PostgresChangeStream.acknowledge` with the batch's last position; only then does the
   slot move past it. A crash before that replays the same changes.

Values are the text the server's output functions produce (the same text in the snapshot and
in the stream: both sessions run with UTC, ISO dates and the default float digits), ``None``
for NULL; column type names come with them (:attr:`Snapshot.column_types`,
:meth:`PostgresChangeStream.column_types`) so a caller can cast them.

Tables keep the default REPLICA IDENTITY (the primary key): a delete carries only the key
columns, an update carries the old key only when it changed the key, and an update that does
not touch an out-of-line (TOASTed) value does not carry it: that column is left out of the
row. TRUNCATE cannot be expressed as row changes and stops the stream with a
:class:`~adlake.connectors.cdc.errors.CdcError` (re-snapshot the table).
"""

from __future__ import annotations

import re
import select
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

from adlake.connectors.cdc.changes import Change, Operation
from adlake.connectors.cdc.errors import CdcError, TableTruncated
from adlake.connectors.cdc.pgoutput import (
    UNCHANGED_TOAST,
    Begin,
    Commit,
    Delete,
    Insert,
    PgOutputDecoder,
    Relation,
    Truncate,
    Update,
    lsn_text,
    parse_lsn,
)

# the same text form of values in the snapshot session and in the walsender
SESSION_OPTIONS = (
    "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=1"
)
_SLOT_NAME = re.compile(r"^[a-z0-9_]{1,63}$")
_SLOT_BUSY_SECONDS = 10.0


def _connect(dsn: str, **kwargs: Any) -> psycopg2.extensions.connection:
    try:
        return psycopg2.connect(dsn, options=SESSION_OPTIONS, **kwargs)
    except psycopg2.OperationalError as error:
        # libpq's message names host and database, never the password
        raise CdcError(f"cannot connect to PostgreSQL: {str(error).strip()}") from None


def _check_slot_name(slot: str) -> None:
    if not _SLOT_NAME.match(slot):
        raise CdcError(
            f"replication slot name {slot!r} is not allowed: use 1-63 lower-case letters, "
            "digits and underscores"
        )


def split_table(table: str) -> tuple[str, str]:
    """``schema.table`` (or ``table``, in ``public``) as (schema, table)."""
    schema, _, name = table.rpartition(".")
    return schema or "public", name


def ensure_publication(cursor: Any, publication: str, tables: Sequence[str]) -> None:
    """Create the publication ``FOR TABLE tables``, or check an existing one has exactly them."""
    wanted = {split_table(table) for table in tables}
    cursor.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,))
    if cursor.fetchone() is None:
        names = sql.SQL(", ").join(sql.Identifier(*pair) for pair in sorted(wanted))
        cursor.execute(
            sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(publication), names)
        )
        return
    cursor.execute(
        "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
        (publication,),
    )
    published = set(cursor.fetchall())
    if published != wanted:
        raise CdcError(
            f"publication {publication!r} publishes {sorted(published)}, not {sorted(wanted)}: "
            "a new table needs its own publication and slot (and snapshot)"
        )


def _existing_slot(cursor: Any, slot: str) -> str | None:
    """The confirmed flush LSN of an existing slot after checking it suits us, else None."""
    cursor.execute(
        "SELECT plugin, slot_type, database, confirmed_flush_lsn::text, current_database() "
        "FROM pg_replication_slots WHERE slot_name = %s",
        (slot,),
    )
    found = cursor.fetchone()
    if found is None:
        return None
    plugin, slot_type, database, confirmed, current = found
    if slot_type != "logical" or plugin != "pgoutput" or database != current:
        raise CdcError(
            f"replication slot {slot!r} exists but is {slot_type} {plugin} on database "
            f"{database!r}: drop it or choose another slot name"
        )
    return confirmed


def ensure_publication_and_slot(
    dsn: str, publication: str, slot: str, tables: Sequence[str]
) -> str:
    """Create (or verify) the publication and a pgoutput slot; the slot's confirmed flush LSN.

    No snapshot is taken: changes are captured from the slot's creation on. Use
    :func:`snapshot` to start from the tables' current content instead.
    """
    _check_slot_name(slot)
    connection = _connect(dsn)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            ensure_publication(cursor, publication, tables)
            confirmed = _existing_slot(cursor, slot)
            if confirmed is not None:
                return confirmed
            cursor.execute(
                "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,)
            )
            return cursor.fetchone()[0]
    finally:
        connection.close()


def drop_slot(dsn: str, slot: str) -> None:
    """Drop the replication slot if it exists (the server then frees the WAL it held)."""
    connection = _connect(dsn)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (slot,),
            )
    finally:
        connection.close()


def slot_lag(dsn: str, slot: str) -> tuple[int, int, int]:
    """(confirmed flush LSN, current WAL LSN, bytes of WAL the slot is behind) for a lag metric."""
    connection = _connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT confirmed_flush_lsn::text, pg_current_wal_lsn()::text "
                "FROM pg_replication_slots WHERE slot_name = %s",
                (slot,),
            )
            found = cursor.fetchone()
    finally:
        connection.close()
    if found is None:
        raise CdcError(f"replication slot {slot!r} does not exist")
    confirmed, current = parse_lsn(found[0]), parse_lsn(found[1])
    return confirmed, current, max(current - confirmed, 0)


def _column_types(cursor: Any, schema: str, table: str) -> dict[str, str]:
    cursor.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (sql.Identifier(schema, table).as_string(cursor),),
    )
    return dict(cursor.fetchall())


def _text_values(connection: psycopg2.extensions.connection) -> None:
    """Make psycopg2 return every value as the server's text, as pgoutput sends it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_type")
        oids = tuple(oid for (oid,) in cursor.fetchall())
    caster = psycopg2.extensions.new_type(oids, "ADLAKE_TEXT", lambda value, _cursor: value)
    psycopg2.extensions.register_type(caster, connection)


@dataclass
class Snapshot:
    """The tables as of the slot's consistent point, read inside the slot's exported snapshot."""

    position: int
    tables: list[tuple[str, str]]
    column_types: dict[str, dict[str, str]]
    _connection: psycopg2.extensions.connection
    fetch_rows: int = 10_000

    @property
    def lsn(self) -> str:
        """The consistent point in ``X/Y`` form."""
        return lsn_text(self.position)

    def changes(self) -> Iterator[Change]:
        """Every row of every table as an ``insert`` at :attr:`position`, streamed."""
        for number, (schema, table) in enumerate(self.tables):
            with self._connection.cursor(name=f"adlake_snapshot_{number}") as cursor:
                cursor.itersize = self.fetch_rows
                cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table)))
                names: list[str] | None = None
                for seq, values in enumerate(cursor):
                    if names is None:
                        names = [column.name for column in cursor.description]
                    row = dict(zip(names, values, strict=True))
                    yield Change("insert", self.position, seq, None, schema, table, row)


@contextmanager
def snapshot(
    dsn: str, publication: str, slot: str, tables: Sequence[str], fetch_rows: int = 10_000
) -> Iterator[Snapshot]:
    """Create the publication and slot and read the tables exactly as of the slot's start.

    Why nothing is lost or doubled: the slot is created on a replication connection with
    ``EXPORT_SNAPSHOT``. PostgreSQL then guarantees that the exported snapshot sees exactly the
    transactions committed before the slot's consistent point, and that the slot decodes
    exactly the transactions committed after it. The snapshot is imported
    (``SET TRANSACTION SNAPSHOT``) into a REPEATABLE READ transaction before the replication
    connection runs anything else, and kept until the caller leaves the context. So snapshot
    rows plus the stream are the tables' history with no gap and no overlap. Snapshot rows are
    at the consistent point, every streamed change at a later LSN, so applying both with
    latest-position-wins gives the source state.

    The slot must not exist yet (an existing slot's snapshot is gone). If the caller fails
    before the snapshot is durable, it drops the slot (:func:`drop_slot`) and starts again.
    """
    _check_slot_name(slot)
    names = [split_table(table) for table in tables]
    replication = _connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    reader: psycopg2.extensions.connection | None = None
    try:
        setup = _connect(dsn)
        setup.autocommit = True
        try:
            with setup.cursor() as cursor:
                ensure_publication(cursor, publication, tables)
                if _existing_slot(cursor, slot) is not None:
                    raise CdcError(
                        f"replication slot {slot!r} already exists, so its snapshot is gone: "
                        "drop it to snapshot again, or stream from it without a snapshot"
                    )
                column_types = {
                    f"{schema}.{table}": _column_types(cursor, schema, table)
                    for schema, table in names
                }
        finally:
            setup.close()
        with replication.cursor() as cursor:
            cursor.execute(f"CREATE_REPLICATION_SLOT {slot} LOGICAL pgoutput EXPORT_SNAPSHOT")
            _, consistent_point, snapshot_name, _ = cursor.fetchone()
        reader = _connect(dsn)
        _text_values(reader)
        reader.commit()
        reader.set_session(
            isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True
        )
        with reader.cursor() as cursor:
            cursor.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))
        yield Snapshot(parse_lsn(consistent_point), names, column_types, reader, fetch_rows)
    finally:
        if reader is not None:
            reader.close()
        replication.close()


@dataclass
class _Pending:
    """A decoded change waiting for its transaction's commit."""

    op: Operation
    relation: Relation
    row: dict[str, Any]
    key: dict[str, Any] | None


@dataclass
class PostgresChangeStream:
    """Reads committed transactions from a pgoutput slot; the slot advances only on acknowledge.

    Each change's ``position`` is the LSN just past its transaction's commit record, and
    ``seq`` its order within the transaction, so (position, seq) orders all changes and the
    last position of a batch is what :meth:`acknowledge` takes. Batches hold whole
    transactions; one transaction is held in memory until its commit arrives.
    """

    dsn: str
    publication: str
    slot: str
    status_interval: float = 10.0
    start_position: int = 0
    _decoder: PgOutputDecoder = field(default_factory=PgOutputDecoder)
    _types: dict[int, dict[str, str]] = field(default_factory=dict)
    _pending: list[_Pending] = field(default_factory=list)
    _connection: Any = None
    _cursor: Any = None
    _catalog: Any = None
    _in_transaction: bool = False
    _committed: int = 0

    def __post_init__(self) -> None:
        _check_slot_name(self.slot)

    def __enter__(self) -> PostgresChangeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        deadline = time.monotonic() + _SLOT_BUSY_SECONDS
        while True:
            connection = _connect(
                self.dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection
            )
            cursor = connection.cursor()
            try:
                # the server starts at the greater of this and the slot's confirmed flush
                # LSN: a caller that saved a position the slot was never told about (a crash
                # between the two) does not get those transactions again
                cursor.start_replication(
                    slot_name=self.slot,
                    start_lsn=self.start_position,
                    decode=False,
                    options={"proto_version": "1", "publication_names": self.publication},
                    status_interval=self.status_interval,
                )
            except psycopg2.errors.ObjectInUse:
                # a previous reader's walsender has not let the slot go yet
                connection.close()
                if time.monotonic() > deadline:
                    raise CdcError(f"replication slot {self.slot!r} is in use") from None
                time.sleep(0.1)
                continue
            except psycopg2.Error as error:
                connection.close()
                raise CdcError(
                    f"cannot stream from slot {self.slot!r}: {str(error).strip()}"
                ) from None
            self._connection, self._cursor = connection, cursor
            self._pending = []
            self._in_transaction = False
            self._committed = max(self._committed, self.start_position)
            if self.start_position:
                cursor.send_feedback(
                    write_lsn=self.start_position, flush_lsn=self.start_position, force=True
                )
            return

    def read_batch(self, max_changes: int = 10_000, max_seconds: float = 5.0) -> list[Change]:
        """Changes of whole transactions, until ``max_changes`` or ``max_seconds`` is reached.

        A transaction is never split, so a batch may hold more than ``max_changes``.
        """
        if self._cursor is None:
            self._start()
        batch: list[Change] = []
        deadline = time.monotonic() + max_seconds
        while len(batch) < max_changes:
            message = self._cursor.read_message()
            if message is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                select.select([self._cursor], [], [], min(remaining, 1.0))
                continue
            batch.extend(self._handle(self._decoder.decode(message.payload)))
        return batch

    @property
    def position(self) -> int:
        """A position safe to acknowledge after the last batch: past every transaction read.

        Between transactions that is the server's WAL end as of the last message or keepalive
        (transactions that touch no published table send nothing, so without this the slot
        would hold WAL for them); inside one, the last commit read.
        """
        if self._in_transaction or self._cursor is None:
            return self._committed
        return max(self._committed, self._cursor.wal_end or 0)

    def _handle(self, message: Any) -> list[Change]:
        if isinstance(message, Begin):
            self._pending = []
            self._in_transaction = True
        elif isinstance(message, Relation):
            self._types.pop(message.relation_id, None)
        elif isinstance(message, Insert):
            self._pending.append(_Pending("insert", message.relation, message.new, None))
        elif isinstance(message, Update):
            self._pending.append(_update(message))
        elif isinstance(message, Delete):
            self._pending.append(_delete(message))
        elif isinstance(message, Truncate):
            tables = ", ".join(f"{r.schema_name}.{r.table_name}" for r in message.relations)
            raise TableTruncated(
                f"TRUNCATE of {tables} (slot {self.slot!r}) cannot be captured as row changes: "
                "take a new snapshot of the table"
            )
        elif isinstance(message, Commit):
            self._in_transaction = False
            self._committed = max(self._committed, message.end_lsn)
            return self._commit(message.end_lsn, message.commit_time)
        return []

    def _commit(self, position: int, commit_time: datetime) -> list[Change]:
        changes = [
            Change(
                p.op,
                position,
                seq,
                commit_time,
                p.relation.schema_name,
                p.relation.table_name,
                p.row,
                p.key,
            )
            for seq, p in enumerate(self._pending)
        ]
        self._pending = []
        return changes

    def acknowledge(self, position: int) -> None:
        """Let the slot move past ``position``: call only once the changes up to it are durable."""
        if self._cursor is None:
            self._start()
        self._cursor.send_feedback(write_lsn=position, flush_lsn=position, force=True)

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        """Column name -> type name (``format_type``) of a table the stream has seen."""
        for relation in self._decoder.relations.values():
            if (relation.schema_name, relation.table_name) == (schema, table):
                if relation.relation_id not in self._types:
                    self._types[relation.relation_id] = self._type_names(relation)
                return self._types[relation.relation_id]
        raise CdcError(f"slot {self.slot!r} has sent no change of {schema}.{table} yet")

    def _type_names(self, relation: Relation) -> dict[str, str]:
        if self._catalog is None:
            self._catalog = _connect(self.dsn)
            self._catalog.autocommit = True
        with self._catalog.cursor() as cursor:
            return {
                column.name: _format_type(cursor, column.type_oid, column.type_modifier)
                for column in relation.columns
            }

    def close(self) -> None:
        """Close the connections without acknowledging anything more."""
        for connection in (self._connection, self._catalog):
            if connection is not None:
                connection.close()
        self._connection = self._cursor = self._catalog = None


def _format_type(cursor: Any, oid: int, modifier: int) -> str:
    cursor.execute("SELECT format_type(%s, %s)", (oid, modifier if modifier >= 0 else None))
    return cursor.fetchone()[0]


def _update(message: Update) -> _Pending:
    relation, new, old = message.relation, dict(message.new), message.old
    for name, value in list(new.items()):
        if value is UNCHANGED_TOAST:
            if old is not None and old.get(name) is not UNCHANGED_TOAST and message.old_kind == "O":
                new[name] = old[name]
            else:
                del new[name]  # not sent by the server: the row keeps its previous value
    key = None
    if old is not None:
        old_key = {name: old[name] for name in relation.key_columns}
        if old_key != {name: new.get(name) for name in relation.key_columns}:
            key = old_key
    return _Pending("update", relation, new, key)


def _delete(message: Delete) -> _Pending:
    relation, old = message.relation, message.old
    row = {name: old[name] for name in relation.key_columns} if message.old_kind == "K" else old
    return _Pending("delete", relation, row, None)
