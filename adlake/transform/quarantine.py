"""The quarantine of a clean run: rows and lines that cannot be cleaned, with file, line, reason.

Three kinds reach it: whole files that cannot be read, lines DuckDB's CSV reader rejected, and
rows that failed a cast or check while staging. Their PII is protected there exactly as in the
clean zone. Rejected lines and unreadable files are collected once per run in the
``adlake_quarantine_extra`` table; each day's quarantine file joins them to its invalid rows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from adlake.config import DatasetConfig
from adlake.transform import pii
from adlake.transform.clean_model import CleanInput, DeliveryRead, clean_values, output_columns
from adlake.transform.csv_lines import RecordLines
from adlake.transform.readers import REJECTS_SCAN, REJECTS_TABLE, FileRead, reject_fix, sql_string

QUARANTINE_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int64()),
        ("error_type", pa.string()),
        ("reason", pa.string()),
        ("record", pa.string()),
        ("delivery_id", pa.string()),
        ("dt", pa.string()),
    ]
)
EXTRA_SCHEMA = QUARANTINE_SCHEMA.append(pa.field("rows", pa.int64())).append(
    pa.field("accepted_before", pa.int64())
)
_CAST_VALUE = re.compile(r'string "(.*?)" to', re.DOTALL)


def problem_row(item: CleanInput, message: str, spec: DatasetConfig) -> dict[str, object]:
    """The quarantine row of a whole file that cannot be read, counting all of its rows."""
    line = re.search(r" line (\d+)", message)
    return {
        "file": item.display,
        "line": int(line.group(1)) if line else None,
        "error_type": "FILE",
        "reason": message,
        "record": None,
        "delivery_id": item.delivery_id,
        "dt": item.dt,
        "rows": max(item.lines - (1 if spec.format == "csv" else 0), 0),
    }


def reject_rows(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetConfig,
    reads: Sequence[DeliveryRead],
    hmac_keys: Mapping[str, bytes],
    placed: Mapping[str, RecordLines],
) -> list[dict[str, object]]:
    """Lines DuckDB's reader rejected (bad casts, wrong field counts, bad encoding), masked.

    DuckDB may report one line several times (each missing field, each bad value); it becomes
    one quarantined row, numbered by the physical line it starts on when that is known.
    """
    rows = con.execute(
        f"SELECT s.file_path, e.line, e.column_name, CAST(e.error_type AS VARCHAR), e.csv_line, "
        f"e.error_message FROM {REJECTS_TABLE} e JOIN {REJECTS_SCAN} s USING (scan_id, file_id) "
        "ORDER BY s.file_path, e.line, e.error_type = 'CAST', e.byte_position, e.column_idx"
    ).fetchall()
    return rejected_line_rows(spec, reads, hmac_keys, placed, rows)


# a line a CSV reader rejected: file path, line, header column, kind, line text, message
Rejected = tuple[str, int | None, str | None, str, str | None, str | None]


def rejected_line_rows(
    spec: DatasetConfig,
    reads: Sequence[DeliveryRead],
    hmac_keys: Mapping[str, bytes],
    placed: Mapping[str, RecordLines],
    rows: Sequence[Rejected],
) -> list[dict[str, object]]:
    """Quarantine rows of rejected lines, in DuckDB's rejects order (path, line, structure first).

    Shared by both engines: Spark reports its rejected lines in DuckDB's kinds and messages.
    """
    by_path = {item.path: (item, read) for _, item, read in reads}
    found: list[dict[str, object]] = []
    seen_in_file: dict[str, int] = {}
    last: tuple[str, object] | None = None
    for path, line, column, kind, text, message in rows:
        item, read = by_path[path]
        if spec.format == "jsonl" and kind == "CAST":
            continue
        header_column = column
        declared = {(c.source or n): n for n, c in spec.columns.items()}
        name = declared.get(header_column or "", header_column)
        if name in spec.columns and spec.columns[name].pii:
            message = _CAST_VALUE.sub('string "***" to', message or "")
        fix = reject_fix(kind, spec.columns.get(name or ""), spec)
        message = f"{(message or kind).rstrip('. ')}. Fix: {fix}"
        if last == (path, line):  # a structural error explains the rest of the line's errors
            if kind == found[-1]["error_type"] == "CAST":
                found[-1]["reason"] = f"{found[-1]['reason']}; {message}"
            continue
        last = (path, line)
        earlier = seen_in_file.get(path, 0)
        seen_in_file[path] = earlier + 1
        header_lines = 1 if spec.format == "csv" else 0
        shown = placed[path].rejected.get(int(line), line) if path in placed and line else line
        found.append(
            {
                "file": item.display,
                "line": int(shown) if shown is not None else None,
                "error_type": kind,
                "reason": f"{item.display} line {shown}: {message}",
                "record": _protected_line(text or "", spec, read, hmac_keys),
                "delivery_id": item.delivery_id,
                "dt": item.dt,
                "rows": 1,
                # accepted records before this line, to turn record numbers back into lines
                "accepted_before": int(line or 0) - header_lines - 1 - earlier,
            }
        )
    return found


def _protected_line(
    text: str, spec: DatasetConfig, read: FileRead, hmac_keys: Mapping[str, bytes]
) -> str:
    """A rejected CSV line as JSON with PII protected, or masked text if it will not split."""
    try:
        fields = next(
            csv.reader(io.StringIO(text), delimiter=spec.csv.delimiter, quotechar=spec.csv.quote)
        )
    except (csv.Error, StopIteration):
        fields = []
    if len(fields) != len(read.header):
        return pii.mask_text(text)
    declared = {(c.source or n): n for n, c in spec.columns.items()}
    record = {}
    for header, value in zip(read.header, fields, strict=True):
        name = declared.get(header)
        column = spec.columns.get(name) if name else None
        if column is not None and column.pii:
            key = hmac_keys.get(column.pii.secret or "")
            value = pii.protect(value, column.pii, key) if column.pii.policy != "drop" else None
        elif column is None:
            value = pii.mask_text(value)
        record[name or header] = value
    return json.dumps(record, sort_keys=True)


def register_extra(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> None:
    """Keep the run's unreadable files and rejected lines for the days' quarantine files."""
    con.register("adlake_quarantine_rows", pa.Table.from_pylist(rows, schema=EXTRA_SCHEMA))
    con.execute("CREATE TEMP TABLE adlake_quarantine_extra AS SELECT * FROM adlake_quarantine_rows")
    con.unregister("adlake_quarantine_rows")


def extra_rows(con: duckdb.DuckDBPyConnection, day: str) -> int:
    """Rows of one day lost to unreadable files and rejected lines (see :func:`register_extra`)."""
    return int(
        con.execute(
            "SELECT coalesce(sum(rows), 0) FROM adlake_quarantine_extra "
            f"WHERE dt = {sql_string(day)}"
        ).fetchall()[0][0]
    )


def write_quarantine(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetConfig,
    labels: Sequence[CleanInput],
    staged: ds.Dataset,
    day: str,
    path: str,
) -> None:
    """One day's quarantine file: invalid rows (PII protected) and rejected lines or files.

    ``staged`` holds the day's staged rows, ``labels`` the run's inputs in rank order and
    ``path`` is the local file to write. Invalid rows are placed on their physical lines by
    ``adlake_record_lines`` (see :func:`adlake.transform.csv_lines.place_quarantined_lines`),
    else by record number and the rejected lines before them.
    """
    files = ", ".join(sql_string(item.display) for item in labels)
    header_lines = 1 if spec.format == "csv" else 0
    values = clean_values(spec, labels, f"[{files}][_delivery + 1] AS _file", "_record", "_error")
    source = (
        f"(SELECT {values}, {header_lines} AS _header_lines FROM adlake_staged "
        "WHERE _error IS NOT NULL)"
    )
    record = ", ".join(f"'{n}', \"{n}\"" for n in output_columns(spec))
    line = (
        "coalesce((SELECT r.line FROM adlake_record_lines r WHERE r.delivery_id = s._delivery_id "
        "AND r.record = s._record), "
        "_record + _header_lines + (SELECT count(*) FROM adlake_quarantine_extra e WHERE "
        "e.delivery_id = s._delivery_id AND e.error_type <> 'FILE' "
        "AND e.accepted_before < s._record))"
    )
    dt = sql_string(day)
    con.register("adlake_staged", staged)
    try:
        con.execute(
            f"COPY (SELECT * FROM (SELECT _file AS file, {line} AS line, "
            f"'VALIDATION' AS error_type, _file || ' line ' || {line} || ': ' || _error "
            f"AS reason, CAST(json_object({record}) AS VARCHAR) AS record, "
            f"_delivery_id AS delivery_id, {dt} AS dt FROM {source} s UNION ALL "
            f"SELECT * EXCLUDE (rows, accepted_before) FROM adlake_quarantine_extra "
            f"WHERE dt = {dt}) ORDER BY file, line, reason) TO {sql_string(path)} "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
    finally:
        con.unregister("adlake_staged")
