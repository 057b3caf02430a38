"""The clean transform on Spark: the same plan as on DuckDB, for partitions one machine can't hold.

Spark reads every delivery (:mod:`~adlake.transform.spark_read`), types, checks and dates each
row (:mod:`~adlake.transform.spark_compile`), stages the rows by day as Parquet, then
deduplicates, hashes and writes each day's clean file in delivery order. What is left is
small and shared with the DuckDB engine (:mod:`~adlake.transform.clean`): the quarantine file
of the invalid rows and rejected lines, the clear-PII guard, the preview and the atomic
publish. The same function runs in local mode (tests, laptops) and inside a cluster job
(:mod:`~adlake.pipes.spark_clean_job`).
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Mapping, Sequence

import duckdb
import pyarrow.dataset as ds
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from adlake.config import DatasetConfig, EngineConfig
from adlake.lake.storage import Lake
from adlake.transform.clean import DayRun, configure_engine, load_hmac_keys, open_reads, publish_day
from adlake.transform.clean_model import (
    CleanInput,
    CleanOutcome,
    DatasetRef,
    DeliveryRead,
    clean_schema,
)
from adlake.transform.plan import CleanPlan
from adlake.transform.quarantine import Rejected, register_extra, rejected_line_rows
from adlake.transform.readers import sql_string
from adlake.transform.spark_compile import clean_columns, hmac_key_table, latest_per_key, staged
from adlake.transform.spark_read import (
    QUOTED_LINE_BREAK,
    SparkReadProblem,
    csv_rejects,
    read_deliveries,
)
from adlake.transform.staging import declared_staged_schema

SPARK_SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    # TIMESTAMP_MICROS marks timestamp_tz columns as UTC instants, as DuckDB writes them
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.ansi.enabled": "false",
}


def clean_partitions_spark(
    spark: SparkSession,
    lake: Lake,
    ref: DatasetRef,
    inputs: Sequence[CleanInput],
    targets: Sequence[str],
    hmac_keys: Mapping[str, bytes],
    engine: EngineConfig,
) -> CleanOutcome:
    """Clean the target partitions (YYYY-MM-DD) from these raw deliveries on Spark and publish.

    The contract of :func:`adlake.transform.clean.clean_partitions`: each target is replaced
    as a whole, only rows attributed to a target are written, and the files written give the
    same rows, hashes and quarantine rows as the DuckDB engine's.
    """
    for key, value in SPARK_SESSION_CONF.items():
        spark.conf.set(key, value)
    spec = ref.spec
    days = sorted(set(targets))
    outcome = CleanOutcome(schema=clean_schema(spec))
    with lake.scratch() as scratch, duckdb.connect(":memory:") as con:
        configure_engine(con, scratch, engine)
        load_hmac_keys(con, spec, hmac_keys)
        reads, extra = open_reads(spec, inputs, outcome)
        os.makedirs(f"{scratch}/out", exist_ok=True)
        con.execute(
            "CREATE TABLE adlake_record_lines (delivery_id VARCHAR, record BIGINT, line BIGINT)"
        )
        staged_dir, clean_dir = f"{scratch}/spark/staged", f"{scratch}/spark/clean"
        counts: dict[str, tuple[int, int, int]] = {}
        if reads and days:
            with outcome.timed("stage"):
                rejected = _stage(spark, spec, reads, days, staged_dir)
            with outcome.timed("finish"):
                extra += rejected_line_rows(spec, reads, hmac_keys, {}, rejected)
                counts = _finish(spark, spec, inputs, hmac_keys, staged_dir, clean_dir)
                _record_lines(con, inputs, staged_dir)
        register_extra(con, extra)
        empty = declared_staged_schema(con, spec)

        def day_rows(day: str) -> ds.Dataset:
            files = sorted(glob.glob(f"{staged_dir}/dt={day}/*.parquet"))
            return ds.dataset(files, format="parquet") if files else ds.dataset(empty.empty_table())

        run = DayRun(con, lake, ref, scratch, inputs, day_rows)
        with outcome.timed("publish"):
            for day in days:
                _take_clean_file(con, spec, clean_dir, day, run.clean_tmp(day))
                outcome.partitions.append(publish_day(run, day, *counts.get(day, (0, 0, 0))))
    return outcome


def _stage(
    spark: SparkSession,
    spec: DatasetConfig,
    reads: Sequence[DeliveryRead],
    days: Sequence[str],
    folder: str,
) -> list[Rejected]:
    """Type, check and date every row of the target days into Parquet by day; rejected lines.

    Returns the CSV lines the reader rejected, as DuckDB's rejects table reports them.
    """
    plan = CleanPlan.of(spec)
    rows = read_deliveries(spark, spec, reads)
    rejected: list[Rejected] = []
    if spec.format == "csv":
        rows, bad = csv_rejects(rows)
        rejected = _rejected_lines(bad, reads)
    rows = staged(rows, plan, F.col("_delivery_dt"), typed_by_reader=spec.format == "csv")
    wanted = F.col("dt").isin([F.lit(day).cast("date") for day in days])
    keep = [rule.name for rule in plan.output] + ["_delivery", "_record", "_error", "dt"]
    rows.where(wanted).select(*keep).write.partitionBy("dt").parquet(folder)
    return rejected


def _rejected_lines(bad: DataFrame, reads: Sequence[DeliveryRead]) -> list[Rejected]:
    """Rejected CSV lines as (path, line, column, kind, text, message), structure first."""
    paths = {rank: item.path for rank, item, _ in reads}
    found: list[Rejected] = []
    columns = ["_delivery", "_record", "_line", "_structure", "_structure_message", "_casts"]
    for row in bad.select(*columns).collect():
        path, line = paths[row["_delivery"]], row["_record"]
        if row["_structure"] == QUOTED_LINE_BREAK:
            display = next(item.display for rank, item, _ in reads if rank == row["_delivery"])
            raise SparkReadProblem(
                f"{display} line {line}: a quoted field goes on past the end of the line; the "
                "Spark engine reads one CSV record per line. Fix: set engine: duckdb for this "
                "dataset (DuckDB reads quoted line breaks), or ask the partner to remove them"
            )
        if row["_structure"]:
            found.append(
                (path, line, None, row["_structure"], row["_line"], row["_structure_message"])
            )
            continue
        for failure in row["_casts"]:
            found.append((path, line, failure["column"], "CAST", row["_line"], failure["message"]))
    return sorted(found, key=lambda r: (r[0], r[1], r[3] == "CAST"))


def _finish(
    spark: SparkSession,
    spec: DatasetConfig,
    labels: Sequence[CleanInput],
    hmac_keys: Mapping[str, bytes],
    staged_dir: str,
    clean_dir: str,
) -> dict[str, tuple[int, int, int]]:
    """Deduplicate, hash and write each staged day as one Parquet file, in delivery order.

    Returns each day's valid, distinct-key and invalid row counts.
    """
    plan = CleanPlan.of(spec)
    if not glob.glob(f"{staged_dir}/dt=*"):
        return {}
    rows = spark.read.parquet(staged_dir)
    valid = F.col("_error").isNull()
    key = F.struct(*plan.primary_key)
    counts = {
        str(r["dt"]): (r["valid"], r["distinct"], r["invalid"])
        for r in rows.groupBy("dt")
        .agg(
            F.count(F.when(valid, 1)).alias("valid"),
            F.countDistinct(F.when(valid, key)).alias("distinct"),
            F.count("_error").alias("invalid"),
        )
        .collect()
    }
    kept = latest_per_key(rows.where(valid), plan)
    keys, prefixes = hmac_key_table(spark, plan, hmac_keys)
    if prefixes:
        kept = kept.crossJoin(F.broadcast(keys))
    ids = F.array(*(F.lit(item.delivery_id) for item in labels))
    out = kept.select(
        *clean_columns(plan, prefixes),
        F.element_at(ids, F.col("_delivery") + 1).alias("_delivery_id"),
        "dt",
        "_delivery",
        "_record",
    )
    (
        out.repartition("dt")
        .sortWithinPartitions("dt", "_delivery", "_record")
        .drop("_delivery", "_record")
        .write.option("compression", "zstd")
        .option("parquet.block.size", str(spec.row_group_mb * 1_000_000))
        .partitionBy("dt")
        .parquet(clean_dir)
    )
    return counts


def _record_lines(
    con: duckdb.DuckDBPyConnection, labels: Sequence[CleanInput], staged_dir: str
) -> None:
    """Invalid rows' physical lines for the quarantine file: Spark's records are lines."""
    files = glob.glob(f"{staged_dir}/dt=*/*.parquet")
    if not files:
        return
    ids = ", ".join(sql_string(item.delivery_id) for item in labels)
    listed = ", ".join(sql_string(path) for path in files)
    con.execute(
        f"INSERT INTO adlake_record_lines SELECT [{ids}][_delivery + 1], _record, _record "
        f"FROM read_parquet([{listed}]) WHERE _error IS NOT NULL"
    )


def _take_clean_file(
    con: duckdb.DuckDBPyConnection, spec: DatasetConfig, clean_dir: str, day: str, target: str
) -> None:
    """Move the day's one Spark part file to ``target``; an empty day gets an empty file."""
    parts = sorted(glob.glob(f"{clean_dir}/dt={day}/*.parquet"))
    if len(parts) == 1:
        shutil.move(parts[0], target)
        return
    if parts:  # not written by _finish's one task per day, but kept whole if it ever is
        listed = ", ".join(sql_string(path) for path in parts)
        source = f"read_parquet([{listed}])"
    else:
        values = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in clean_schema(spec))
        source = f"(SELECT {values} LIMIT 0)"
    con.execute(
        f"COPY (SELECT * FROM {source}) TO {sql_string(target)} (FORMAT parquet, COMPRESSION zstd)"
    )
