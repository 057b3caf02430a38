"""MySQL/MariaDB extracts through PyMySQL's unbuffered ``SSCursor``, converted to Arrow batches.

The server streams rows as they are read; ``batch_rows`` rows at a time become one Arrow batch
whose explicit schema comes from the result's column definitions (type, flags, charset,
length, scale), so types do not depend on the values seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pymysql
import pymysql.cursors
from pymysql.constants import FIELD_TYPE, FLAG

from adlake.connectors.rdbms.extract import lower_bound, select_sql
from adlake.connectors.rdbms.types import RdbmsExtractError, TableSpec

BINARY_CHARSET = 63
# rows become Python objects FETCH_ROWS at a time (about 2 KB each at peak, so a few MB), and
# are gathered as Arrow until a batch reaches batch_rows rows or BATCH_BYTES bytes
FETCH_ROWS = 2_000
BATCH_BYTES = 8 * 2**20
INTEGERS = {
    FIELD_TYPE.TINY: (pa.int8(), pa.uint8()),
    FIELD_TYPE.SHORT: (pa.int16(), pa.uint16()),
    FIELD_TYPE.INT24: (pa.int32(), pa.uint32()),
    FIELD_TYPE.LONG: (pa.int32(), pa.uint32()),
    FIELD_TYPE.LONGLONG: (pa.int64(), pa.uint64()),
}
FIXED = {
    FIELD_TYPE.FLOAT: pa.float32(),
    FIELD_TYPE.DOUBLE: pa.float64(),
    FIELD_TYPE.DATE: pa.date32(),
    FIELD_TYPE.NEWDATE: pa.date32(),
    FIELD_TYPE.DATETIME: pa.timestamp("us"),
    FIELD_TYPE.TIMESTAMP: pa.timestamp("us", tz="UTC"),  # the session runs in UTC
    FIELD_TYPE.TIME: pa.duration("us"),  # MySQL TIME spans -838 to 838 hours
    FIELD_TYPE.YEAR: pa.int16(),
    FIELD_TYPE.JSON: pa.string(),
}
STRINGS = {
    FIELD_TYPE.VARCHAR,
    FIELD_TYPE.VAR_STRING,
    FIELD_TYPE.STRING,
    FIELD_TYPE.TINY_BLOB,
    FIELD_TYPE.MEDIUM_BLOB,
    FIELD_TYPE.LONG_BLOB,
    FIELD_TYPE.BLOB,
    FIELD_TYPE.ENUM,
    FIELD_TYPE.SET,
}


def quote_identifier(name: str) -> str:
    """``name`` as a MySQL quoted identifier (embedded backticks doubled)."""
    return "`" + name.replace("`", "``") + "`"


def arrow_type(field: Any) -> pa.DataType:
    """The Arrow type of one PyMySQL column definition (``FieldDescriptor``).

    ``tinyint(1)`` (MySQL's BOOLEAN) is boolean; DECIMAL keeps its precision and scale
    (decimal128, or decimal256 above 38 digits); binary-charset strings (BLOB, VARBINARY) are
    binary; ENUM, SET and JSON (a LONGTEXT in MariaDB) are strings.
    """
    unsigned = bool(field.flags & FLAG.UNSIGNED)
    if field.type_code == FIELD_TYPE.TINY and field.length == 1:
        return pa.bool_()
    if field.type_code in INTEGERS:
        return INTEGERS[field.type_code][unsigned]
    if field.type_code in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        # the display length counts the sign (unless unsigned) and the decimal point
        precision = field.length - (0 if unsigned else 1) - (1 if field.scale else 0)
        return (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, field.scale)
    if field.type_code in FIXED:
        return FIXED[field.type_code]
    if field.type_code in STRINGS:
        return pa.binary() if field.charsetnr == BINARY_CHARSET else pa.string()
    if field.type_code == FIELD_TYPE.BIT:
        return pa.binary()
    raise RdbmsExtractError(f"column {field.name!r}: unsupported MySQL type code {field.type_code}")


def to_batch(rows: list[tuple[Any, ...]], schema: pa.Schema, spec: TableSpec) -> pa.RecordBatch:
    """Rows (tuples) as one Arrow batch of ``schema``; an error names the column that fails."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    arrays = []
    for values, field in zip(columns, schema, strict=True):
        try:
            if field.type == pa.bool_():  # tinyint(1) arrives as 0/1
                arrays.append(pa.array(values, type=pa.int8()).cast(pa.bool_()))
            else:
                arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
            raise RdbmsExtractError(
                f"{spec.label}: column {field.name!r} does not fit {field.type}: {error}"
            ) from error
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def gather(
    cursor: pymysql.cursors.SSCursor, schema: pa.Schema, spec: TableSpec, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Arrow batches of at most ``batch_rows`` rows and about BATCH_BYTES from ``cursor``.

    Yields at least one batch (empty when there is no row), so the schema is always known.
    """
    pieces: list[pa.RecordBatch] = []
    rows = size = 0
    done = yielded = False
    while not done:
        fetched = cursor.fetchmany(min(FETCH_ROWS, batch_rows - rows))
        done = not fetched
        if fetched:
            piece = to_batch(fetched, schema, spec)
            pieces.append(piece)
            rows, size = rows + piece.num_rows, size + piece.nbytes
        if pieces and (done or rows >= batch_rows or size >= BATCH_BYTES):
            yield pa.Table.from_batches(pieces, schema=schema).combine_chunks().to_batches()[0]
            pieces, rows, size, yielded = [], 0, 0, True
        elif done and not yielded:
            yield to_batch([], schema, spec)


def extract_mysql(
    host: str,
    port: int,
    user: str,
    password: str,
    database: str,
    spec: TableSpec,
    *,
    since: Any | None = None,
    overlap: Any | None = None,
    batch_rows: int = 50_000,
) -> Iterator[pa.RecordBatch]:
    """Stream the table or query of ``spec`` from a MySQL/MariaDB ``database``.

    Full without ``since``; otherwise rows whose incremental column is ``>= since - overlap``
    (bound as a parameter), ordered by it. TIMESTAMP columns come as UTC. Yields at least one
    (possibly empty) batch, each of at most ``batch_rows`` rows.
    """
    bound = lower_bound(spec, since, overlap)
    sql = select_sql(spec, quote_identifier, None if bound is None else "%s")
    connection = pymysql.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        database=database,
        cursorclass=pymysql.cursors.SSCursor,
        init_command="SET time_zone = '+00:00'",
        connect_timeout=30,
    )
    try:
        # no ``with``: closing an unbuffered cursor reads every remaining row first
        cursor = connection.cursor()
        cursor.execute(sql, None if bound is None else (bound,))
        # the column definitions (flags, charset) that cursor.description leaves out
        fields = cursor._result.fields  # noqa: SLF001
        schema = pa.schema([pa.field(f.name, arrow_type(f)) for f in fields])
        yield from gather(cursor, schema, spec, batch_rows)
    finally:
        connection.close()
