"""Compute one day of an aggregate in DuckDB and publish it as that day's clean partition.

The SQL runs over views of the clean datasets (:func:`adlake.lake.sql.expose_clean`) with
``{dt}`` replaced by the day's DATE literal; the result is written atomically to
``clean/aggregates/<name>/dt=<day>/data.parquet``, replacing an earlier run's, so readers see
the old day or the new one.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from adlake.config.aggregates import DAY, AggregateConfig
from adlake.config.profile import AGGREGATES
from adlake.lake.sql import expose_clean
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, partition_dir
from adlake.transform.clean_model import CLEAN_FILE


class AggregateError(ValueError):
    """The aggregate's SQL failed; the message names the aggregate, the day and the fix."""


def compute_day(
    lake: Lake, datasets: list[tuple[str, str]], name: str, config: AggregateConfig, day: str
) -> tuple[pa.Table, list[tuple[str, str]]]:
    """The day's rows and their (column, DuckDB type) schema."""
    con = duckdb.connect(":memory:")
    try:
        expose_clean(con, lake, datasets)
        sql = config.sql.replace(DAY, f"DATE '{day}'")
        try:
            relation = con.sql(sql)
            table = relation.to_arrow_table()
            schema = [(c, str(t)) for c, t in zip(relation.columns, relation.types, strict=True)]
        except duckdb.Error as exc:
            raise AggregateError(
                f"aggregate '{name}' {day}: its SQL failed: {str(exc).splitlines()[0]}. Fix: "
                f"correct aggregates.{name}.sql; tables are <source>.<dataset> of the clean zone"
            ) from None
    finally:
        con.close()
    return table, schema


def publish_day(lake: Lake, name: str, day: str, table: pa.Table) -> str:
    """Write the day's rows as its clean partition (atomically); its lake path."""
    path = f"{partition_dir(Zone.CLEAN, AGGREGATES, name, day)}/{CLEAN_FILE}"
    with lake.open_atomic(path) as out:
        pq.write_table(table, out, compression="zstd")
    return path
