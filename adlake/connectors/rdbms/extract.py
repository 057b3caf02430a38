"""What both engines share: the SELECT of a spec, the incremental bound, and the Parquet writer."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adlake.connectors.rdbms.types import RdbmsExtractError, TableSpec


@dataclass(frozen=True)
class ExtractResult:
    """What :func:`write_parquet` wrote: rows, file bytes and the next watermark (or None)."""

    rows: int
    bytes: int
    max_incremental_value: Any | None


def lower_bound(spec: TableSpec, since: Any | None, overlap: Any | None) -> Any | None:
    """``since - overlap``: where an incremental extract starts; None means a full extract.

    The overlap (a timedelta for timestamps, an int for ids) re-reads rows committed late
    with a value just below the last watermark; downstream deduplicates them by primary key.
    """
    if since is None:
        return None
    if spec.incremental_column is None:
        raise RdbmsExtractError(f"{spec.label}: since={since!r} needs an incremental_column")
    if overlap is None:
        return since
    if isinstance(since, (datetime, date)) and not isinstance(overlap, timedelta):
        raise RdbmsExtractError(f"{spec.label}: the overlap of a timestamp must be a timedelta")
    if isinstance(since, (int, Decimal)) and not isinstance(overlap, (int, Decimal)):
        raise RdbmsExtractError(f"{spec.label}: the overlap of an id must be a number")
    return since - overlap


def select_sql(spec: TableSpec, quote: Callable[[str], str], bound: str | None) -> str:
    """``SELECT *`` of the table or query, ``WHERE column >= bound`` and ordered by it.

    ``bound`` is a placeholder or server-side expression, never a value: values are bound.
    """
    if spec.table is not None:
        source = f"{quote(spec.schema)}.{quote(spec.table)}" if spec.schema else quote(spec.table)
    else:
        source = f"({spec.query}) AS adlake_query"
    sql = f"SELECT * FROM {source}"
    if spec.incremental_column is not None:
        column = quote(spec.incremental_column)
        if bound is not None:
            sql += f" WHERE {column} >= {bound}"
        sql += f" ORDER BY {column}"
    return sql


def rechunk(batch: pa.RecordBatch, batch_rows: int) -> Iterable[pa.RecordBatch]:
    """``batch`` in slices of at most ``batch_rows`` rows (zero-copy)."""
    if batch.num_rows <= batch_rows:
        yield batch
        return
    for offset in range(0, batch.num_rows, batch_rows):
        yield batch.slice(offset, batch_rows)


def write_parquet(
    batches: Iterable[pa.RecordBatch],
    path: Path,
    *,
    incremental_column: str | None = None,
) -> ExtractResult:
    """Stream ``batches`` into one zstd Parquet file at ``path``, atomically (temp + rename).

    Only one batch is held at a time. Returns the row count, the file's size and the maximum of
    ``incremental_column`` seen: the next watermark, to be saved only after this file is durable.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    writer: pq.ParquetWriter | None = None
    rows, highest = 0, None
    try:
        for batch in batches:
            if writer is None:
                writer = pq.ParquetWriter(temporary, batch.schema, compression="zstd")
            writer.write_batch(batch)
            rows += batch.num_rows
            if incremental_column is not None and batch.num_rows:
                value = pc.max(batch.column(incremental_column)).as_py()
                if value is not None and (highest is None or value > highest):
                    highest = value
        if writer is None:
            raise RdbmsExtractError(f"no batch, not even an empty one, to write to {path}")
        writer.close()
        writer = None
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        if writer is not None:
            writer.close()
        temporary.unlink(missing_ok=True)
    return ExtractResult(rows=rows, bytes=path.stat().st_size, max_incremental_value=highest)
