"""The one shape of a captured change, whatever the engine, and its Parquet change batches.

A change is (operation, position, commit time, table, row image). ``position`` is an integer
that orders changes within one source: the PostgreSQL LSN, or for MySQL/MariaDB the binlog file
number and offset packed into one number (:func:`binlog_position`). Applying changes in
position order, latest wins, gives the source's current state; replaying a batch twice is
harmless. Row images keep each value as the source's text form (JSON null for NULL), so the
clean layer casts them with the declared column types like any other raw data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

Operation = Literal["insert", "update", "delete"]

CHANGE_SCHEMA = pa.schema(
    [
        pa.field("op", pa.string(), nullable=False),
        pa.field("position", pa.int64(), nullable=False),
        pa.field("seq", pa.int32(), nullable=False),
        pa.field("commit_time", pa.timestamp("us", tz="UTC")),
        pa.field("schema_name", pa.string()),
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("row", pa.string(), nullable=False),
        pa.field("key", pa.string()),
    ]
)


@dataclass(frozen=True)
class Change:
    """One row change. ``row`` is the new image (the old key columns for a delete).

    ``seq`` orders changes that share a position (the rows of one statement); ``key`` is the
    old key image when an update changed the primary key, else None.
    """

    op: Operation
    position: int
    seq: int
    commit_time: datetime | None
    schema_name: str | None
    table_name: str
    row: dict[str, Any]
    key: dict[str, Any] | None = field(default=None)

    def as_record(self) -> dict[str, Any]:
        """The change as a row of :data:`CHANGE_SCHEMA`."""
        return {
            "op": self.op,
            "position": self.position,
            "seq": self.seq,
            "commit_time": self.commit_time,
            "schema_name": self.schema_name,
            "table_name": self.table_name,
            "row": json.dumps(self.row, default=str, sort_keys=True),
            "key": json.dumps(self.key, default=str, sort_keys=True) if self.key else None,
        }


def binlog_position(file_name: str, offset: int) -> int:
    """A MySQL/MariaDB binlog coordinate as one ordered integer: file number << 32 | offset."""
    number = int(file_name.rsplit(".", 1)[1])
    return (number << 32) | offset


def binlog_coordinates(position: int) -> tuple[int, int]:
    """(file number, offset) of a packed binlog position."""
    return position >> 32, position & 0xFFFFFFFF


class ChangeBatchWriter:
    """Streams changes into one Parquet file (zstd), a row group per ``rows_per_group``.

    Memory stays bounded by the row group; ``close()`` returns the number of changes and the
    highest position written, which the caller acknowledges to the source only after the file
    is durable in raw.
    """

    def __init__(self, path: Path, rows_per_group: int = 50_000) -> None:
        self.path = path
        self.rows_per_group = rows_per_group
        self._pending: list[dict[str, Any]] = []
        self._writer = pq.ParquetWriter(str(path), CHANGE_SCHEMA, compression="zstd")
        self.count = 0
        self.last_position: int | None = None

    def write(self, changes: Iterable[Change]) -> None:
        """Add changes (in source order)."""
        for change in changes:
            self._pending.append(change.as_record())
            self.count += 1
            self.last_position = change.position
            if len(self._pending) >= self.rows_per_group:
                self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.Table.from_pylist(self._pending, schema=CHANGE_SCHEMA))
            self._pending = []

    def close(self) -> tuple[int, int | None]:
        """Finish the file; (changes written, last position)."""
        self._flush()
        self._writer.close()
        return self.count, self.last_position

    def __enter__(self) -> ChangeBatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._writer.is_open:
            self.close()
