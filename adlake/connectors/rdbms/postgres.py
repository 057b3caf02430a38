"""PostgreSQL extracts through ADBC: ``COPY ... TO STDOUT (FORMAT binary)`` streamed as Arrow.

ADBC streams a query's result only when the query has no bound parameters (with parameters it
buffers the whole result). So the incremental bound is bound as a parameter of ``set_config``
into a session setting, and the streamed query reads it back with ``current_setting`` cast to
the bound's type: the value is never formatted into SQL, and memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import adbc_driver_postgresql.dbapi as adbc_postgres
import pyarrow as pa

from adlake.connectors.rdbms.extract import lower_bound, rechunk, select_sql
from adlake.connectors.rdbms.types import RdbmsExtractError, TableSpec

SETTING = "adlake.extract_since"


def quote_identifier(name: str) -> str:
    """``name`` as a PostgreSQL quoted identifier (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def bound_type(value: Any) -> str:
    """The PostgreSQL type a watermark of this Python type is compared as."""
    if isinstance(value, bool):
        raise RdbmsExtractError(f"a boolean cannot be a watermark: {value!r}")
    if isinstance(value, datetime):
        return "timestamptz" if value.tzinfo is not None else "timestamp"
    if isinstance(value, date):
        return "date"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, (Decimal, float)):
        return "numeric"
    if isinstance(value, str):
        return "text"
    raise RdbmsExtractError(f"unsupported watermark type {type(value).__name__}: {value!r}")


def arrow_field(field: pa.Field) -> pa.Field:
    """The field as written to raw: plain Arrow types, no driver metadata.

    ADBC returns ``numeric`` as an opaque string: with a declared precision and scale it
    becomes ``decimal128`` (``decimal256`` above 38 digits); unconstrained ``numeric`` stays
    a string, since no fixed scale holds every value. json/jsonb become strings, uuid its
    canonical string.
    """
    kind = field.type
    if isinstance(kind, pa.UuidType):
        kind = pa.string()
    elif isinstance(kind, pa.BaseExtensionType):
        kind = kind.storage_type
        typmod = int((field.metadata or {}).get(b"POSTGRESQL:typmod", b"-1"))
        if (field.metadata or {}).get(b"POSTGRESQL:type") == b"numeric" and typmod >= 4:
            precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
            kind = (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
    return pa.field(field.name, kind, nullable=field.nullable)


def convert(batch: pa.RecordBatch, schema: pa.Schema, spec: TableSpec) -> pa.RecordBatch:
    """``batch`` cast column by column to ``schema`` (see :func:`arrow_field`)."""
    columns = []
    for column, target in zip(batch.columns, schema, strict=True):
        if isinstance(column.type, pa.UuidType):
            column = pa.array([None if v is None else str(v) for v in column.to_pylist()])
        elif isinstance(column, pa.ExtensionArray):
            column = column.storage
        if column.type != target.type:
            try:
                column = column.cast(target.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise RdbmsExtractError(
                    f"{spec.label}: column {target.name!r} does not fit {target.type}: {error}"
                ) from error
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def extract_postgres(
    dsn: str,
    spec: TableSpec,
    *,
    since: Any | None = None,
    overlap: Any | None = None,
    batch_rows: int = 50_000,
) -> Iterator[pa.RecordBatch]:
    """Stream the table or query of ``spec`` from the PostgreSQL at ``dsn`` (a libpq URI).

    Full without ``since``; otherwise rows whose incremental column is ``>= since - overlap``,
    ordered by it. Timestamps with time zone come as UTC. Yields at least one (possibly empty)
    batch, so the schema is always known; batches have at most ``batch_rows`` rows.
    """
    bound = lower_bound(spec, since, overlap)
    placeholder = None
    if bound is not None:
        placeholder = f"CAST(current_setting('{SETTING}') AS {bound_type(bound)})"
    sql = select_sql(spec, quote_identifier, placeholder)
    with adbc_postgres.connect(dsn, autocommit=True) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('TimeZone', 'UTC', false)")
            cursor.fetchall()
            if bound is not None:
                text = bound.isoformat() if isinstance(bound, (date, datetime)) else str(bound)
                cursor.execute(f"SELECT set_config('{SETTING}', $1, false)", parameters=(text,))
                cursor.fetchall()
        with connection.cursor() as cursor:
            cursor.execute(sql)
            reader = cursor.fetch_record_batch()
            schema = pa.schema([arrow_field(field) for field in reader.schema])
            empty = True
            for batch in reader:
                for piece in rechunk(convert(batch, schema, spec), batch_rows):
                    empty = False
                    yield piece
            if empty:
                yield pa.RecordBatch.from_pylist([], schema=schema)
