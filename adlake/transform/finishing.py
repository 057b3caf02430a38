"""Phase two of the clean transform: one staged day deduplicated, PII-hashed and written.

Days are finished in parallel, one DuckDB cursor per worker thread. A day is memory-mapped back,
put in delivery order (delivery, then record), deduplicated on the primary key (latest
delivery, then latest record, wins), PII-hashed and written as zstd Parquet; a day too big for
its share of the memory limit is done by DuckDB instead, which spills to disk. Hashing after
deduplication hashes each kept row once, on all cores. Rows are written in delivery order, so
a re-run writes byte-identical files. Row groups hold about the dataset's ``row_group_mb`` of
staged rows, however many micro-batch deliveries the day came in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from adlake.config import DatasetConfig
from adlake.transform.readers import sql_string
from adlake.transform.staging import Stager

MIN_ROW_GROUP_ROWS = 8_192
CLEAN_ZSTD_LEVEL = 1  # hex digests barely compress; higher levels cost time for ~1%


@dataclass(frozen=True)
class Finisher:
    """What phase two needs to write any staged day's clean file, from any worker thread."""

    spec: DatasetConfig
    stager: Stager
    schema: pa.Schema  # of the staged rows
    values: str  # SQL of the clean columns over staged rows (see clean_model.clean_values)
    in_memory_bytes: int  # a day staged in more bytes is finished by DuckDB, spilling to disk

    def write(
        self, day: str, target: str, cursor: duckdb.DuckDBPyConnection
    ) -> tuple[int, int, int]:
        """Deduplicate, hash and write one day's clean file to the local path ``target``.

        Returns the day's valid, distinct-key and invalid row counts. Rows are written in
        delivery order (delivery, then record), so the file's bytes depend only on the input.
        A day that fits the in-memory budget is sorted and deduplicated in Arrow; a bigger one
        by DuckDB. ``cursor`` is closed afterwards: a connection serves one thread at a time.
        """
        key = ", ".join(f'"{k}"' for k in self.spec.primary_key)
        with cursor as cur:
            cur.execute("SET TimeZone='UTC'")
            if self.stager.size(day) <= self.in_memory_bytes:
                rows = self.stager.load(day, self.schema)
                rows = rows.take(
                    pc.sort_indices(rows, [("_delivery", "ascending"), ("_record", "ascending")])
                )
                invalid = len(rows) - rows["_error"].null_count
                valid = rows.filter(pc.is_null(rows["_error"])) if invalid else rows
                kept, distinct = _latest_per_key(valid, self.spec.primary_key)
                cur.register("adlake_clean_rows", kept)
                source, order, counts = "adlake_clean_rows", "", (valid.num_rows, distinct, invalid)
            else:
                cur.register("adlake_staged", self.stager.scan(day, self.schema))
                counts = cur.execute(
                    "SELECT count(*) FILTER (WHERE _error IS NULL), count(DISTINCT ("
                    f"{key})) FILTER (WHERE _error IS NULL), count(_error) FROM adlake_staged"
                ).fetchall()[0]
                latest = f"PARTITION BY {key} ORDER BY _delivery DESC, _record DESC"
                dedup = (
                    f" QUALIFY row_number() OVER ({latest}) = 1" if counts[1] < counts[0] else ""
                )
                source = f"adlake_staged WHERE _error IS NULL{dedup}"
                order = " ORDER BY _delivery, _record"
            rows_per_group = self.rows_per_group(day, counts[0] + counts[2])
            cur.execute(
                f"COPY (SELECT {self.values} FROM {source}{order}) TO {sql_string(target)} "
                f"(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {CLEAN_ZSTD_LEVEL}, "
                f"ROW_GROUP_SIZE {rows_per_group})"
            )
        return counts

    def rows_per_group(self, day: str, staged_rows: int) -> int:
        """Rows per row group that make groups of about ``row_group_mb`` of staged data.

        Derived from the day's staged bytes per row, so the same input gives the same groups.
        """
        per_row = self.stager.size(day) / max(staged_rows, 1)
        wanted = int(self.spec.row_group_mb * 1_000_000 / max(per_row, 1.0))
        return max(MIN_ROW_GROUP_ROWS, wanted)


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
