"""Ad-hoc SQL over the catalog: DuckDB on the local profile, Athena on the aws profile.

Tables are named as the catalog registers them: ``<source>.<dataset>`` in DuckDB, and the
Glue database of the source (``<database_prefix><source>``) in Athena. Athena results go to
``s3://<lake bucket>/<prefix>/athena-results/``; the query is polled through the shared
polling module. Errors carry the engine's own message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adlake.config import AdlakeConfig


class QueryError(RuntimeError):
    """The engine refused or failed the query; the message is its own, with the SQL's start."""


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of a query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def run_query(
    config: AdlakeConfig,
    sql: str,
    *,
    limit: int = 1_000,
    sleep: Callable[[float], None] = time.sleep,
) -> QueryResult:
    """Run ``sql`` on the profile's engine and return at most ``limit`` rows."""
    if config.profile == "aws" and config.aws is not None:
        return _athena(config, sql, limit, sleep)
    return _duckdb(config, sql, limit)


def _duckdb(config: AdlakeConfig, sql: str, limit: int) -> QueryResult:
    import duckdb

    path = config.resolve(config.catalog.duckdb_path)
    if not path.exists():
        raise QueryError(
            f"no catalog at {path} yet. Fix: materialize a catalog asset first (make dev, or "
            "dagster asset materialize --select 'catalog/*')"
        )
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            relation = con.sql(sql)
            if relation is None:
                return QueryResult([], [])
            return QueryResult(list(relation.columns), relation.limit(limit).fetchall())
    except duckdb.Error as exc:
        raise QueryError(f"DuckDB: {str(exc).strip()} (in: {sql[:120]})") from None


def _athena(
    config: AdlakeConfig, sql: str, limit: int, sleep: Callable[[float], None]
) -> QueryResult:
    import boto3

    from adlake.connectors.http import poll

    aws = config.aws
    assert aws is not None
    athena = boto3.session.Session().client(
        "athena", region_name=aws.region, endpoint_url=aws.endpoint_url
    )
    prefix = aws.lake.prefix.strip("/")
    output = f"s3://{aws.lake.bucket}/{prefix + '/' if prefix else ''}athena-results/"
    started = athena.start_query_execution(
        QueryString=sql,
        ResultConfiguration={
            "OutputLocation": output,
            "EncryptionConfiguration": {
                "EncryptionOption": "SSE_KMS",
                "KmsKey": aws.lake.kms_key_id,
            },
        },
    )
    query_id = started["QueryExecutionId"]
    state = poll(
        lambda: athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"],
        lambda status: status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"),
        api="Athena",
        operation="query",
        interval=1.0,
        max_interval=10.0,
        timeout=30 * 60,
        sleep=sleep,
    )
    if state["State"] != "SUCCEEDED":
        reason = state.get("StateChangeReason") or state["State"]
        raise QueryError(f"Athena: {reason} (in: {sql[:120]})")
    page = athena.get_query_results(QueryExecutionId=query_id, MaxResults=min(limit + 1, 1000))
    rows = [[cell.get("VarCharValue") for cell in row["Data"]] for row in page["ResultSet"]["Rows"]]
    info = page["ResultSet"].get("ResultSetMetadata", {}).get("ColumnInfo", [])
    columns = [c["Name"] for c in info] or (rows[0] if rows else [])
    body = rows[1:] if rows and rows[0] == columns else rows
    return QueryResult(list(columns), [tuple(r) for r in body[:limit]])
