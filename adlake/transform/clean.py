"""The clean transform on DuckDB: raw deliveries -> typed, PII-hashed, deduplicated Parquet.

Phase one is a single streaming DuckDB query over every delivery that casts, validates and
attributes each row to a daily partition. Its rows leave as Arrow batches that are appended,
split by day, to uncompressed Arrow IPC files in scratch, so memory holds a few batches whatever
the input size. Phase two finishes the days in parallel, one cursor per worker thread: a day is
memory-mapped back, put in delivery order (delivery, then record), deduplicated on the primary
key (latest delivery, then latest record, wins), PII-hashed and written as zstd Parquet; a day
too big for its share of the memory limit is done by DuckDB instead, which spills to disk.
Hashing after deduplication hashes each kept row once, on all cores. Rows are written in
delivery order, so a re-run writes byte-identical files. Clean and quarantine files are
published atomically. Rows that fail casting or validation go to quarantine with file, line
and reason; their PII is protected there exactly as in the clean zone.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from adlake.config import DatasetConfig, EngineConfig
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, partition_dir
from adlake.transform import pii
from adlake.transform.csv_lines import RecordLines, place_quarantined_lines
from adlake.transform.pii_scan import clear_pii_counts
from adlake.transform.preview import markdown_preview
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
    clear_pii: dict[str, int] = field(default_factory=dict)
    preview: str = ""

    @property
    def published(self) -> bool:
        """Whether the clean file was published (never when it held clear PII)."""
        return not self.clear_pii


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
            os.makedirs(_local(lake, f"{scratch}/{folder}"), exist_ok=True)
        stager = _Stager(_local(lake, f"{scratch}/stage"))
        budget = _bytes(engine.memory_limit) // (4 * engine.threads)
        run = _Run(con, lake, ref, scratch, inputs, stager, budget)
        with stager:
            if reads and days:
                _stage_rows(run, reads, days)
        con.execute("SET preserve_insertion_order=true")
        schema = run.schema()
        with ThreadPoolExecutor(max_workers=engine.threads) as pool:
            # one cursor per day, made here: a connection is used by one thread at a time
            cleaning = [pool.submit(_write_clean, run, day, schema, con.cursor()) for day in days]
            # placing quarantined lines reads the raw files: overlap it with the cleaning
            paths = {item.path: item.delivery_id for _, item, _ in reads}
            placed = place_quarantined_lines(con, spec, paths, run.stager.invalid_path)
            extra = problems + (_reject_rows(con, spec, reads, hmac_keys, placed) if reads else [])
            _register_extra(con, extra)
            written = [future.result() for future in cleaning]
        for day, counts in zip(days, written, strict=True):
            outcome.partitions.append(_publish(run, day, schema, *counts))
    return outcome


def _local(lake: Lake, path: str) -> str:
    """The local path of a scratch path (a lake on S3 hands out local scratch folders)."""
    return path if os.path.isabs(path) else lake.local_path(path)


def _configure(
    con: duckdb.DuckDBPyConnection, lake: Lake, scratch: str, engine: EngineConfig
) -> None:
    con.execute("SET TimeZone='UTC'")
    con.execute(f"SET memory_limit={sql_string(engine.memory_limit)}")
    con.execute(f"SET threads={engine.threads}")
    con.execute(f"SET temp_directory={sql_string(_local(lake, scratch + '/spill'))}")
    con.execute("SET preserve_insertion_order=false")
    con.execute("SET enable_progress_bar=false")


def _load_hmac_keys(
    con: duckdb.DuckDBPyConnection, spec: DatasetConfig, keys: Mapping[str, bytes]
) -> None:
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


def _row_date(
    spec: DatasetConfig, typed: Mapping[str, str], delivery_dt: str
) -> tuple[str, list[str]]:
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


def _register_extra(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> None:
    con.register("adlake_quarantine_rows", pa.Table.from_pylist(rows, schema=EXTRA_SCHEMA))
    con.execute("CREATE TEMP TABLE adlake_quarantine_extra AS SELECT * FROM adlake_quarantine_rows")
    con.unregister("adlake_quarantine_rows")


class _Stager:
    """Phase one's output: staged rows appended by day to Arrow IPC files, few open at once.

    The (delivery, record) of invalid rows also go to one small Parquet file, to place their
    lines in the raw file.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.schema: pa.Schema | None = None
        self.parts: dict[str, list[str]] = {}
        self.invalid_path: str | None = None
        self._open: OrderedDict[str, ipc.RecordBatchFileWriter] = OrderedDict()
        self._invalid: pq.ParquetWriter | None = None

    def __enter__(self) -> _Stager:
        return self

    def __exit__(self, *exc: object) -> None:
        for writer in [*self._open.values(), self._invalid]:
            if writer is not None:
                writer.close()
        self._open.clear()

    def add(self, batch: pa.RecordBatch, delivery_ids: pa.Array) -> None:
        """Append one batch of staged rows, split by their ``dt``, keeping their order."""
        batch = batch.take(pc.sort_indices(batch["dt"]))  # a stable sort
        runs = pc.run_end_encode(batch["dt"])
        rows = batch.drop_columns(["dt"])
        self.schema, start = rows.schema, 0
        for day, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
            self._writer(day.isoformat()).write_batch(rows.slice(start, end - start))
            start = end
        if rows["_error"].null_count < rows.num_rows:
            bad = rows.filter(pc.is_valid(rows["_error"]))
            ids = delivery_ids.take(bad["_delivery"])
            table = pa.table(
                {"_delivery_id": ids, "_record": bad["_record"], "_error": bad["_error"]}
            )
            if self._invalid is None:
                self.invalid_path = f"{self.folder}/invalid.parquet"
                self._invalid = pq.ParquetWriter(self.invalid_path, table.schema)
            self._invalid.write_table(table)

    def _writer(self, day: str) -> ipc.RecordBatchFileWriter:
        writer = self._open.pop(day, None)
        if writer is None:
            if len(self._open) >= STAGE_OPEN_FILES:
                self._open.popitem(last=False)[1].close()
            paths = self.parts.setdefault(day, [])
            paths.append(f"{self.folder}/{day}.{len(paths)}.arrow")
            writer = ipc.new_file(paths[-1], self.schema)
        self._open[day] = writer  # most recently used last
        return writer

    def size(self, day: str) -> int:
        """Bytes staged for one day."""
        return sum(os.path.getsize(path) for path in self.parts.get(day, []))

    def load(self, day: str, schema: pa.Schema) -> pa.Table:
        """One day's staged rows, memory-mapped, in the order they were staged."""
        tables = []
        for path in self.parts.get(day, []):
            with pa.memory_map(path) as source:
                tables.append(ipc.open_file(source).read_all())
        return pa.concat_tables(tables) if tables else schema.empty_table()

    def scan(self, day: str, schema: pa.Schema) -> ds.Dataset:
        """One day's staged rows as a dataset DuckDB streams through, whatever its size."""
        return ds.dataset(self.parts.get(day, []), schema=schema, format="arrow")


@dataclass
class _Run:
    """What the steps of one clean run share."""

    con: duckdb.DuckDBPyConnection
    lake: Lake
    ref: DatasetRef
    scratch: str
    labels: Sequence[CleanInput]
    stager: _Stager
    in_memory_bytes: int  # a day staged in more bytes is finished by DuckDB, spilling to disk

    def schema(self) -> pa.Schema:
        """The staged rows' schema, also when nothing was staged (to write empty partitions)."""
        if self.stager.schema is not None:
            return self.stager.schema
        spec = self.ref.spec
        values = ", ".join(
            f'CAST(NULL AS {duckdb_type(spec.columns[n])}) AS "{n}"' for n in output_columns(spec)
        )
        query = f"SELECT {values}, 0 AS _delivery, 0::BIGINT AS _record, NULL::VARCHAR AS _error"
        return self.con.sql(f"{query} LIMIT 0").to_arrow_table().schema

    def values(self, *extra: str) -> str:
        """SQL of the clean columns over staged rows (PII hashed, delivery id looked up)."""
        spec = self.ref.spec
        values = []
        for name in output_columns(spec):
            value = f'"{name}"'
            if spec.columns[name].pii:
                value = pii.hash_sql(f"CAST({value} AS VARCHAR)", spec.columns[name].pii)
            values.append(f'{value} AS "{name}"')
        ids = ", ".join(sql_string(item.delivery_id) for item in self.labels)
        return ", ".join([*values, f"[{ids}][_delivery + 1] AS _delivery_id", *extra])


def _stage_rows(
    run: _Run, reads: Sequence[tuple[int, CleanInput, FileRead]], days: Sequence[str]
) -> None:
    """Phase one: read every delivery once, in one query, and stage the target days' rows."""
    spec = run.ref.spec
    union = " UNION ALL ".join(_row_select(spec, rank, item, read) for rank, item, read in reads)
    wanted = ", ".join(f"DATE {sql_string(day)}" for day in days)
    delivery_ids = pa.array([item.delivery_id for item in run.labels], pa.string())
    relation = run.con.sql(f"SELECT * FROM ({union}) WHERE dt IN ({wanted})")
    for batch in relation.to_arrow_reader(STAGE_BATCH_ROWS):
        if batch.num_rows:
            run.stager.add(batch, delivery_ids)


def _latest_per_key(rows: pa.Table, key: Sequence[str]) -> tuple[pa.Table, int]:
    """Rows in delivery order that win deduplication (the last of each key), and the key count."""
    if rows.num_rows == 0:
        return rows, 0
    order = pc.add(pc.multiply(pc.cast(rows["_delivery"], pa.int64()), 1 << 40), rows["_record"])
    keys = rows.select(list(key)).append_column("_order", order)
    latest = keys.group_by(list(key), use_threads=False).aggregate([("_order", "max")])
    if latest.num_rows == rows.num_rows:
        return rows, latest.num_rows
    winners = pc.is_in(order, value_set=latest["_order_max"].combine_chunks())
    return rows.filter(winners), latest.num_rows


def _write_clean(
    run: _Run, day: str, schema: pa.Schema, cursor: duckdb.DuckDBPyConnection
) -> tuple[int, int, int]:
    """Phase two, in a worker thread: deduplicate, hash and write one day's clean file.

    Returns the day's valid, distinct-key and invalid row counts. Rows are written in delivery
    order (delivery, then record), so the file's bytes depend only on the input. A day that
    fits the in-memory budget is sorted and deduplicated in Arrow; a bigger one by DuckDB.
    """
    key = ", ".join(f'"{k}"' for k in run.ref.spec.primary_key)
    target = sql_string(_local(run.lake, f"{run.scratch}/out/{day}.parquet"))
    with cursor as cur:
        cur.execute("SET TimeZone='UTC'")
        if run.stager.size(day) <= run.in_memory_bytes:
            rows = run.stager.load(day, schema)
            rows = rows.take(
                pc.sort_indices(rows, [("_delivery", "ascending"), ("_record", "ascending")])
            )
            invalid = len(rows) - rows["_error"].null_count
            valid = rows.filter(pc.is_null(rows["_error"])) if invalid else rows
            kept, distinct = _latest_per_key(valid, run.ref.spec.primary_key)
            cur.register("adlake_clean_rows", kept)
            source, order, counts = "adlake_clean_rows", "", (valid.num_rows, distinct, invalid)
        else:
            cur.register("adlake_staged", run.stager.scan(day, schema))
            counts = cur.execute(
                "SELECT count(*) FILTER (WHERE _error IS NULL), count(DISTINCT ("
                f"{key})) FILTER (WHERE _error IS NULL), count(_error) FROM adlake_staged"
            ).fetchall()[0]
            latest = f"PARTITION BY {key} ORDER BY _delivery DESC, _record DESC"
            dedup = f" QUALIFY row_number() OVER ({latest}) = 1" if counts[1] < counts[0] else ""
            source = f"adlake_staged WHERE _error IS NULL{dedup}"
            order = " ORDER BY _delivery, _record"
        cur.execute(
            f"COPY (SELECT {run.values()} FROM {source}{order}) TO {target} (FORMAT parquet, "
            f"COMPRESSION zstd, COMPRESSION_LEVEL {CLEAN_ZSTD_LEVEL}, "
            f"ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
        )
    return counts


def _bytes(size: str) -> int:
    """Bytes of a size written like EngineConfig.memory_limit (768MB, 1.5GiB)."""
    number, unit = re.fullmatch(r"([\d.]+)\s*([KMG]i?B)", size.strip()).groups()
    power = "KMG".index(unit[0]) + 1
    return int(float(number) * (1024 if "i" in unit else 1000) ** power)


def _publish(
    run: _Run, day: str, schema: pa.Schema, valid: int, distinct: int, invalid: int
) -> PartitionOutcome:
    """Write one day's quarantine file, if it has any row, and publish it with the clean file."""
    ref, lake, con = run.ref, run.lake, run.con
    extra_rows = con.execute(
        f"SELECT coalesce(sum(rows), 0) FROM adlake_quarantine_extra WHERE dt = {sql_string(day)}"
    ).fetchall()[0][0]
    quarantined = invalid + int(extra_rows)
    clean_tmp = f"{run.scratch}/out/{day}.parquet"
    local_clean = _local(lake, clean_tmp)
    metadata = f"parquet_file_metadata({sql_string(local_clean)})"
    rows_out = con.execute(f"SELECT coalesce(sum(num_rows), 0) FROM {metadata}").fetchall()[0][0]
    clean_path = f"{partition_dir(Zone.CLEAN, ref.source, ref.dataset, day)}/{CLEAN_FILE}"
    clean_bytes = os.path.getsize(local_clean)
    # the last guard before the clean zone: a partition with clear PII is never published
    strings = [name for name, kind in clean_schema(ref.spec) if kind == "VARCHAR"]
    leaks = clear_pii_counts([local_clean], strings)
    preview = "" if leaks or not rows_out else markdown_preview([local_clean])
    if not leaks:
        lake.publish(clean_tmp, clean_path)
    quarantine_dir = partition_dir(Zone.QUARANTINE, ref.source, ref.dataset, day)
    quarantine_path = f"{quarantine_dir}/{QUARANTINE_FILE}"
    if quarantined:
        quarantine_tmp = f"{run.scratch}/out/{day}.quarantine.parquet"
        _write_quarantine(run, day, schema, _local(lake, quarantine_tmp))
        lake.publish(quarantine_tmp, quarantine_path)
    else:
        lake.delete(quarantine_path)
    return PartitionOutcome(
        dt=day,
        rows_in=valid + quarantined,
        rows_out=int(rows_out),
        duplicates=valid - distinct,
        quarantined=quarantined,
        clean_path=clean_path,
        clean_bytes=clean_bytes,
        quarantine_path=quarantine_path if quarantined else None,
        clear_pii=leaks,
        preview=preview,
    )


def _write_quarantine(run: _Run, day: str, schema: pa.Schema, path: str) -> None:
    """One day's quarantine file: invalid rows (PII protected) and rejected lines or files."""
    spec = run.ref.spec
    files = ", ".join(sql_string(item.display) for item in run.labels)
    header_lines = 1 if spec.format == "csv" else 0
    source = (
        f"(SELECT {run.values(f'[{files}][_delivery + 1] AS _file', '_record', '_error')}, "
        f"{header_lines} AS _header_lines FROM adlake_staged WHERE _error IS NOT NULL)"
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
    run.con.register("adlake_staged", run.stager.scan(day, schema))
    try:
        run.con.execute(
            f"COPY (SELECT * FROM (SELECT _file AS file, {line} AS line, "
            f"'VALIDATION' AS error_type, _file || ' line ' || {line} || ': ' || _error "
            f"AS reason, CAST(json_object({record}) AS VARCHAR) AS record, "
            f"_delivery_id AS delivery_id, {dt} AS dt FROM {source} s UNION ALL "
            f"SELECT * EXCLUDE (rows, accepted_before) FROM adlake_quarantine_extra "
            f"WHERE dt = {dt}) ORDER BY file, line, reason) TO {sql_string(path)} "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
    finally:
        run.con.unregister("adlake_staged")
