"""Phase one of the clean transform: every delivery read once, its rows staged by day.

A single streaming DuckDB query over every delivery casts, validates and attributes each row
to a daily partition. Its rows leave as Arrow batches that are appended, split by day, to
uncompressed Arrow IPC files in scratch, so memory holds a few batches whatever the input size.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from adlake.config import DatasetConfig
from adlake.transform.clean_model import CleanInput, DeliveryRead, output_columns
from adlake.transform.plan import (
    BAD_JSON,
    SHOWN_CHARS,
    CleanPlan,
    Message,
    RowDate,
    Shown,
    WindowDate,
)
from adlake.transform.readers import FileRead, sql_string
from adlake.transform.types import duckdb_type

STAGE_BATCH_ROWS = 122_880
STAGE_READS_PER_QUERY = 8  # at most
STAGE_BYTES_PER_READ = 160_000_000  # engine memory one delivery's scan may take (gzip, buffers)
STAGE_OPEN_FILES = 64  # staging files open at once


class Stager:
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

    def __enter__(self) -> Stager:
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


def stage_rows(
    con: duckdb.DuckDBPyConnection,
    stager: Stager,
    spec: DatasetConfig,
    reads: Sequence[DeliveryRead],
    days: Sequence[str],
    labels: Sequence[CleanInput],
    memory_limit: int,
) -> None:
    """Read every delivery once and stage the rows of the target days.

    Deliveries are read a few at a time (:func:`reads_per_query`): every file a query reads
    holds read buffers of its own, so a 30-day backfill of three accounts (90 files), or a day
    of 160 stream micro-batches, in one query would exceed the engine's memory limit.
    ``labels`` are the run's inputs in rank order, to record the delivery of invalid rows; each
    row keeps its delivery's rank.
    """
    wanted = ", ".join(f"DATE {sql_string(day)}" for day in days)
    delivery_ids = pa.array([item.delivery_id for item in labels], pa.string())
    per_query = reads_per_query(memory_limit)
    for start in range(0, len(reads), per_query):
        chunk = reads[start : start + per_query]
        union = " UNION ALL ".join(
            _row_select(spec, rank, item, read) for rank, item, read in chunk
        )
        relation = con.sql(f"SELECT * FROM ({union}) WHERE dt IN ({wanted})")
        for batch in relation.to_arrow_reader(STAGE_BATCH_ROWS):
            if batch.num_rows:
                stager.add(batch, delivery_ids)


def reads_per_query(memory_limit: int) -> int:
    """Deliveries one staging query reads: what the limit holds, 1 to ``STAGE_READS_PER_QUERY``.

    Measured: a day of 250,000-event gzip JSON-lines micro-batches ran out of a 768MB limit at
    8 files per query and staged at 4.
    """
    return max(1, min(STAGE_READS_PER_QUERY, memory_limit // STAGE_BYTES_PER_READ))


def staged_schema(con: duckdb.DuckDBPyConnection, spec: DatasetConfig, stager: Stager) -> pa.Schema:
    """The staged rows' schema, also when nothing was staged (to write empty partitions)."""
    return stager.schema if stager.schema is not None else declared_staged_schema(con, spec)


def declared_staged_schema(con: duckdb.DuckDBPyConnection, spec: DatasetConfig) -> pa.Schema:
    """The schema staged rows of a dataset have, from its declared columns."""
    values = ", ".join(
        f'CAST(NULL AS {duckdb_type(spec.columns[n])}) AS "{n}"' for n in output_columns(spec)
    )
    query = f"SELECT {values}, 0 AS _delivery, 0::BIGINT AS _record, NULL::VARCHAR AS _error"
    return con.sql(f"{query} LIMIT 0").to_arrow_table().schema


def _row_select(spec: DatasetConfig, rank: int, item: CleanInput, read: FileRead) -> str:
    """SQL turning one file's records into staged rows: typed, checked, attributed to a day.

    The DuckDB compilation of the dataset's :class:`~adlake.transform.plan.CleanPlan`.
    """
    plan = CleanPlan.of(spec)
    typed: dict[str, str] = {}
    checks: list[str] = [f"CASE WHEN _bad_json THEN {sql_string(BAD_JSON)} END"]
    for rule in plan.columns:
        src = f'"src__{rule.name}"'
        if read.typed_by_reader:
            typed[rule.name] = src
        else:
            typed[rule.name] = f"TRY_CAST({src} AS {duckdb_type(rule.column)})"
            message = _message_sql(rule.cast_error(), src, "")
            checks.append(
                f"CASE WHEN {src} IS NOT NULL AND {typed[rule.name]} IS NULL THEN {message} END"
            )
        if rule.required:
            message = _message_sql(rule.required_error(), src, "")
            checks.append(f"CASE WHEN {src} IS NULL THEN {message} END")
    window = plan.window(item.dt)
    if window is None:
        row_dt = f"DATE {sql_string(item.dt)}"
    else:
        row_dt = f"CAST({typed[window.column]} AS DATE)"
        missing = _message_sql(window.missing_error(), "", row_dt)
        outside = _message_sql(window.outside_error(), "", row_dt, window.dates())
        checks += [
            f"CASE WHEN {typed[window.column]} IS NULL THEN {missing} END",
            f"CASE WHEN {row_dt} NOT BETWEEN DATE '{window.oldest}' AND DATE '{window.newest}' "
            f"THEN {outside} END",
        ]
    error = f"nullif(concat_ws('; ', {', '.join(checks)}), '')"
    values = ", ".join(f'{typed[rule.name]} AS "{rule.name}"' for rule in plan.output)
    inner = (
        f"SELECT {values}, {rank} AS _delivery, _record, {error} AS _error, {row_dt} AS _row_dt "
        f"FROM ({read.sql})"
    )
    return (
        f"SELECT * EXCLUDE (_row_dt), CASE WHEN _error IS NULL THEN _row_dt "
        f"ELSE DATE {sql_string(item.dt)} END AS dt FROM ({inner})"
    )


def _message_sql(
    message: Message, src: str, row_dt: str, dates: Mapping[str, str] | None = None
) -> str:
    """SQL of a plan message: the column's source value ``src``, the row's and window's dates."""
    parts = []
    for part in message:
        if isinstance(part, Shown):
            shown = f"'''' || left(CAST({src} AS VARCHAR), {SHOWN_CHARS}) || ''''"
            parts.append("'***'" if part.masked else shown)
        elif isinstance(part, RowDate):
            parts.append(row_dt)
        elif isinstance(part, WindowDate):
            parts.append(sql_string(dates[part.which]))
        else:
            parts.append(sql_string(part))
    return " || ".join(parts)
