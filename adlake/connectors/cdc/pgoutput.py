"""A decoder of PostgreSQL's ``pgoutput`` logical replication messages, protocol version 1.

Hand-written on purpose: the protocol is small and documented ("Logical Replication Message
Formats" in the PostgreSQL manual), while the decoders on PyPI are unmaintained. Only what
protocol version 1 sends in text mode is decoded: Begin, Commit, Origin, Relation, Type,
Insert, Update (with the old key ``K`` or old tuple ``O``), Delete and Truncate, and the
logical decoding Message ``M``. Values stay in their text form: ``None`` for SQL NULL and
:data:`UNCHANGED_TOAST` for an out-of-line value an update did not touch (the server does not
send it).

:class:`PgOutputDecoder` keeps the relation metadata (names, key flags, type OIDs) per relation
id, because the server sends a Relation message once per session before the first change of
a table, and again only when the table changes shape.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from adlake.connectors.cdc.errors import CdcError

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class _UnchangedToast:
    """The marker of a TOASTed value an update did not change (its value is not sent)."""

    _instance: _UnchangedToast | None = None

    def __new__(cls) -> _UnchangedToast:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED_TOAST"


UNCHANGED_TOAST: Any = _UnchangedToast()


@dataclass(frozen=True)
class Column:
    """A column of a published relation: name, part of the replica identity, type OID."""

    name: str
    is_key: bool
    type_oid: int
    type_modifier: int


@dataclass(frozen=True)
class Relation:
    """A table as the Relation message describes it."""

    relation_id: int
    schema_name: str
    table_name: str
    replica_identity: str  # d default, n nothing, f full, i index
    columns: tuple[Column, ...]

    @property
    def key_columns(self) -> list[str]:
        """Names of the replica identity (primary key by default) columns."""
        return [column.name for column in self.columns if column.is_key]


@dataclass(frozen=True)
class Begin:
    """Start of a transaction: LSN of its commit record, commit time, transaction id."""

    final_lsn: int
    commit_time: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    """End of a transaction: LSN of the commit record and LSN just past it."""

    flags: int
    commit_lsn: int
    end_lsn: int
    commit_time: datetime


@dataclass(frozen=True)
class Origin:
    """The replication origin of the transaction (sent for changes replicated from elsewhere)."""

    commit_lsn: int
    name: str


@dataclass(frozen=True)
class TypeInfo:
    """A non built-in data type the server describes before first using it."""

    type_oid: int
    schema_name: str
    name: str


@dataclass(frozen=True)
class Insert:
    """A new row."""

    relation: Relation
    new: dict[str, Any]


@dataclass(frozen=True)
class Update:
    """A changed row; ``old`` is the old key (``K``) or old row (``O``) when the server sent it.

    The server sends ``old`` only when the replica identity changed (a primary key update) or
    the table has REPLICA IDENTITY FULL.
    """

    relation: Relation
    new: dict[str, Any]
    old: dict[str, Any] | None = None
    old_kind: str | None = None


@dataclass(frozen=True)
class Delete:
    """A deleted row: its key columns (``K``, other columns None) or, with FULL, the row."""

    relation: Relation
    old: dict[str, Any]
    old_kind: str


@dataclass(frozen=True)
class Truncate:
    """TRUNCATE of one or more relations."""

    relations: tuple[Relation, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True)
class LogicalMessage:
    """A message written with ``pg_logical_emit_message`` (sent only with ``messages`` on)."""

    transactional: bool
    lsn: int
    prefix: str
    content: bytes


Message = (
    Begin
    | Commit
    | Origin
    | Relation
    | TypeInfo
    | Insert
    | Update
    | Delete
    | Truncate
    | LogicalMessage
)


def pg_time(microseconds: int) -> datetime:
    """A PostgreSQL timestamp (microseconds since 2000-01-01 UTC) as an aware datetime."""
    return PG_EPOCH + timedelta(microseconds=microseconds)


def lsn_text(lsn: int) -> str:
    """An LSN in PostgreSQL's ``X/Y`` text form."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """An LSN in ``X/Y`` text form as an integer."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


class _Reader:
    """Big-endian reads from one message buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.at = 0

    def _unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise CdcError(f"pgoutput message truncated at byte {self.at}")
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return value

    def byte(self) -> str:
        return chr(self._unpack("!B"))

    def int8(self) -> int:
        return self._unpack("!b")

    def int16(self) -> int:
        return self._unpack("!h")

    def int32(self) -> int:
        return self._unpack("!i")

    def uint32(self) -> int:
        return self._unpack("!I")

    def int64(self) -> int:
        return self._unpack("!q")

    def uint64(self) -> int:
        return self._unpack("!Q")

    def string(self) -> str:
        end = bytes(self.data[self.at :]).find(b"\0")
        if end < 0:
            raise CdcError(f"pgoutput string not terminated at byte {self.at}")
        value = bytes(self.data[self.at : self.at + end]).decode()
        self.at += end + 1
        return value

    def raw(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise CdcError(f"pgoutput message truncated at byte {self.at}")
        value = bytes(self.data[self.at : self.at + size])
        self.at += size
        return value


@dataclass
class PgOutputDecoder:
    """Decodes pgoutput v1 messages one by one, remembering relations and types it was sent."""

    relations: dict[int, Relation] = field(default_factory=dict)
    types: dict[int, TypeInfo] = field(default_factory=dict)

    def decode(self, data: bytes) -> Message:
        """One message (the payload of one XLogData) as its dataclass."""
        if not data:
            raise CdcError("empty pgoutput message")
        reader = _Reader(data)
        kind = reader.byte()
        handler = self._handlers.get(kind)
        if handler is None:
            raise CdcError(f"unknown pgoutput message type {kind!r}")
        return handler(self, reader)

    def _begin(self, reader: _Reader) -> Begin:
        return Begin(reader.uint64(), pg_time(reader.int64()), reader.uint32())

    def _commit(self, reader: _Reader) -> Commit:
        return Commit(reader.int8(), reader.uint64(), reader.uint64(), pg_time(reader.int64()))

    def _origin(self, reader: _Reader) -> Origin:
        return Origin(reader.uint64(), reader.string())

    def _relation(self, reader: _Reader) -> Relation:
        relation_id, schema_name, table_name = reader.uint32(), reader.string(), reader.string()
        replica_identity = reader.byte()
        columns = []
        for _ in range(reader.int16()):
            flags, name = reader.int8(), reader.string()
            columns.append(Column(name, bool(flags & 1), reader.uint32(), reader.int32()))
        relation = Relation(relation_id, schema_name, table_name, replica_identity, tuple(columns))
        self.relations[relation_id] = relation
        return relation

    def _type(self, reader: _Reader) -> TypeInfo:
        info = TypeInfo(reader.uint32(), reader.string(), reader.string())
        self.types[info.type_oid] = info
        return info

    def _relation_of(self, reader: _Reader) -> Relation:
        relation_id = reader.uint32()
        try:
            return self.relations[relation_id]
        except KeyError:
            raise CdcError(
                f"pgoutput change for relation {relation_id} before its Relation message"
            ) from None

    def _tuple(self, reader: _Reader, relation: Relation) -> dict[str, Any]:
        count = reader.int16()
        if count != len(relation.columns):
            raise CdcError(
                f"{relation.schema_name}.{relation.table_name}: tuple of {count} columns, "
                f"relation has {len(relation.columns)}"
            )
        values: dict[str, Any] = {}
        for column in relation.columns:
            kind = reader.byte()
            if kind == "n":
                values[column.name] = None
            elif kind == "u":
                values[column.name] = UNCHANGED_TOAST
            elif kind == "t":
                values[column.name] = reader.raw(reader.int32()).decode()
            else:
                raise CdcError(
                    f"{relation.schema_name}.{relation.table_name}.{column.name}: tuple value "
                    f"kind {kind!r} (binary mode is not supported)"
                )
        return values

    def _insert(self, reader: _Reader) -> Insert:
        relation = self._relation_of(reader)
        if (marker := reader.byte()) != "N":
            raise CdcError(f"pgoutput Insert: expected 'N', got {marker!r}")
        return Insert(relation, self._tuple(reader, relation))

    def _update(self, reader: _Reader) -> Update:
        relation = self._relation_of(reader)
        marker = reader.byte()
        old = old_kind = None
        if marker in ("K", "O"):
            old_kind, old = marker, self._tuple(reader, relation)
            marker = reader.byte()
        if marker != "N":
            raise CdcError(f"pgoutput Update: expected 'N', got {marker!r}")
        return Update(relation, self._tuple(reader, relation), old, old_kind)

    def _delete(self, reader: _Reader) -> Delete:
        relation = self._relation_of(reader)
        marker = reader.byte()
        if marker not in ("K", "O"):
            raise CdcError(f"pgoutput Delete: expected 'K' or 'O', got {marker!r}")
        return Delete(relation, self._tuple(reader, relation), marker)

    def _truncate(self, reader: _Reader) -> Truncate:
        count, options = reader.int32(), reader.int8()
        relations = tuple(self._relation_of(reader) for _ in range(count))
        return Truncate(relations, bool(options & 1), bool(options & 2))

    def _message(self, reader: _Reader) -> LogicalMessage:
        transactional, lsn, prefix = bool(reader.int8()), reader.uint64(), reader.string()
        return LogicalMessage(transactional, lsn, prefix, reader.raw(reader.int32()))

    _handlers = {
        "B": _begin,
        "C": _commit,
        "O": _origin,
        "R": _relation,
        "Y": _type,
        "I": _insert,
        "U": _update,
        "D": _delete,
        "T": _truncate,
        "M": _message,
    }
