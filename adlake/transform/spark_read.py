"""Deliveries read by Spark into the rows the clean plan compiles over.

Every reader yields what DuckDB's readers (:mod:`~adlake.transform.readers`) do: one
``src__<column>`` per declared column, ``_record`` (the record's line, 1-based) and
``_bad_json``, plus ``_delivery`` (the delivery's rank) and ``_delivery_dt``. Each delivery is
read as one partition, so a record's line is its position in the partition; a run's
parallelism is its number of deliveries (a day of hourly files, a backfill of many days).
CSV lines are split by Spark; a line whose fields do not match the header, or whose value does
not cast, is reported as DuckDB's reader reports it, for the same quarantine rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from adlake.config import ColumnConfig, DatasetConfig
from adlake.transform.clean_model import DeliveryRead
from adlake.transform.plan import CleanPlan
from adlake.transform.spark_compile import cast
from adlake.transform.types import duckdb_type

QUOTED_LINE_BREAK = "QUOTED LINE BREAK"  # an odd number of quotes: the record goes on
WHOLE_FILES = str(1 << 40)  # a split size no delivery reaches: one partition per file


class SparkReadProblem(ValueError):
    """A delivery the Spark engine cannot read as declared; the message names the fix."""


def read_deliveries(
    spark: SparkSession, spec: DatasetConfig, reads: Sequence[DeliveryRead]
) -> DataFrame:
    """All deliveries of a run as one DataFrame of source values, one partition per file.

    CSV deliveries also carry ``_line`` (the text) and ``_reject_kind``/``_reject_message``
    for lines the reader rejects (see :func:`csv_rejects`).
    """
    spark.conf.set("spark.sql.files.maxPartitionBytes", WHOLE_FILES)
    spark.conf.set("spark.sql.files.openCostInBytes", WHOLE_FILES)
    if spec.format == "csv" and spec.csv.encoding != "utf-8":
        raise SparkReadProblem(
            f"the Spark engine reads utf-8 CSV; this dataset declares csv.encoding "
            f"{spec.csv.encoding}. Fix: set engine: duckdb for this dataset"
        )
    frames = [_read_one(spark, spec, rank, item.path, item.dt, read) for rank, item, read in reads]
    return reduce(DataFrame.unionByName, frames)


def _read_one(spark, spec, rank, path, dt, read) -> DataFrame:
    plan = CleanPlan.of(spec)
    if spec.format == "parquet":
        df = spark.read.parquet(path)
        sources = [F.col(f"`{rule.source}`").alias(f"src__{rule.name}") for rule in plan.columns]
        df = df.select(*sources, _line_number().alias("_record"), F.lit(False).alias("_bad_json"))
    else:
        lines = spark.read.text(path).select(
            F.col("value").alias("_line"), _line_number().alias("_record")
        )
        lines = lines.where(F.trim("_line") != "")
        if spec.format == "jsonl":
            document = F.get_json_object("_line", "$")
            df = lines.select(
                *(
                    F.get_json_object("_line", f"$.{rule.source}").alias(f"src__{rule.name}")
                    for rule in plan.columns
                ),
                "_record",
                document.isNull().alias("_bad_json"),
            )
        else:
            df = _csv_rows(lines.where("_record > 1"), spec, plan, read.header)
    return df.withColumn("_delivery", F.lit(rank)).withColumn(
        "_delivery_dt", F.lit(dt).cast("date")
    )


def _line_number() -> Column:
    """A row's 1-based position in its partition: its line, when a partition is one file."""
    return (
        F.monotonically_increasing_id() - F.shiftleft(F.spark_partition_id().cast("long"), 33) + 1
    )


def _csv_rows(lines: DataFrame, spec: DatasetConfig, plan: CleanPlan, header) -> DataFrame:
    """CSV lines split into typed source values, with DuckDB's reject kind and message."""
    delimiter, quote = spec.csv.delimiter, spec.csv.quote
    fields = ", ".join(f"`{h.replace('`', '``')}` STRING" for h in header)
    parsed = F.from_csv("_line", fields, {"sep": delimiter, "quote": quote, "escape": quote})
    unquoted = F.regexp_replace(
        "_line", f"{re.escape(quote)}[^{re.escape(quote)}]*{re.escape(quote)}", ""
    )
    found = F.size(F.split(unquoted, re.escape(delimiter), -1))
    df = lines.select("_line", "_record", parsed.alias("_fields"), found.alias("_found"))
    by_source = {rule.source: rule for rule in plan.columns}
    casts, failures = [], []
    for name in header:
        rule = by_source.get(name)
        if rule is None:
            continue
        raw = F.col("_fields")[name]
        text = F.when(raw != "", raw)
        value = cast(text, rule.column)
        casts.append(value.alias(f"src__{rule.name}"))
        if rule.column.type != "string":
            failures.append(
                F.when(
                    text.isNotNull() & value.isNull(),
                    F.struct(
                        F.lit(name).alias("column"),
                        F.concat(
                            F.lit(f'Error when converting column "{name}". Could not convert '),
                            F.lit('string "'),
                            text,
                            F.lit(f"\" to '{_reader_type(rule.column)}'"),
                        ).alias("message"),
                    ),
                )
            )
    expected = len(header)
    quotes = F.size(F.split("_line", re.escape(quote), -1)) - 1
    structure = F.when(quotes % 2 == 1, QUOTED_LINE_BREAK)
    structure = structure.when(F.col("_found") < expected, "MISSING COLUMNS").when(
        F.col("_found") > expected, "TOO MANY COLUMNS"
    )
    df = df.select(
        "_line",
        "_record",
        *casts,
        F.lit(False).alias("_bad_json"),
        structure.alias("_structure"),
        F.concat(F.lit(f"Expected Number of Columns: {expected} Found: "), F.col("_found")).alias(
            "_structure_message"
        ),
        _compact(failures).alias("_casts"),
    )
    return df


def _compact(failures: list[Column]) -> Column:
    """The failed casts of a line, in header order (an empty array when none failed)."""
    if not failures:
        return F.array().cast("array<struct<column:string,message:string>>")
    return F.filter(F.array(*failures), lambda failure: failure.isNotNull())


def csv_rejects(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """CSV rows split into accepted rows and rejected lines (structure first, then casts)."""
    rejected = F.col("_structure").isNotNull() | (F.size("_casts") > 0)
    columns = ["_line", "_structure", "_structure_message", "_casts"]
    return df.where(~rejected).drop(*columns), df.where(rejected)


def _reader_type(column: ColumnConfig) -> str:
    """The type DuckDB's CSV reader names when it cannot convert a value (not always its cast's)."""
    return {"timestamp_tz": "TIMESTAMP WITH TIME ZONE", "decimal": "DECIMAL"}.get(
        column.type, duckdb_type(column)
    )
