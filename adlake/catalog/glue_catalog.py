"""The catalog of the aws profile: the Glue Data Catalog, one database per source.

Registering a clean dataset writes its table (Parquet SerDe, Hive partition key ``dt`` of type
date, column types mapped from the clean schema, PII columns tagged) and adds each new daily
partition with BatchCreatePartition, so Athena, Spark and Redshift Spectrum see a partition as
soon as it is registered, with no crawler. An unpartitioned dataset (one current-state Parquet
file) is a table without partition keys over its folder, and no partition is ever added.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from adlake.catalog.glue_schema import (
    GlueCatalogError,
    json_table_input,
    partition_input,
    storage_key,
    table_input,
    table_key,
)
from adlake.catalog.table import CatalogTable, JsonTable, TableRegistration

BATCH_SIZE = 100  # BatchCreatePartition and BatchUpdatePartition take at most 100 entries

__all__ = ["GlueCatalog", "GlueCatalogError"]


class GlueCatalog:
    """The Glue Data Catalog: database ``<prefix><source>``, table ``<dataset>``."""

    def __init__(self, region: str, endpoint_url: str | None = None, database_prefix: str = ""):
        self.region = region
        self.endpoint_url = endpoint_url
        self.database_prefix = database_prefix
        self._client = boto3.session.Session().client(
            "glue",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 8}),
        )

    def database_name(self, source: str) -> str:
        """The Glue database of a source."""
        return f"{self.database_prefix}{source}"

    def register(self, table: CatalogTable) -> TableRegistration:
        """Create or update the table, add the partitions not yet registered; idempotent.

        A partition already registered is left alone unless its folder or columns differ from
        this registration's (the lake moved, the schema grew): then it is updated. An
        unpartitioned dataset gets a table without partition keys and no partition calls; a
        table of the same name with other partition keys (e.g. it was partitioned before) is
        refused with GlueCatalogError rather than silently changed.
        """
        database = self.database_name(table.source)
        where = f"{database}.{table.dataset}"
        wanted = table_input(table, where)
        columns = wanted["StorageDescriptor"]["Columns"]
        inputs = {dt: partition_input(table, columns, dt, where) for dt in sorted(table.partitions)}
        self._ensure_database(database, table.source, where)
        self._put_table(database, wanted, where)
        if not table.partitioned:
            return TableRegistration(
                table=where,
                location=wanted["StorageDescriptor"]["Location"],
                partitions=[],
                rows_in_partitions=None,
            )
        registered = self._registered_partitions(database, table.dataset, where)
        new = [p for dt, p in inputs.items() if dt not in registered]
        stale = [
            p
            for dt, p in inputs.items()
            if dt in registered and storage_key(registered[dt]) != storage_key(p)
        ]
        self._create_partitions(database, table.dataset, new, where)
        self._update_partitions(database, table.dataset, stale, where)
        return TableRegistration(
            table=where,
            location=wanted["StorageDescriptor"]["Location"],
            partitions=sorted(set(registered) | set(inputs)),
            rows_in_partitions=None,
        )

    def register_json(self, table: JsonTable) -> str:
        """Create or update an unpartitioned JSON table (OpenX JSON SerDe) over the folder."""
        database = self.database_name(table.source)
        where = f"{database}.{table.name}"
        wanted = json_table_input(table)
        self._ensure_database(database, table.source, where)
        self._put_table(database, wanted, where)
        return where

    def drop_partitions(self, source: str, name: str, dts: list[str]) -> int:
        """Delete these partitions of a Glue table (BatchDeletePartition, 25 at a time)."""
        database, where = self.database_name(source), f"{self.database_name(source)}.{name}"
        tolerate = ("EntityNotFoundException",)
        if not dts or not self._call(
            "get_table", where, tolerate, DatabaseName=database, Name=name
        ):
            return 0
        registered = self._registered_partitions(database, name, where)
        wanted = [{"Values": [dt]} for dt in dts if dt in registered]
        for batch in _batches(wanted):
            response = self._call(
                "batch_delete_partition",
                where,
                DatabaseName=database,
                TableName=name,
                PartitionsToDelete=batch,
            )
            _raise_partition_errors(response, "BatchDeletePartition", where)
        return len(wanted)

    def _ensure_database(self, database: str, source: str, where: str) -> None:
        if self._call("get_database", where, ("EntityNotFoundException",), Name=database):
            return
        self._call(
            "create_database",
            where,
            ("AlreadyExistsException",),  # created meanwhile by a concurrent run
            DatabaseInput={"Name": database, "Description": f"adlake clean zone of {source}"},
        )

    def _put_table(self, database: str, wanted: dict[str, Any], where: str) -> None:
        name = wanted["Name"]
        for _ in range(2):  # a concurrent run may create it between our get and create
            found = self._call(
                "get_table", where, ("EntityNotFoundException",), DatabaseName=database, Name=name
            )
            if found is None:
                if self._call(
                    "create_table",
                    where,
                    ("AlreadyExistsException",),
                    DatabaseName=database,
                    TableInput=wanted,
                ):
                    return
                continue
            current = found["Table"]
            keys = [(k["Name"], k["Type"]) for k in current.get("PartitionKeys", [])]
            ours = [(k["Name"], k["Type"]) for k in wanted["PartitionKeys"]]
            if keys != ours:
                raise GlueCatalogError(
                    f"{where} exists with partition keys {keys}, but adlake registers it with "
                    f"{ours or 'none'}; drop it (aws glue delete-table --database-name "
                    f"{database} --name {name}) and re-materialize the asset, or set "
                    "aws.glue_database_prefix to a prefix adlake owns"
                )
            if table_key(current) != table_key(wanted):
                # keep parameters others set (partition filtering, projection); ours win
                parameters = {**current.get("Parameters", {}), **wanted["Parameters"]}
                update = {**wanted, "Parameters": parameters}
                self._call("update_table", where, DatabaseName=database, TableInput=update)
            return

    def _registered_partitions(
        self, database: str, name: str, where: str
    ) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        try:
            pages = self._client.get_paginator("get_partitions").paginate(
                DatabaseName=database, TableName=name
            )
            for page in pages:
                for partition in page.get("Partitions", []):
                    found[partition["Values"][0]] = partition
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "GetPartitions", where) from exc
        return found

    def _create_partitions(
        self, database: str, name: str, inputs: list[dict[str, Any]], where: str
    ) -> None:
        for batch in _batches(inputs):
            response = self._call(
                "batch_create_partition",
                where,
                DatabaseName=database,
                TableName=name,
                PartitionInputList=batch,
            )
            _raise_partition_errors(response, "BatchCreatePartition", where)

    def _update_partitions(
        self, database: str, name: str, inputs: list[dict[str, Any]], where: str
    ) -> None:
        for batch in _batches(inputs):
            entries = [{"PartitionValueList": p["Values"], "PartitionInput": p} for p in batch]
            response = self._call(
                "batch_update_partition",
                where,
                DatabaseName=database,
                TableName=name,
                Entries=entries,
            )
            _raise_partition_errors(response, "BatchUpdatePartition", where)

    def _call(
        self, method: str, where: str, tolerate: tuple[str, ...] = (), **params: Any
    ) -> dict[str, Any] | None:
        """One Glue call; an error code in ``tolerate`` returns None, any other raises."""
        try:
            return getattr(self._client, method)(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in tolerate:
                return None
            raise self._error(exc, exc.operation_name, where) from exc
        except BotoCoreError as exc:
            raise self._error(exc, method, where) from exc

    def _error(self, exc: Exception, operation: str, where: str) -> GlueCatalogError:
        if not isinstance(exc, ClientError):
            return GlueCatalogError(
                f"Glue {operation} on {where} failed: {exc}; check the AWS credentials of the "
                f"run, region {self.region!r} and endpoint {self.endpoint_url or '(default)'}"
            )
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        fixes = {
            "AccessDeniedException": f"grant glue:{operation} on the catalog, database and "
            "table to the role Dagster runs as (`adlake iam-policy` prints the policy)",
            "ResourceNumberLimitExceededException": "a Glue quota is reached: request an "
            "increase or delete unused partitions",
            "ThrottlingException": "Glue kept throttling after retries: re-run the catalog asset",
        }
        fix = fixes.get(code, "fix the cause above, then re-materialize the catalog asset")
        return GlueCatalogError(f"Glue {operation} on {where} failed ({code}: {message}); {fix}")


def _raise_partition_errors(response: dict[str, Any] | None, operation: str, where: str) -> None:
    """Per-partition Errors of a batch call as one exception (AlreadyExists means done)."""
    failures = []
    for error in (response or {}).get("Errors", []):
        detail = error.get("ErrorDetail", {})
        if detail.get("ErrorCode") == "AlreadyExistsException":
            continue  # registered meanwhile by a concurrent run: the goal is reached
        values = error.get("PartitionValues") or error.get("PartitionValueList") or ["?"]
        failures.append(f"dt={values[0]}: {detail.get('ErrorCode')} {detail.get('ErrorMessage')}")
    if failures:
        more = f"; and {len(failures) - 10} more" if len(failures) > 10 else ""
        raise GlueCatalogError(
            f"{operation} on {where} rejected {len(failures)} partition(s): "
            f"{'; '.join(failures[:10])}{more}; fix the cause, then re-materialize those "
            "partitions of the catalog asset"
        )


def _batches(items: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), BATCH_SIZE):
        yield items[start : start + BATCH_SIZE]
