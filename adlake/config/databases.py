"""Models of relational sources: PostgreSQL and MySQL/MariaDB tables, batch or change capture.

A database source names the secret holding its connection URL (never the URL itself, which
carries a password), how it is read (``batch``: full or incremental extracts on a schedule;
``cdc``: logical replication / binlog micro-batches), and its tables. Each table is a dataset:
its declared columns (types, PII policies) and primary key are what clean uses to build the
current-state table.
"""

from __future__ import annotations

import re
import zlib
from typing import Literal

from pydantic import Field, model_validator

from adlake.config.base import Cron, Name, Ownership, _Model
from adlake.config.datasets import ColumnConfig, DatasetConfig, PartitionConfig, RetentionConfig
from adlake.config.errors import did_you_mean, problem

_QUALIFIED = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")


class DbTableConfig(_Model):
    """One table (or query) of a database source."""

    description: str = Field("", description="Shown in the Dagster UI.")
    table: str | None = Field(
        None, description="schema.table (PostgreSQL) or database.table (MySQL) to copy."
    )
    query: str | None = Field(
        None, description="A SELECT to copy instead of a table (batch mode only)."
    )
    columns: dict[Name, ColumnConfig] = Field(
        min_length=1, description="Declared columns; 'source' is the database column name."
    )
    primary_key: list[str] = Field(min_length=1, description="Columns that identify a row.")
    incremental_column: str | None = Field(
        None,
        description="Batch mode: a column that only grows (updated_at, id); each run reads "
        "rows at or above the last value seen minus overlap. None: full extracts.",
    )
    partition_column: str | None = Field(
        None,
        description="A declared date or timestamp column: clean is partitioned dt=<its UTC "
        "date>. None: clean is one unpartitioned current-state table.",
    )
    overlap: int = Field(
        0,
        ge=0,
        description="How far below the watermark each incremental run re-reads: seconds for a "
        "timestamp column, units for a number (late commits are not missed).",
    )
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="Retention.")
    start_date: str = Field("2026-01-01", description="First daily partition, YYYY-MM-DD.")
    freshness_hours: int | None = Field(48, ge=1, description="Staleness limit of the catalog.")

    @model_validator(mode="after")
    def _one_source(self) -> DbTableConfig:
        if (self.table is None) == (self.query is None):
            raise problem(
                "give exactly one of 'table' and 'query'",
                "write table: schema.table, or query: SELECT ...",
                key="table",
            )
        if self.table is not None and not _QUALIFIED.match(self.table):
            raise problem(
                "not a table name", "write it like public.customers", key="table", value=self.table
            )
        declared = list(self.columns)
        named = [("primary_key", k) for k in self.primary_key] + [
            (field, getattr(self, field))
            for field in ("incremental_column", "partition_column")
            if getattr(self, field) is not None
        ]
        for field, key in named:
            if key not in self.columns:
                raise problem(
                    f"not a declared column{did_you_mean(key, declared)}",
                    f"declare '{key}' under columns, or name a declared column",
                    key=field,
                    value=key,
                )
        if self.partition_column and self.columns[self.partition_column].type not in (
            "date",
            "timestamp",
        ):
            raise problem(
                "the partition column must have type date or timestamp",
                "name a date/timestamp column, or leave partition_column out",
                key="partition_column",
                value=self.partition_column,
            )
        return self

    def dataset(self) -> DatasetConfig:
        """The table as a dataset for clean and catalog."""
        return DatasetConfig(
            description=self.description,
            format="parquet",
            columns=self.columns,
            primary_key=self.primary_key,
            partition=PartitionConfig(column=self.partition_column),
            retention=self.retention,
            start_date=self.start_date,
            freshness_hours=self.freshness_hours,
        )


class DatabaseSourceConfig(Ownership):
    """A PostgreSQL or MySQL/MariaDB database copied into the lake."""

    kind: Literal["postgres", "mysql"] = Field(
        description="postgres: PostgreSQL; mysql: MySQL or MariaDB."
    )
    description: str = Field("", description="Shown in the Dagster UI.")
    connection: str = Field(
        description="Name of the secret holding the connection URL, e.g. "
        "postgresql://user:password@host:5432/db (the URL is never written here)."
    )
    mode: Literal["batch", "cdc"] = Field(
        "batch",
        description="batch: scheduled full/incremental extracts; cdc: changes streamed from "
        "logical replication (PostgreSQL) or the row binlog (MySQL/MariaDB).",
    )
    cron: Cron = Field("0 * * * *", description="Batch mode: when extracts run.")
    interval_seconds: int = Field(60, ge=5, description="CDC mode: seconds between micro-batches.")
    max_lag_seconds: int = Field(
        900, ge=1, description="CDC mode: the lag check fails above this many seconds."
    )
    slot: str | None = Field(
        None,
        pattern=r"^[a-z0-9_]{1,63}$",
        description="CDC, PostgreSQL: replication slot and publication name "
        "(default adlake_<source>).",
    )
    server_id: int | None = Field(
        None,
        ge=2,
        le=2**32 - 1,
        description="CDC, MySQL: the replica server_id this stream uses; unique among the "
        "server's replicas (default derived from the source name).",
    )
    snapshot: bool = Field(
        True,
        description="CDC: start from a consistent snapshot of the tables' current rows "
        "(false: only changes made after the first run).",
    )
    max_changes_per_run: int = Field(
        200_000, ge=1, description="CDC: changes one micro-batch run captures at most."
    )
    max_seconds_per_run: int = Field(
        60, ge=1, description="CDC: seconds one micro-batch run reads the stream at most."
    )
    tables: dict[Name, DbTableConfig] = Field(min_length=1, description="Tables by dataset name.")

    @model_validator(mode="after")
    def _cdc_reads_tables(self) -> DatabaseSourceConfig:
        if self.mode == "cdc":
            for name, table in self.tables.items():
                if table.query is not None:
                    raise problem(
                        "change capture follows tables, not queries",
                        "name the table with table: schema.table, or use mode: batch",
                        key=f"tables.{name}.query",
                    )
        return self

    def dataset_configs(self) -> dict[str, DatasetConfig]:
        """Each table as a dataset."""
        return {name: table.dataset() for name, table in self.tables.items()}

    def slot_name(self, source: str) -> str:
        """The PostgreSQL replication slot (and publication) of this source."""
        return self.slot or f"adlake_{source}"[:63].lower()

    def replica_server_id(self, source: str) -> int:
        """The MySQL server_id the binlog stream of this source registers with."""
        if self.server_id is not None:
            return self.server_id
        return 1_000_000 + zlib.crc32(source.encode()) % 1_000_000_000
