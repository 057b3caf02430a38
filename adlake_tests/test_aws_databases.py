"""A PostgreSQL CDC source run unchanged on the aws profile, against moto and a real PostgreSQL.

The same ``crm_db`` source as the local profile's tests, with ``profile: aws`` and an ``aws``
section: the connection URL comes from Secrets Manager, change batches, the capture position
and the clean tables are SSE-KMS objects on S3, and the tables are registered in Glue (a
``dt`` partition key for the table with a partition column, none for the other). The clean
Parquet read back from S3 equals the source tables; the password never reaches the event log.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.dataset as ds
import pytest
import yaml
from pyarrow import fs as pafs

import adlake.definitions
from adlake_tests.conftest import AwsTestAccount
from adlake_tests.servers.fixtures import unique_name
from adlake_tests.servers.postgres import PgServer

PREFIX = "prod/adlake"
SOURCE = "crm_db"
JOB = f"{SOURCE}_cdc_job"
PASSWORD = "pw-" + "4d82b6e0"  # trust auth ignores it; it must never show up anywhere
EMAIL = {"type": "string", "pii": {"policy": "sha256", "identifier": "email"}}
ORDERS = {
    "id": {"type": "bigint", "required": True},
    "email": EMAIL,
    "amount": {"type": "decimal", "precision": 12, "scale": 2},
    "created": {"type": "date"},
}
CUSTOMERS = {
    "id": {"type": "bigint", "required": True},
    "email": EMAIL,
    "tier": {"type": "string"},
    "points": {"type": "integer"},
}
GLUE_COLUMNS = {
    "orders": [
        ("id", "bigint"),
        ("email", "string"),
        ("amount", "decimal(12,2)"),
        ("created", "date"),
        ("_delivery_id", "string"),
    ],
    "customers": [
        ("id", "bigint"),
        ("email", "string"),
        ("tier", "string"),
        ("points", "int"),
        ("_delivery_id", "string"),
    ],
}


class AwsDbProject:
    """The aws-profile project of ``crm_db`` and the PostgreSQL database it captures."""

    def __init__(
        self, aws: AwsTestAccount, server: PgServer, database: str, secret_id: str, glue: str
    ) -> None:
        self.aws, self.server, self.database = aws, server, database
        self.secret_id = secret_id  # the Secrets Manager id of the connection URL
        self.glue_database = glue  # the Glue database of the source

    def execute(self, *statements: str) -> None:
        connection = self.server.connect(self.database)
        connection.autocommit = True
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        connection.close()

    def source_rows(self, table: str) -> list[tuple]:
        """The table in the source, as clean should publish it (emails hashed)."""
        columns = "id, email, amount, created" if table == "orders" else "id, email, tier, points"
        connection = self.server.connect(self.database)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {table} ORDER BY id")
            rows = cursor.fetchall()
        connection.close()
        return [(row[0], hashed(row[1]), *row[2:]) for row in rows]

    def run(self, instance: dg.DagsterInstance, **kwargs: Any) -> dg.ExecuteInProcessResult:
        """One micro-batch of the source's job, with Definitions built from adlake.yaml."""
        job = adlake.definitions.defs().resolve_job_def(JOB)
        return job.execute_in_process(instance=instance, **kwargs)

    def keys(self, below: str) -> list[str]:
        """Every object key under ``<prefix>/<below>/``."""
        pages = self.aws.client("s3").get_paginator("list_objects_v2")
        found = []
        for page in pages.paginate(Bucket=self.aws.bucket, Prefix=f"{PREFIX}/{below}/"):
            found += [item["Key"] for item in page.get("Contents", [])]
        return sorted(found)

    def clean_rows(self, table: str) -> list[tuple]:
        """The clean table read from S3 by an outside reader (pyarrow, Hive partitioning)."""
        s3 = pafs.S3FileSystem(
            access_key="testing",
            secret_key="testing",
            region=self.aws.region,
            endpoint_override=self.aws.endpoint_url,
            scheme="http",
        )
        dataset = ds.dataset(
            f"{self.aws.bucket}/{PREFIX}/clean/{SOURCE}/{table}",
            filesystem=s3,
            format="parquet",
            partitioning="hive" if table == "orders" else None,
        )
        rows = dataset.to_table().to_pylist()
        if table == "orders":
            for row in rows:  # rows sit in the partition of their own date
                assert str(row["dt"]) == row["created"].isoformat(), row
            found = [(r["id"], r["email"], r["amount"], r["created"]) for r in rows]
        else:
            found = [(r["id"], r["email"], r["tier"], r["points"]) for r in rows]
        return sorted(found)


def hashed(email: str | None) -> str | None:
    """The clean value of an e-mail: sha256 of the normalized address."""
    return None if email is None else hashlib.sha256(email.strip().lower().encode()).hexdigest()


@pytest.fixture
def aws_db(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws: AwsTestAccount,
    pg_server: PgServer,
    pg_database: str,
) -> AwsDbProject:
    """adlake.yaml on the aws profile with a CDC source over orders (dt) and customers."""
    # moto keeps Secrets Manager and Glue state for the session: prefixes of our own
    secrets_prefix = f"adlake-{uuid.uuid4().hex[:8]}/"
    glue_prefix = f"t{uuid.uuid4().hex[:8]}_"
    secret_id = f"{secrets_prefix}{SOURCE}"
    project = AwsDbProject(aws, pg_server, pg_database, secret_id, f"{glue_prefix}{SOURCE}")
    project.execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, email text, amount numeric(12,2), "
        "created date)",
        "INSERT INTO orders SELECT g, 'buyer' || g || '@example.com', g * 1.25, "
        "CASE WHEN g > 27 THEN DATE '2026-03-04' ELSE DATE '2026-03-01' + (g % 3) END "
        "FROM generate_series(1, 30) g",
        "CREATE TABLE customers (id bigint PRIMARY KEY, email text, tier text, points int)",
        "INSERT INTO customers SELECT g, 'user' || g || '@example.com', 'silver', g "
        "FROM generate_series(1, 20) g",
    )
    server = pg_server
    url = f"postgresql://{server.user}:{PASSWORD}@{server.host}:{server.port}/{pg_database}"
    aws.client("secretsmanager").create_secret(Name=secret_id, SecretString=url)
    for variable in ("ADLAKE_SECRET_CRM_DB", "ADLAKE_PROFILE"):
        monkeypatch.delenv(variable, raising=False)  # the URL can only come from AWS
    document = {
        "profile": "aws",
        "aws": {
            "region": aws.region,
            "endpoint_url": aws.endpoint_url,
            "lake": {"bucket": aws.bucket, "prefix": PREFIX, "kms_key_id": aws.kms_key_id},
            "glue_database_prefix": glue_prefix,
            "secrets_prefix": secrets_prefix,
        },
        "lake": {"root": str(tmp_path / "unused-lake")},
        "catalog": {"duckdb_path": str(tmp_path / "unused-catalog.duckdb")},
        "secrets": {"file": None},
        "sources": {
            SOURCE: {
                "kind": "postgres",
                "connection": SOURCE,
                "mode": "cdc",
                "slot": unique_name("slot"),
                "interval_seconds": 30,
                "max_lag_seconds": 600,
                "max_seconds_per_run": 10,
                "tables": {
                    "orders": {
                        "table": "public.orders",
                        "columns": ORDERS,
                        "primary_key": ["id"],
                        "partition_column": "created",
                    },
                    "customers": {
                        "table": "public.customers",
                        "columns": CUSTOMERS,
                        "primary_key": ["id"],
                    },
                },
            }
        },
    }
    config_file = tmp_path / "adlake.yaml"
    config_file.write_text(yaml.safe_dump(document, sort_keys=False))
    monkeypatch.setenv("ADLAKE_CONFIG", str(config_file))
    return project


def event_log(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> str:
    """Everything the run recorded: every event log entry, its config and tags."""
    entries = instance.all_logs(result.run_id)
    assert entries
    run = result.dagster_run
    return "\n".join([*(str(entry) for entry in entries), str(run.run_config), str(run.tags)])


def test_the_cdc_job_runs_unchanged_on_s3_with_kms_glue_and_secrets_manager(
    aws_db: AwsDbProject,
) -> None:
    aws, s3 = aws_db.aws, aws_db.aws.client("s3")
    defs = adlake.definitions.defs()
    assert type(defs.resources["lake"]).__name__ == "S3LakeResource"
    assert type(defs.resources["secrets"]).__name__ == "AwsSecretsResource"
    assert type(defs.resources["catalog"]).__name__ == "GlueCatalogResource"
    instance = dg.DagsterInstance.ephemeral()

    first = aws_db.run(instance)
    assert first.success
    for table in ("orders", "customers"):
        assert aws_db.clean_rows(table) == aws_db.source_rows(table)
    emptied = f"{PREFIX}/clean/{SOURCE}/orders/dt=2026-03-04/data.parquet"
    assert emptied in aws_db.keys(f"clean/{SOURCE}/orders")

    aws_db.execute(
        "UPDATE orders SET amount = amount + 100 WHERE id <= 4",
        "UPDATE orders SET created = DATE '2026-03-09' WHERE id IN (5, 6)",  # moves partition
        "DELETE FROM orders WHERE id > 27",
        "INSERT INTO orders VALUES (31, 'Late@Example.com', 9.99, '2026-03-10')",
        "UPDATE customers SET tier = 'gold', points = points + 100 WHERE id <= 3",
        "DELETE FROM customers WHERE id = 20",
        "INSERT INTO customers VALUES (21, 'new@example.com', 'bronze', 0)",
    )
    second = aws_db.run(instance)
    assert second.success
    raw = {
        m.asset_key.path[-1]: m.metadata
        for m in second.asset_materializations_for_node(f"{SOURCE}_capture")
    }
    assert raw["orders"]["changes"].value == 4 + 2 + 3 + 1
    assert raw["customers"]["changes"].value == 3 + 1 + 1
    assert raw["orders"]["caught_up"].value is True
    clean = second.asset_materializations_for_node(f"clean__{SOURCE}__orders")[0].metadata
    assert clean["partitions_removed"].value == "2026-03-04"
    assert clean["location"].value.startswith("s3://") and clean["location_url"].value.startswith(
        "https://"
    )  # the S3 console's page of the table's folder, clickable in the UI
    checks = {
        (e.asset_key.path[-1], e.check_name): e.passed for e in second.get_asset_check_evaluations()
    }
    assert all(checks.values()) and len(checks) == 2 * 3, checks

    # the clean tables read back from S3 are the source tables
    expected = {table: aws_db.source_rows(table) for table in ("orders", "customers")}
    for table, rows in expected.items():
        assert aws_db.clean_rows(table) == rows, table
    assert (31, hashed("late@example.com")) == expected["orders"][-1][:2]  # hashed, normalized

    # raw: a snapshot batch and a change batch per table, under changes/
    for table in ("orders", "customers"):
        changes = aws_db.keys(f"raw/{SOURCE}/{table}")
        assert changes and all(
            k.startswith(f"{PREFIX}/raw/{SOURCE}/{table}/changes/") for k in changes
        )
        names = [k.rsplit("/", 1)[1] for k in changes]
        assert sum(n.endswith("_snapshot.parquet") for n in names) == 1, names
        assert any(not n.endswith("_snapshot.parquet") for n in names), names

    # state: the capture position, past the snapshot, and no password in it
    position_key = f"{PREFIX}/state/{SOURCE}/cdc/position.json"
    position_text = s3.get_object(Bucket=aws.bucket, Key=position_key)["Body"].read().decode()
    position = json.loads(position_text)
    assert position["engine"] == "postgres"
    assert position["position"] > position["snapshot_position"]
    assert position["position"] == raw["orders"]["position"].value
    assert PASSWORD not in position_text

    # clean: per-day objects for orders (a day emptied by deletes is removed), one for customers
    orders_days = sorted({d.isoformat() for *_, d in expected["orders"]})
    assert orders_days == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-09", "2026-03-10"]
    clean_orders = aws_db.keys(f"clean/{SOURCE}/orders")
    assert clean_orders == [
        f"{PREFIX}/clean/{SOURCE}/orders/dt={day}/data.parquet" for day in orders_days
    ]
    assert aws_db.keys(f"clean/{SOURCE}/customers") == [
        f"{PREFIX}/clean/{SOURCE}/customers/data.parquet"
    ]

    # every object the runs wrote (raw, state, clean) is SSE-KMS with the configured key
    written = aws_db.keys("raw") + aws_db.keys("state") + aws_db.keys("clean")
    assert position_key in written and len(written) >= 10
    for key in written:
        head = s3.head_object(Bucket=aws.bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert aws.kms_key_id in head["SSEKMSKeyId"], key

    # Glue: both tables in the source's database, dt only for orders, partitions at the days
    glue = aws.client("glue")
    base = f"s3://{aws.bucket}/{PREFIX}/clean/{SOURCE}"
    for table, columns in GLUE_COLUMNS.items():
        found = glue.get_table(DatabaseName=aws_db.glue_database, Name=table)["Table"]
        storage = found["StorageDescriptor"]
        assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == columns, table
        assert storage["Location"] == f"{base}/{table}/"
        assert found["Parameters"]["adlake.pii_columns"] == "email"
    orders = glue.get_table(DatabaseName=aws_db.glue_database, Name="orders")["Table"]
    assert [(k["Name"], k["Type"]) for k in orders["PartitionKeys"]] == [("dt", "date")]
    customers = glue.get_table(DatabaseName=aws_db.glue_database, Name="customers")["Table"]
    assert customers.get("PartitionKeys", []) == []
    pages = glue.get_paginator("get_partitions").paginate(
        DatabaseName=aws_db.glue_database, TableName="orders"
    )
    registered = {
        p["Values"][0]: p["StorageDescriptor"]["Location"]
        for page in pages
        for p in page["Partitions"]
    }
    for day in orders_days:
        assert registered[day] == f"{base}/orders/dt={day}/"
    # Glue only ever adds partitions: the emptied day stays registered, over a folder that no
    # longer holds an object, so Athena reads no row from it and the table equals the source
    for day in set(registered) - set(orders_days):
        assert not aws_db.keys(f"clean/{SOURCE}/orders/dt={day}"), day
    unpartitioned = glue.get_partitions(DatabaseName=aws_db.glue_database, TableName="customers")
    assert unpartitioned["Partitions"] == []

    for result in (first, second):
        assert PASSWORD not in event_log(instance, result)


def test_the_password_never_reaches_the_event_log_even_when_capture_fails(
    aws_db: AwsDbProject,
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    ok = aws_db.run(instance)
    assert ok.success and PASSWORD not in event_log(instance, ok)

    # the secret now names a database that does not exist: the capture step fails
    server = aws_db.server
    broken = f"postgresql://{server.user}:{PASSWORD}@{server.host}:{server.port}/no_such_db"
    aws_db.aws.client("secretsmanager").put_secret_value(
        SecretId=aws_db.secret_id, SecretString=broken
    )
    failed = aws_db.run(instance, raise_on_error=False)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = str(failure.step_failure_data.error)
    assert f"{server.user}:***@" in message and "no_such_db" in message
    log = event_log(instance, failed)
    assert "no_such_db" in log and PASSWORD not in log
