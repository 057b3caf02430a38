"""Logical column types of adlake.yaml mapped to each engine's types."""

from __future__ import annotations

from adlake.config import ColumnConfig

_DUCKDB = {
    "string": "VARCHAR",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamp_tz": "TIMESTAMPTZ",
}


def duckdb_type(column: ColumnConfig) -> str:
    """The DuckDB type that holds a declared column."""
    if column.type == "decimal":
        return f"DECIMAL({column.precision},{column.scale})"
    return _DUCKDB[column.type]


def clean_type(column: ColumnConfig) -> str:
    """The DuckDB type of the column in the clean zone (hashed PII becomes a hex string)."""
    return "VARCHAR" if column.pii else duckdb_type(column)
