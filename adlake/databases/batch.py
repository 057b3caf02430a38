"""One batch extract of a database table into raw, and the watermark that makes the next one
incremental.

A run reads the table's watermark (``state/<source>/<table>/watermark.json``; absent: a full
extract), streams the rows at or above ``watermark - overlap`` into a local Parquet file,
publishes that file to ``raw/<source>/<table>/extracts/<UTC time>_<full|incremental>.parquet``
in one rename, and only *then* saves the new watermark. A failure anywhere before that leaves
the old watermark, so the next run reads the same range again; the overlap and the re-read rows
are deduplicated by primary key when the extracts are applied
(:mod:`adlake.transform.extracts_apply`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import adbc_driver_manager
import pyarrow as pa
import pymysql

from adlake.config.databases import DbTableConfig
from adlake.connectors.rdbms import (
    RdbmsExtractError,
    TableSpec,
    extract_mysql,
    extract_postgres,
    write_parquet,
)
from adlake.databases.connection import DatabaseUrl
from adlake.databases.layout import extracts_prefix, table_state_prefix
from adlake.lake.storage import Lake

FILE_TIME = "%Y%m%dT%H%M%S%fZ"


class BatchExtractError(RuntimeError):
    """An extract failed; the message names the source, table, masked URL and the fix."""


@dataclass
class ExtractOutcome:
    """What one extract did: rows and bytes written, the raw file, and the watermarks.

    ``since`` is the saved watermark the extract started from (before the overlap), ``watermark``
    the one saved after it; both as text, None when there is none.
    """

    table: str
    rows: int
    bytes: int
    path: str
    mode: str
    since: str | None
    watermark: str | None


def watermark_path(source: str, table: str) -> str:
    """The watermark document of one table."""
    return f"{table_state_prefix(source, table)}/watermark.json"


def encode_watermark(value: Any) -> tuple[str, str]:
    """(type, text) of a watermark value, so that :func:`decode_watermark` gives it back.

    The type is kept because the text alone is ambiguous (``2026-03-01`` a date or a string,
    a timestamp with or without time zone), and the database compares by type.
    """
    if isinstance(value, datetime):
        return ("timestamp_tz" if value.tzinfo is not None else "timestamp"), value.isoformat()
    if isinstance(value, date):
        return "date", value.isoformat()
    if isinstance(value, bool):
        raise RdbmsExtractError(f"a boolean column cannot be a watermark: {value!r}")
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, (Decimal, float)):
        return "decimal", str(Decimal(str(value)))
    if isinstance(value, str):
        return "str", value
    raise RdbmsExtractError(f"unsupported watermark type {type(value).__name__}: {value!r}")


def decode_watermark(kind: str, text: str) -> Any:
    """The watermark value stored as ``text`` of type ``kind`` (see :func:`encode_watermark`)."""
    if kind in ("timestamp_tz", "timestamp"):
        return datetime.fromisoformat(text)
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "int":
        return int(text)
    if kind == "decimal":
        return Decimal(text)
    if kind == "str":
        return text
    raise RdbmsExtractError(f"unknown watermark type {kind!r}")


def table_spec(table: DbTableConfig) -> TableSpec:
    """The connector's spec of a configured table, with the database's column names.

    ``schema.table`` (PostgreSQL) or ``database.table`` (MySQL) gives the schema; the primary
    key and incremental column are declared names, read from the database by their ``source``.
    """
    schema, name = None, table.table
    if table.table is not None and "." in table.table:
        schema, name = table.table.split(".", 1)

    def source(column: str) -> str:
        return table.columns[column].source or column

    incremental = table.incremental_column
    return TableSpec(
        schema=schema,
        table=name,
        query=table.query,
        primary_key=[source(k) for k in table.primary_key],
        incremental_column=source(incremental) if incremental else None,
    )


def overlap_of(since: Any, overlap: int) -> Any:
    """The overlap in the watermark's unit: seconds for a timestamp or date, units for a number.

    A text watermark has no distance, so it gets none.
    """
    if isinstance(since, (datetime, date)):
        return timedelta(seconds=overlap)
    if isinstance(since, (int, Decimal)):
        return overlap
    return None


def extract_table(
    store: Lake,
    source: str,
    table_name: str,
    table: DbTableConfig,
    url: DatabaseUrl,
    now: datetime,
) -> ExtractOutcome:
    """Extract one table into raw (full, or incremental from its watermark) and save the next
    watermark only after the file is published.

    The file is named by ``now`` (UTC), so names sort in extract order. An empty extract keeps
    the old watermark. Errors name the table and the fix, with the URL's password masked.
    """
    spec = table_spec(table)
    state_path = watermark_path(source, table_name)
    saved = _load_watermark(store, state_path, table.incremental_column)
    since = None if saved is None else decode_watermark(saved["type"], saved["value"])
    mode = "full" if since is None else "incremental"
    stamp = now.astimezone(UTC) if now.tzinfo else now
    path = f"{extracts_prefix(source, table_name)}/{stamp.strftime(FILE_TIME)}_{mode}.parquet"
    label = f"{source}.{table_name} ({spec.label})"
    with store.scratch() as scratch:
        local = Path(scratch) / "extract.parquet"
        try:
            batches = _extract(url, spec, since, table.overlap)
            result = write_parquet(batches, local, incremental_column=spec.incremental_column)
        except RdbmsExtractError as error:
            fix = "check the table's settings (table or query, columns) in adlake.yaml"
            raise _error(label, url, error, fix) from _cause(url, error)
        except (adbc_driver_manager.Error, pymysql.err.Error, OSError, pa.ArrowException) as error:
            fix = (
                f"check that {url.host}:{url.port} is reachable, that the connection secret "
                f"holds the right URL, and that user {url.user!r} may read {spec.label}"
            )
            raise _error(label, url, error, fix) from _cause(url, error)
        try:
            store.publish(str(local), path)
        except (OSError, RuntimeError) as error:
            raise BatchExtractError(
                f"{label}: the extract could not be published to {path}, the watermark is "
                f"unchanged: {error}. Fix: check the lake's storage (space, permissions) and "
                "run again; the same range is read again"
            ) from error
    watermark = None if saved is None else saved["value"]
    highest = result.max_incremental_value
    if table.incremental_column is not None and result.rows and _advances(since, highest):
        kind, text = encode_watermark(highest)
        store.write_json(
            state_path,
            {
                "column": table.incremental_column,
                "type": kind,
                "value": text,
                "extract": path,
                "updated_at": stamp.isoformat(),
            },
        )
        watermark = text
    return ExtractOutcome(
        table=table_name,
        rows=result.rows,
        bytes=result.bytes,
        path=path,
        mode=mode,
        since=None if saved is None else saved["value"],
        watermark=watermark,
    )


def _load_watermark(store: Lake, path: str, column: str | None) -> dict[str, str] | None:
    """The saved watermark document, or None (a full extract) when there is none, the table
    has no incremental column, or the document is for another column."""
    if column is None or not store.exists(path):
        return None
    document = store.read_json(path)
    return document if document.get("column") == column else None


def _extract(url: DatabaseUrl, spec: TableSpec, since: Any, overlap: int) -> Any:
    """The record batches of the table from the engine of ``url``."""
    options = {"since": since, "overlap": None if since is None else overlap_of(since, overlap)}
    if url.kind == "postgres":
        return extract_postgres(url.url, spec, **options)
    return extract_mysql(url.host, url.port, url.user, url.password, url.database, spec, **options)


def _advances(since: Any, highest: Any) -> bool:
    """Whether ``highest`` replaces the saved watermark ``since``.

    The overlap can re-read only rows below the saved watermark (the row holding it was
    deleted), so a lower value never replaces it; a value of another kind (the column was
    retyped) does, since the two do not compare.
    """
    if highest is None:
        return False
    if since is None or encode_watermark(since)[0] != encode_watermark(highest)[0]:
        return True
    return highest > since


def _scrub(url: DatabaseUrl, text: str) -> str:
    """``text`` with the URL and the password replaced by their masked forms."""
    text = text.replace(url.url, url.masked)
    return text.replace(url.password, "***") if url.password else text


def _cause(url: DatabaseUrl, error: Exception) -> Exception | None:
    """``error`` to chain, unless its text shows the password (then the chain is cut)."""
    return error if _scrub(url, str(error)) == str(error) else None


def _error(label: str, url: DatabaseUrl, error: Exception, fix: str) -> BatchExtractError:
    """The error of a failed extract, with any trace of the password replaced."""
    text = _scrub(url, str(error))
    return BatchExtractError(
        f"{label}: the extract from {url.masked} failed, the watermark is unchanged: {text}. "
        f"Fix: {fix}"
    )
