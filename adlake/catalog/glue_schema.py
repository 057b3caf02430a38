"""What a clean dataset looks like in the Glue Data Catalog: Hive types, Parquet storage.

``dt`` is declared ``date``, not ``string``: Athena reads Hive folders ``dt=YYYY-MM-DD`` into a
DATE partition column, the local DuckDB catalog exposes ``dt`` as DATE too, so segment SQL such
as ``WHERE dt = DATE '2026-03-10'`` runs unchanged on both profiles (with a string key Athena
rejects comparing varchar to date), and Glue partition indexes accept date keys. An
unpartitioned dataset (one current-state Parquet file) is a table without partition keys over
its folder.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from adlake.catalog.table import CatalogTable, JsonTable

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PII_PARAMETER = "adlake.pii_columns"
PARTITION_KEY = {"Name": "dt", "Type": "date", "Comment": "day of the partition (dt=YYYY-MM-DD)"}
COMMENT_LIMIT = 255  # Glue's maximum length of a column comment

_HIVE_TYPES = {
    "VARCHAR": "string",
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "FLOAT": "float",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    # Parquet stores TIMESTAMPTZ as UTC instants; Hive's timestamp reads them as UTC
    "TIMESTAMPTZ": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "BLOB": "binary",
}
_DECIMAL = re.compile(r"^DECIMAL\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class GlueCatalogError(RuntimeError):
    """Registering in Glue failed; the message names the database, table and the fix."""


def hive_type(duckdb_type: str) -> str:
    """The Hive (Glue/Athena) type of a DuckDB column type; ValueError if it has none."""
    normalized = " ".join(duckdb_type.upper().split())
    if normalized in _HIVE_TYPES:
        return _HIVE_TYPES[normalized]
    decimal = _DECIMAL.match(normalized)
    if decimal:
        precision, scale = int(decimal[1]), int(decimal[2])
        if 1 <= precision <= 38 and scale <= precision:
            return f"decimal({precision},{scale})"
    supported = ", ".join([*_HIVE_TYPES, "DECIMAL(p,s) with p <= 38"])
    raise ValueError(f"DuckDB type {duckdb_type!r} has no Glue type; supported: {supported}")


def table_input(table: CatalogTable, where: str) -> dict[str, Any]:
    """The Glue TableInput of a clean dataset: an external Parquet table over its folder.

    Partitioned by ``dt`` unless the dataset is unpartitioned, then with no partition keys, so
    Athena reads the single file in the folder directly.
    """
    columns = []
    for name, duckdb_type in table.columns:
        try:
            column: dict[str, Any] = {"Name": name, "Type": hive_type(duckdb_type)}
        except ValueError as exc:
            raise GlueCatalogError(
                f"{where}: column {name!r}: {exc}; declare it with a supported type in "
                f"adlake.yaml (sources.{table.source}.datasets.{table.dataset}.columns)"
            ) from None
        if table.column_notes.get(name):
            column["Comment"] = table.column_notes[name][:COMMENT_LIMIT]
        columns.append(column)
    pii = [name for name, _ in table.columns if table.column_notes.get(name)]
    return {
        "Name": table.dataset,
        "Description": table.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "parquet",
            "EXTERNAL": "TRUE",
            PII_PARAMETER: ",".join(pii),
        },
        "PartitionKeys": [PARTITION_KEY] if table.partitioned else [],
        "StorageDescriptor": storage_descriptor(columns, folder(table.location)),
    }


def json_table_input(table: JsonTable) -> dict[str, Any]:
    """The Glue TableInput of an unpartitioned table of JSON lines (Athena's OpenX SerDe)."""
    return {
        "Name": table.name,
        "Description": table.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "json", "EXTERNAL": "TRUE"},
        "PartitionKeys": [],
        "StorageDescriptor": {
            "Columns": [{"Name": name, "Type": hive} for name, _, hive in table.columns],
            "Location": folder(table.location),
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
        },
    }


def partition_input(
    table: CatalogTable, columns: list[dict[str, Any]], dt: str, where: str
) -> dict:
    """The Glue PartitionInput of one day: the table's storage at the day's folder."""
    if not _DAY.match(dt) or not _is_date(dt):
        raise GlueCatalogError(
            f"{where}: partition {dt!r} is not a day YYYY-MM-DD; only daily partitions "
            "dt=YYYY-MM-DD can be registered"
        )
    return {
        "Values": [dt],
        "StorageDescriptor": storage_descriptor(columns, folder(table.partition_location(dt))),
    }


def storage_descriptor(columns: list[dict[str, Any]], location: str) -> dict[str, Any]:
    """Parquet files read through the Hive Parquet SerDe, under ``location``."""
    return {
        "Columns": columns,
        "Location": location,
        "InputFormat": PARQUET_INPUT,
        "OutputFormat": PARQUET_OUTPUT,
        "Compressed": False,
        "SerdeInfo": {
            "SerializationLibrary": PARQUET_SERDE,
            "Parameters": {"serialization.format": "1"},
        },
        "StoredAsSubDirectories": False,
    }


def folder(url: str) -> str:
    """A location as Glue wants a folder: ending with exactly one ``/``."""
    return f"{url.rstrip('/')}/"


def storage_key(item: dict[str, Any]) -> tuple[Any, ...]:
    """What of a table's or partition's storage adlake manages, for comparing with Glue's."""
    storage = item.get("StorageDescriptor", {})
    serde = storage.get("SerdeInfo", {}).get("SerializationLibrary")
    columns = [(c["Name"], c["Type"], c.get("Comment", "")) for c in storage.get("Columns", [])]
    return (storage.get("Location"), serde, columns)


def table_key(item: dict[str, Any]) -> tuple[Any, ...]:
    """What of a table adlake manages; equal keys mean no UpdateTable is needed."""
    parameters = item.get("Parameters", {})
    ours = {k: parameters.get(k) for k in ("classification", "EXTERNAL", PII_PARAMETER)}
    return (item.get("Description", ""), item.get("TableType"), ours, storage_key(item))


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
