"""The clean transform on DuckDB: raw deliveries -> typed, PII-hashed, deduplicated Parquet.

One pass reads every delivery, casts, hashes PII and attributes each row to a daily partition,
spilling to a staging folder split by partition under a memory limit. A second, small pass per
partition deduplicates on the primary key (latest delivery, then latest record, wins), sorts
by the key so a re-run writes byte-identical files, and publishes clean and quarantine files
atomically. Rows that fail casting or validation go to quarantine with file, line and reason;
their PII is protected there exactly as in the clean zone.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import pyarrow as pa

from adlake.config import DatasetConfig, EngineConfig
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, partition_dir
from adlake.transform import pii
from adlake.transform.readers import (
    REJECTS_SCAN,
    REJECTS_TABLE,
    FileProblem,
    FileRead,
    file_read,
    sql_string,
)
from adlake.transform.types import clean_type, duckdb_type

CLEAN_FILE = "data.parquet"
QUARANTINE_FILE = "rows.parquet"
ROW_GROUP_ROWS = 122_880
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


@dataclass(frozen=True)
class CleanInput:
    """One raw delivery to clean: its local path, delivery date and a name for messages."""

    delivery_id: str
    path: str
    dt: str
    display: str
    lines: int = 0


@dataclass(frozen=True)
class PartitionOutcome:
    """What one clean partition received and wrote, counted from the files written."""

    dt: str
    rows_in: int
    rows_out: int
    duplicates: int
    quarantined: int
    clean_path: str
    clean_bytes: int
    quarantine_path: str | None


@dataclass
class CleanOutcome:
    """The result of a clean run over one or more partitions."""

    partitions: list[PartitionOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)
    schema: list[tuple[str, str]] = field(default_factory=list)

    def total(self, name: str) -> int:
        """Sum of one counter (rows_in, rows_out, duplicates, quarantined) over partitions."""
        return sum(getattr(p, name) for p in self.partitions)


@dataclass(frozen=True)
class DatasetRef:
    """Which dataset a clean run writes: names and the validated spec."""

    source: str
    dataset: str
    spec: DatasetConfig


def output_columns(spec: DatasetConfig) -> list[str]:
    """Declared columns that reach the clean zone (dropped PII never does)."""
    return [n for n, c in spec.columns.items() if not (c.pii and c.pii.policy == "drop")]


def clean_schema(spec: DatasetConfig) -> list[tuple[str, str]]:
    """(name, DuckDB type) of every clean column, in order."""
    return [(n, clean_type(spec.columns[n])) for n in output_columns(spec)] + [
        ("_delivery_id", "VARCHAR")
    ]


def clean_partitions(
    lake: Lake,
    ref: DatasetRef,
    inputs: Sequence[CleanInput],
    targets: Sequence[str],
    hmac_keys: Mapping[str, bytes],
    engine: EngineConfig,
) -> CleanOutcome:
    """Clean the target partitions (YYYY-MM-DD) from these raw deliveries and publish them.

    Each target partition is replaced as a whole, even when no row belongs to it any more, so
    a re-run gives the same clean zone. Only rows attributed to a target are written.
    """
    outcome = CleanOutcome(schema=clean_schema(ref.spec))
    with lake.scratch() as scratch, duckdb.connect(":memory:") as con:
        _configure(con, lake, scratch, engine)
        _load_hmac_keys(con, ref.spec, hmac_keys)
        reads: list[tuple[int, CleanInput, FileRead]] = []
        problems: list[dict[str, object]] = []
        for rank, item in enumerate(inputs):
            try:
                read = file_read(item.path, ref.spec, item.display)
            except FileProblem as exc:
                outcome.file_problems.append(str(exc))
                problems.append(_problem_row(item, str(exc), ref.spec))
                continue
            outcome.warnings.extend(read.warnings)
            reads.append((rank, item, read))
        stage = f"{scratch}/stage"
        if reads:
            union = " UNION ALL ".join(_row_select(ref.spec, rank, item, read) for rank, item, read in reads)
            wanted = ", ".join(sql_string(t) for t in targets)
            con.execute(
                f"COPY (SELECT * FROM ({union}) WHERE dt IN ({wanted})) TO "
                f"{sql_string(lake.local_path(stage))} "
                "(FORMAT parquet, PARTITION_BY (dt), COMPRESSION lz4_raw, OVERWRITE_OR_IGNORE)"
            )
        extra = problems + _reject_rows(con, ref.spec, reads, hmac_keys) if reads else problems
        _register_extra(con, extra)
        lake.filesystem.create_dir(lake.full(f"{scratch}/out"), recursive=True)
        for dt in sorted(set(targets)):
            outcome.partitions.append(_finish_partition(con, lake, ref, scratch, stage, dt))
    return outcome


def _configure(con: duckdb.DuckDBPyConnection, lake: Lake, scratch: str, engine: EngineConfig) -> None:
    con.execute("SET TimeZone='UTC'")
    con.execute(f"SET memory_limit={sql_string(engine.memory_limit)}")
    con.execute(f"SET threads={engine.threads}")
    con.execute(f"SET temp_directory={sql_string(lake.local_path(scratch + '/spill'))}")
    con.execute("SET preserve_insertion_order=false")
    con.execute("SET enable_progress_bar=false")


def _load_hmac_keys(con: duckdb.DuckDBPyConnection, spec: DatasetConfig, keys: Mapping[str, bytes]) -> None:
    con.execute("CREATE TEMP TABLE adlake_hmac_keys (name VARCHAR, ipad BLOB, opad BLOB)")
    needed = {c.pii.secret for c in spec.columns.values() if c.pii and c.pii.policy == "hmac"}
    for name in sorted(n for n in needed if n):
        if name not in keys:
            raise KeyError(f"HMAC key '{name}' was not provided to the clean run")
        ipad, opad = pii.hmac_pads(keys[name])
        con.execute("INSERT INTO adlake_hmac_keys VALUES (?, ?, ?)", [name, ipad, opad])


def _row_select(spec: DatasetConfig, rank: int, item: CleanInput, read: FileRead) -> str:
    """SQL turning one file's records into staged rows: typed, hashed, checked, attributed."""
    typed: dict[str, str] = {}
    checks: list[str] = ["CASE WHEN _bad_json THEN 'the line is not valid JSON' END"]
    for name, column in spec.columns.items():
        src = f'"src__{name}"'
        kind = duckdb_type(column)
        if read.typed_by_reader:
            typed[name] = src
        else:
            typed[name] = f"TRY_CAST({src} AS {kind})"
            shown = "'***'" if column.pii else f"'''' || left(CAST({src} AS VARCHAR), 40) || ''''"
            checks.append(
                f"CASE WHEN {src} IS NOT NULL AND {typed[name]} IS NULL THEN "
                f"'column {name}: ' || {shown} || ' is not a valid {column.type}' END"
            )
        if column.required or name in spec.primary_key:
            checks.append(f"CASE WHEN {src} IS NULL THEN 'column {name}: required but empty' END")
    row_dt, window = _row_date(spec, typed, item.dt)
    checks.extend(window)
    error = f"nullif(concat_ws('; ', {', '.join(checks)}), '')"
    values = []
    for name in output_columns(spec):
        column = spec.columns[name]
        expr = pii.hash_sql(f"CAST({typed[name]} AS VARCHAR)", column.pii) if column.pii else typed[name]
        values.append(f'{expr} AS "{name}"')
    inner = (
        f"SELECT {', '.join(values)}, {rank} AS _delivery, {sql_string(item.delivery_id)} "
        f"AS _delivery_id, _record, {error} AS _error, {row_dt} AS _row_dt FROM ({read.sql})"
    )
    header_lines = 1 if spec.format == "csv" else 0
    return (
        f"SELECT * EXCLUDE (_row_dt), CASE WHEN _error IS NULL THEN strftime(_row_dt, '%Y-%m-%d') "
        f"ELSE {sql_string(item.dt)} END AS dt, {sql_string(item.display)} AS _file, "
        f"{header_lines} AS _header_lines FROM ({inner})"
    )


def _row_date(spec: DatasetConfig, typed: Mapping[str, str], delivery_dt: str) -> tuple[str, list[str]]:
    """The row's partition date expression and the checks that keep it in the lateness window."""
    column = spec.partition.column
    if column is None:
        return f"DATE {sql_string(delivery_dt)}", []
    value = f"CAST({typed[column]} AS DATE)"
    # one day past the delivery date: a partner's local day straddles two UTC days
    newest = date.fromisoformat(delivery_dt) + timedelta(days=1)
    oldest = newest - timedelta(days=spec.partition.lateness_days + 1)
    return value, [
        f"CASE WHEN {typed[column]} IS NULL THEN 'column {column}: no date to partition by' END",
        f"CASE WHEN {value} NOT BETWEEN DATE '{oldest}' AND DATE '{newest}' THEN 'column {column}: "
        f"date ' || {value} || ' is outside {oldest}..{newest} (delivery date {delivery_dt} with "
        f"partition.lateness_days {spec.partition.lateness_days}); raise lateness_days or ask for "
        "a corrected file' END",
    ]


def _problem_row(item: CleanInput, message: str, spec: DatasetConfig) -> dict[str, object]:
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


_CAST_VALUE = re.compile(r'string "(.*?)" to', re.DOTALL)


def _reject_rows(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetConfig,
    reads: Sequence[tuple[int, CleanInput, FileRead]],
    hmac_keys: Mapping[str, bytes],
) -> list[dict[str, object]]:
    """Lines DuckDB's reader rejected (bad casts, wrong field counts, bad encoding), masked."""
    by_path = {item.path: (item, read) for _, item, read in reads}
    rows = con.execute(
        f"SELECT s.file_path, e.line, e.column_name, CAST(e.error_type AS VARCHAR), e.csv_line, "
        f"e.error_message FROM {REJECTS_TABLE} e JOIN {REJECTS_SCAN} s USING (scan_id, file_id) "
        "ORDER BY s.file_path, e.line"
    ).fetchall()
    found: list[dict[str, object]] = []
    seen_in_file: dict[str, int] = {}
    for path, line, column, kind, text, message in rows:
        item, read = by_path[path]
        if spec.format == "jsonl" and kind == "CAST":
            continue
        header_column = column
        declared = {(c.source or n): n for n, c in spec.columns.items()}
        name = declared.get(header_column or "", header_column)
        if name in spec.columns and spec.columns[name].pii:
            message = _CAST_VALUE.sub('string "***" to', message or "")
        earlier = seen_in_file.get(path, 0)
        seen_in_file[path] = earlier + 1
        header_lines = 1 if spec.format == "csv" else 0
        found.append(
            {
                "file": item.display,
                "line": int(line) if line is not None else None,
                "error_type": kind,
                "reason": f"{item.display} line {line}: {message}",
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
        fields = next(csv.reader(io.StringIO(text), delimiter=spec.csv.delimiter, quotechar=spec.csv.quote))
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


def _register_extra(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> None:
    con.register("adlake_quarantine_rows", pa.Table.from_pylist(rows, schema=EXTRA_SCHEMA))
    con.execute("CREATE TEMP TABLE adlake_quarantine_extra AS SELECT * FROM adlake_quarantine_rows")
    con.unregister("adlake_quarantine_rows")


def _finish_partition(
    con: duckdb.DuckDBPyConnection, lake: Lake, ref: DatasetRef, scratch: str, stage: str, dt: str
) -> PartitionOutcome:
    """Deduplicate, sort and publish one partition's clean and quarantine files."""
    spec = ref.spec
    staged = f"{stage}/dt={dt}"
    has_rows = bool(lake.list_files(staged))
    columns = ", ".join(f'"{n}"' for n in output_columns(spec)) + ", _delivery_id"
    key = ", ".join(f'"{k}"' for k in spec.primary_key)
    empty = ", ".join(f'CAST(NULL AS {t}) AS "{n}"' for n, t in clean_schema(spec))
    source = (
        f"read_parquet({sql_string(lake.local_path(staged) + '/*.parquet')})"
        if has_rows
        else f"(SELECT {empty}, NULL::VARCHAR AS _error, 0 AS _delivery, 0 AS _record, "
        "NULL::VARCHAR AS _file, 0 AS _header_lines LIMIT 0)"
    )
    valid, invalid, distinct = con.execute(
        f"SELECT count(*) FILTER (WHERE _error IS NULL), count(*) FILTER (WHERE _error IS NOT NULL), "
        f"count(DISTINCT ({key})) FILTER (WHERE _error IS NULL) FROM {source}"
    ).fetchone()
    clean_tmp = f"{scratch}/out/{dt}.parquet"
    con.execute(
        f"COPY (SELECT {columns} FROM {source} WHERE _error IS NULL "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _delivery DESC, _record DESC) = 1 "
        f"ORDER BY {key}) TO {sql_string(lake.local_path(clean_tmp))} "
        f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
    )
    quarantine_tmp = f"{scratch}/out/{dt}.quarantine.parquet"
    record = ", ".join(f"'{n}', \"{n}\"" for n in output_columns(spec))
    extra_rows = con.execute(
        f"SELECT coalesce(sum(rows), 0) FROM adlake_quarantine_extra WHERE dt = {sql_string(dt)}"
    ).fetchone()[0]
    line = (
        "(_record + _header_lines + (SELECT count(*) FROM adlake_quarantine_extra e WHERE "
        "e.delivery_id = s._delivery_id AND e.error_type <> 'FILE' AND e.accepted_before < s._record))"
    )
    con.execute(
        f"COPY (SELECT * FROM (SELECT _file AS file, {line} AS line, "
        f"'VALIDATION' AS error_type, _file || ' line ' || {line} || ': ' || _error "
        f"AS reason, CAST(json_object({record}) AS VARCHAR) AS record, _delivery_id AS delivery_id, "
        f"{sql_string(dt)} AS dt FROM {source} s WHERE _error IS NOT NULL UNION ALL "
        f"SELECT * EXCLUDE (rows, accepted_before) FROM adlake_quarantine_extra WHERE dt = {sql_string(dt)}) "
        f"ORDER BY file, line, reason) TO {sql_string(lake.local_path(quarantine_tmp))} "
        "(FORMAT parquet, COMPRESSION zstd)"
    )
    rows_out = _parquet_rows(con, lake, clean_tmp)
    quarantined = invalid + int(extra_rows)
    clean_path = f"{partition_dir(Zone.CLEAN, ref.source, ref.dataset, dt)}/{CLEAN_FILE}"
    lake.publish(clean_tmp, clean_path)
    quarantine_path = f"{partition_dir(Zone.QUARANTINE, ref.source, ref.dataset, dt)}/{QUARANTINE_FILE}"
    if quarantined:
        lake.publish(quarantine_tmp, quarantine_path)
    else:
        lake.delete(quarantine_path)
    return PartitionOutcome(
        dt=dt,
        rows_in=valid + quarantined,
        rows_out=rows_out,
        duplicates=valid - distinct,
        quarantined=quarantined,
        clean_path=clean_path,
        clean_bytes=lake.filesystem.get_file_info(lake.full(clean_path)).size or 0,
        quarantine_path=quarantine_path if quarantined else None,
    )


def _parquet_rows(con: duckdb.DuckDBPyConnection, lake: Lake, path: str) -> int:
    return int(
        con.execute(
            f"SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata({sql_string(lake.local_path(path))})"
        ).fetchone()[0]
    )
