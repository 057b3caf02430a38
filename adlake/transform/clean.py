"""The clean transform on DuckDB: raw deliveries -> typed, PII-hashed, deduplicated Parquet.

Phase one is a single streaming DuckDB query over every delivery that casts, validates and
attributes each row to a daily partition. Its rows leave as Arrow batches that are appended,
split by partition, to uncompressed Arrow IPC files in scratch, so memory holds a few batches
whatever the input size. Phase two finishes the partitions in parallel: each is memory-mapped
back, put in delivery order (delivery, then record), deduplicated on the primary key (latest
delivery, then latest record, wins), PII-hashed and written as zstd Parquet. Hashing after
deduplication hashes each kept row once, on all cores. Rows stay in delivery order, so a re-run
writes byte-identical files without a sort. Clean and quarantine files are published atomically.
Rows that fail casting or validation go to quarantine with file, line and reason; their PII is
protected there exactly as in the clean zone.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from adlake.config import DatasetConfig, EngineConfig
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, partition_dir
from adlake.transform import pii
from adlake.transform.csv_lines import RecordLines, place_quarantined_lines
from adlake.transform.readers import (
    REJECTS_SCAN,
    REJECTS_TABLE,
    FileProblem,
    FileRead,
    file_read,
    reject_fix,
    sql_string,
)
from adlake.transform.types import clean_type, duckdb_type

CLEAN_FILE = "data.parquet"
QUARANTINE_FILE = "rows.parquet"
ROW_GROUP_ROWS = 122_880
STAGE_BATCH_ROWS = 122_880
STAGE_OPEN_FILES = 64  # staging files open at once
CLEAN_ZSTD_LEVEL = 1  # hex digests barely compress; higher levels cost time for ~1%
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
    spec = ref.spec
    days = sorted(set(targets))
    outcome = CleanOutcome(schema=clean_schema(spec))
    with lake.scratch() as scratch, duckdb.connect(":memory:") as con:
        _configure(con, lake, scratch, engine)
        _load_hmac_keys(con, spec, hmac_keys)
        reads: list[tuple[int, CleanInput, FileRead]] = []
        problems: list[dict[str, object]] = []
        for rank, item in enumerate(inputs):
            try:
                read = file_read(item.path, spec, item.display)
            except FileProblem as exc:
                outcome.file_problems.append(str(exc))
                problems.append(_problem_row(item, str(exc), spec))
                continue
            outcome.warnings.extend(read.warnings)
            reads.append((rank, item, read))
        for folder in ("stage", "out"):
            lake.filesystem.create_dir(lake.full(f"{scratch}/{folder}"), recursive=True)
        stager = _Stager(lake.local_path(f"{scratch}/stage"), [i.delivery_id for i in inputs])
        with stager:
            if reads and days:
                _stage_rows(con, spec, reads, days, stager)
        paths = {item.path: item.delivery_id for _, item, _ in reads}
        placed = place_quarantined_lines(con, spec, paths, stager.invalid_path)
        extra = problems + (_reject_rows(con, spec, reads, hmac_keys, placed) if reads else [])
        _register_extra(con, extra)
        con.execute("SET preserve_insertion_order=true")
        schema = stager.schema or _stage_schema(con, spec)
        write = partial(_write_clean, con, lake, spec, scratch, stager, schema, inputs)
        with ThreadPoolExecutor(max_workers=engine.threads) as pool:
            written = list(pool.map(write, days))
        for dt, (valid, distinct, invalid) in zip(days, written, strict=True):
            outcome.partitions.append(
                _publish(con, lake, ref, scratch, inputs, dt, valid, distinct, invalid)
            )
    return outcome


def _configure(con: duckdb.DuckDBPyConnection, lake: Lake, scratch: str, engine: EngineConfig) -> None:
    con.execute("SET TimeZone='UTC'")
    con.execute(f"SET memory_limit={sql_string(engine.memory_limit)}")
    con.execute(f"SET threads={engine.threads}")
    con.execute(f"SET temp_directory={sql_string(lake.local_path(scratch + '/spill'))}")
    con.execute("SET preserve_insertion_order=false")
    con.execute("SET enable_progress_bar=false")


def _load_hmac_keys(con: duckdb.DuckDBPyConnection, spec: DatasetConfig, keys: Mapping[str, bytes]) -> None:
    # a plain table of the in-memory database: the per-partition cursors must see it
    con.execute("CREATE TABLE adlake_hmac_keys (name VARCHAR, ipad BLOB, opad BLOB)")
    needed = {c.pii.secret for c in spec.columns.values() if c.pii and c.pii.policy == "hmac"}
    for name in sorted(n for n in needed if n):
        if name not in keys:
            raise KeyError(f"HMAC key '{name}' was not provided to the clean run")
        ipad, opad = pii.hmac_pads(keys[name])
        con.execute("INSERT INTO adlake_hmac_keys VALUES (?, ?, ?)", [name, ipad, opad])


def _row_select(spec: DatasetConfig, rank: int, item: CleanInput, read: FileRead) -> str:
    """SQL turning one file's records into staged rows: typed, checked, attributed to a day."""
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
            checks.append(
                f"CASE WHEN {src} IS NULL THEN 'column {name}: required but empty. Fix: ask the "
                "partner to fill it' END"
            )
    row_dt, window = _row_date(spec, typed, item.dt)
    checks.extend(window)
    error = f"nullif(concat_ws('; ', {', '.join(checks)}), '')"
    values = ", ".join(f'{typed[name]} AS "{name}"' for name in output_columns(spec))
    inner = (
        f"SELECT {values}, {rank} AS _delivery, _record, {error} AS _error, {row_dt} AS _row_dt "
        f"FROM ({read.sql})"
    )
    return (
        f"SELECT * EXCLUDE (_row_dt), CASE WHEN _error IS NULL THEN _row_dt "
        f"ELSE DATE {sql_string(item.dt)} END AS dt FROM ({inner})"
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
        f"partition.lateness_days {spec.partition.lateness_days}). Fix: raise lateness_days or "
        "ask for a corrected file' END",
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
    placed: Mapping[str, RecordLines],
) -> list[dict[str, object]]:
    """Lines DuckDB's reader rejected (bad casts, wrong field counts, bad encoding), masked.

    DuckDB may report one line several times (each missing field, each bad value); it becomes
    one quarantined row, numbered by the physical line it starts on when that is known.
    """
    by_path = {item.path: (item, read) for _, item, read in reads}
    rows = con.execute(
        f"SELECT s.file_path, e.line, e.column_name, CAST(e.error_type AS VARCHAR), e.csv_line, "
        f"e.error_message FROM {REJECTS_TABLE} e JOIN {REJECTS_SCAN} s USING (scan_id, file_id) "
        "ORDER BY s.file_path, e.line, e.error_type = 'CAST', e.byte_position, e.column_idx"
    ).fetchall()
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


class _Stager:
    """Phase one's output: staged rows appended by day to Arrow IPC files, few open at once.

    Invalid rows' (delivery, record) also go to one small Parquet file, for placing their lines.
    """

    def __init__(self, folder: str, delivery_ids: Sequence[str]) -> None:
        self.folder = folder
        self.delivery_ids = pa.array(delivery_ids, pa.string())
        self.schema: pa.Schema | None = None
        self.parts: dict[str, list[str]] = {}
        self.invalid_path: str | None = None
        self._open: OrderedDict[str, ipc.RecordBatchStreamWriter] = OrderedDict()
        self._invalid: pq.ParquetWriter | None = None

    def __enter__(self) -> _Stager:
        return self

    def __exit__(self, *exc: object) -> None:
        for writer in self._open.values():
            writer.close()
        self._open.clear()
        if self._invalid is not None:
            self._invalid.close()

    def add(self, batch: pa.RecordBatch) -> None:
        """Append one batch of staged rows, split by their ``dt``, keeping their order."""
        if batch.num_rows == 0:
            return
        batch = batch.take(pc.sort_indices(batch["dt"]))  # a stable sort
        runs = pc.run_end_encode(batch["dt"])
        rows = batch.drop_columns(["dt"])
        self.schema = rows.schema
        start = 0
        for day, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
            self._writer(day.isoformat()).write_batch(rows.slice(start, end - start))
            start = end
        bad = rows.filter(pc.is_valid(rows["_error"]))
        if bad.num_rows:
            ids = self.delivery_ids.take(bad["_delivery"])
            table = pa.table({"_delivery_id": ids, "_record": bad["_record"], "_error": bad["_error"]})
            if self._invalid is None:
                self.invalid_path = f"{self.folder}/invalid.parquet"
                self._invalid = pq.ParquetWriter(self.invalid_path, table.schema)
            self._invalid.write_table(table)

    def _writer(self, day: str) -> ipc.RecordBatchStreamWriter:
        writer = self._open.pop(day, None)
        if writer is None:
            if len(self._open) >= STAGE_OPEN_FILES:
                self._open.popitem(last=False)[1].close()
            paths = self.parts.setdefault(day, [])
            paths.append(f"{self.folder}/{day}.{len(paths)}.arrows")
            writer = ipc.new_stream(paths[-1], self.schema)
        self._open[day] = writer  # most recently used last
        return writer

    def load(self, day: str, schema: pa.Schema) -> pa.Table:
        """One day's staged rows in delivery order (delivery, then record number)."""
        tables = []
        for path in self.parts.get(day, []):
            with pa.memory_map(path) as source:
                tables.append(ipc.open_stream(source).read_all())
        rows = pa.concat_tables(tables) if tables else schema.empty_table()
        return rows.take(pc.sort_indices(rows, [("_delivery", "ascending"), ("_record", "ascending")]))


def _stage_rows(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetConfig,
    reads: Sequence[tuple[int, CleanInput, FileRead]],
    days: Sequence[str],
    stager: _Stager,
) -> None:
    """Phase one: read every delivery once and stage the rows of the target days."""
    union = " UNION ALL ".join(_row_select(spec, rank, item, read) for rank, item, read in reads)
    wanted = ", ".join(f"DATE {sql_string(day)}" for day in days)
    relation = con.sql(f"SELECT * FROM ({union}) WHERE dt IN ({wanted})")
    for batch in relation.to_arrow_reader(STAGE_BATCH_ROWS):
        stager.add(batch)


def _stage_schema(con: duckdb.DuckDBPyConnection, spec: DatasetConfig) -> pa.Schema:
    """The staged rows' schema when nothing was staged (to write empty partitions)."""
    values = ", ".join(
        f'CAST(NULL AS {duckdb_type(spec.columns[n])}) AS "{n}"' for n in output_columns(spec)
    )
    return con.sql(
        f"SELECT {values}, NULL::INTEGER AS _delivery, NULL::BIGINT AS _record, "
        "NULL::VARCHAR AS _error LIMIT 0"
    ).to_arrow_table().schema


def _latest_per_key(rows: pa.Table, key: Sequence[str]) -> tuple[pa.Table, int]:
    """Rows (in delivery order) that win deduplication, in order, and the number of keys."""
    if rows.num_rows == 0:
        return rows, 0
    order = pc.add(pc.multiply(pc.cast(rows["_delivery"], pa.int64()), 1 << 40), rows["_record"])
    keys = rows.select(list(key)).append_column("_order", order)
    latest = keys.group_by(list(key), use_threads=False).aggregate([("_order", "max")])
    if latest.num_rows == rows.num_rows:
        return rows, latest.num_rows
    winners = latest["_order_max"].combine_chunks()
    return rows.filter(pc.is_in(order, value_set=winners)), latest.num_rows


def _clean_values(spec: DatasetConfig, labels: Sequence[CleanInput]) -> str:
    """SQL of the clean columns over staged rows: PII hashed, delivery id looked up."""
    values = []
    for name in output_columns(spec):
        column = spec.columns[name]
        value = f'"{name}"'
        if column.pii:
            value = pii.hash_sql(f"CAST({value} AS VARCHAR)", column.pii)
        values.append(f'{value} AS "{name}"')
    ids = ", ".join(sql_string(item.delivery_id) for item in labels)
    return ", ".join(values) + f", [{ids}][_delivery + 1] AS _delivery_id"


def _write_clean(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    spec: DatasetConfig,
    scratch: str,
    stager: _Stager,
    schema: pa.Schema,
    labels: Sequence[CleanInput],
    dt: str,
) -> tuple[int, int, pa.Table]:
    """Deduplicate, hash and write one day's clean file; its valid and key counts, invalid rows.

    Runs in a worker thread on its own cursor; rows keep delivery order, so the file's bytes
    depend only on the input.
    """
    rows = stager.load(dt, schema)
    valid = rows.filter(pc.is_null(rows["_error"]))
    kept, distinct = _latest_per_key(valid, spec.primary_key)
    target = lake.local_path(f"{scratch}/out/{dt}.parquet")
    with con.cursor() as cur:
        cur.execute("SET TimeZone='UTC'")
        cur.register("adlake_clean_rows", kept)
        cur.execute(
            f"COPY (SELECT {_clean_values(spec, labels)} FROM adlake_clean_rows) TO "
            f"{sql_string(target)} (FORMAT parquet, COMPRESSION zstd, "
            f"COMPRESSION_LEVEL {CLEAN_ZSTD_LEVEL}, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
        )
    return valid.num_rows, distinct, rows.filter(pc.is_valid(rows["_error"]))


def _publish(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    ref: DatasetRef,
    scratch: str,
    labels: Sequence[CleanInput],
    dt: str,
    valid: int,
    distinct: int,
    invalid: pa.Table,
) -> PartitionOutcome:
    """Write one day's quarantine file and publish it with the clean file."""
    extra_rows = con.execute(
        f"SELECT coalesce(sum(rows), 0) FROM adlake_quarantine_extra WHERE dt = {sql_string(dt)}"
    ).fetchall()[0][0]
    quarantined = invalid.num_rows + int(extra_rows)
    clean_tmp = f"{scratch}/out/{dt}.parquet"
    rows_out = _parquet_rows(con, lake, clean_tmp)
    clean_path = f"{partition_dir(Zone.CLEAN, ref.source, ref.dataset, dt)}/{CLEAN_FILE}"
    lake.publish(clean_tmp, clean_path)
    quarantine_dir = partition_dir(Zone.QUARANTINE, ref.source, ref.dataset, dt)
    quarantine_path = f"{quarantine_dir}/{QUARANTINE_FILE}"
    if quarantined:
        quarantine_tmp = f"{scratch}/out/{dt}.quarantine.parquet"
        _write_quarantine(con, lake, ref.spec, labels, dt, invalid, quarantine_tmp)
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


def _write_quarantine(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    spec: DatasetConfig,
    labels: Sequence[CleanInput],
    dt: str,
    invalid: pa.Table,
    path: str,
) -> None:
    """One day's quarantine file: invalid rows (PII protected) and rejected lines or files."""
    files = ", ".join(sql_string(item.display) for item in labels)
    header_lines = 1 if spec.format == "csv" else 0
    source = (
        f"(SELECT {_clean_values(spec, labels)}, [{files}][_delivery + 1] AS _file, "
        f"{header_lines} AS _header_lines, _record, _error FROM adlake_invalid_rows)"
    )
    record = ", ".join(f"'{n}', \"{n}\"" for n in output_columns(spec))
    line = (
        "coalesce((SELECT r.line FROM adlake_record_lines r WHERE r.delivery_id = s._delivery_id "
        "AND r.record = s._record), "
        "_record + _header_lines + (SELECT count(*) FROM adlake_quarantine_extra e WHERE "
        "e.delivery_id = s._delivery_id AND e.error_type <> 'FILE' "
        "AND e.accepted_before < s._record))"
    )
    day = sql_string(dt)
    con.register("adlake_invalid_rows", invalid)
    try:
        con.execute(
            f"COPY (SELECT * FROM (SELECT _file AS file, {line} AS line, "
            f"'VALIDATION' AS error_type, _file || ' line ' || {line} || ': ' || _error "
            f"AS reason, CAST(json_object({record}) AS VARCHAR) AS record, "
            f"_delivery_id AS delivery_id, {day} AS dt FROM {source} s UNION ALL "
            f"SELECT * EXCLUDE (rows, accepted_before) FROM adlake_quarantine_extra "
            f"WHERE dt = {day}) ORDER BY file, line, reason) TO "
            f"{sql_string(lake.local_path(path))} (FORMAT parquet, COMPRESSION zstd)"
        )
    finally:
        con.unregister("adlake_invalid_rows")


def _parquet_rows(con: duckdb.DuckDBPyConnection, lake: Lake, path: str) -> int:
    metadata = f"parquet_file_metadata({sql_string(lake.local_path(path))})"
    return int(con.execute(f"SELECT coalesce(sum(num_rows), 0) FROM {metadata}").fetchall()[0][0])
