"""The Glue catalog against a real moto server: tables, partitions, schema changes, errors."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adlake.catalog.glue_catalog import GlueCatalog, GlueCatalogError, _raise_partition_errors
from adlake.catalog.glue_schema import PARQUET_SERDE, PII_PARAMETER, hive_type
from adlake.catalog.table import CatalogTable, JsonTable
from adlake.pulls.ledger import LEDGER_COLUMNS, LEDGER_TABLE
from adlake.resources.catalog import GlueCatalogResource
from adlake_tests.conftest import AwsTestAccount

COLUMNS = (
    ("campaign_id", "VARCHAR"),
    ("clicks", "BIGINT"),
    ("spend", "DECIMAL(12,2)"),
    ("email", "VARCHAR"),
    ("_delivery_id", "VARCHAR"),
)
EMAIL_NOTE = "PII: sha256 of normalized email"


@pytest.fixture
def source() -> str:
    """A source name of its own: moto keeps Glue state for the whole session."""
    return f"crm_{uuid.uuid4().hex[:8]}"


def contacts(aws: AwsTestAccount, source: str, days: tuple[str, ...], columns=COLUMNS):
    """The clean dataset ``<source>.contacts`` as the catalog asset describes it on S3."""
    return CatalogTable(
        source=source,
        dataset="contacts",
        description="CRM contacts, email hashed",
        location=f"s3://{aws.bucket}/adlake/clean/{source}/contacts",
        columns=columns,
        partitions=days,
        column_notes={"email": EMAIL_NOTE},
    )


def write_parquet(aws: AwsTestAccount, table: CatalogTable, dt: str) -> str:
    """A real Parquet file of the table's columns in the day's folder; returns its key."""
    arrays = {name: pa.array([f"{name}-1"]) for name, _ in table.columns}
    sink = io.BytesIO()
    pq.write_table(pa.table(arrays), sink)
    key = f"{table.partition_location(dt).removeprefix(f's3://{aws.bucket}/')}/data.parquet"
    aws.client("s3").put_object(
        Bucket=aws.bucket,
        Key=key,
        Body=sink.getvalue(),
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=aws.kms_key_id,
    )
    return key


def catalog(aws: AwsTestAccount, prefix: str = "") -> GlueCatalog:
    """The catalog as the aws profile builds it, through its resource."""
    resource = GlueCatalogResource(
        region=aws.region, endpoint_url=aws.endpoint_url, database_prefix=prefix
    )
    return resource.catalog()


def partitions(aws: AwsTestAccount, database: str, table: str) -> list[dict[str, Any]]:
    """Every partition Glue holds for the table, read back through the paginated API."""
    pages = (
        aws.client("glue")
        .get_paginator("get_partitions")
        .paginate(DatabaseName=database, TableName=table)
    )
    return sorted((p for page in pages for p in page["Partitions"]), key=lambda p: p["Values"])


def test_register_creates_table_and_partitions_at_the_parquet_folders(
    aws: AwsTestAccount, source: str
) -> None:
    table = contacts(aws, source, ("2026-03-07", "2026-03-08"))
    keys = {dt: write_parquet(aws, table, dt) for dt in table.partitions}

    registration = catalog(aws, prefix="adlake_").register(table)

    database = f"adlake_{source}"
    glue = aws.client("glue")
    assert glue.get_database(Name=database)["Database"]["Name"] == database
    found = glue.get_table(DatabaseName=database, Name="contacts")["Table"]
    assert found["TableType"] == "EXTERNAL_TABLE"
    assert found["Parameters"]["classification"] == "parquet"
    assert found["Parameters"][PII_PARAMETER] == "email"
    assert found["PartitionKeys"] == [
        {"Name": "dt", "Type": "date", "Comment": "day of the partition (dt=YYYY-MM-DD)"}
    ]
    storage = found["StorageDescriptor"]
    assert storage["Location"] == f"{table.location}/"
    assert storage["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert storage["InputFormat"].endswith("MapredParquetInputFormat")
    assert storage["OutputFormat"].endswith("MapredParquetOutputFormat")
    assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == [
        ("campaign_id", "string"),
        ("clicks", "bigint"),
        ("spend", "decimal(12,2)"),
        ("email", "string"),
        ("_delivery_id", "string"),
    ]
    assert {c["Name"]: c.get("Comment") for c in storage["Columns"]}["email"] == EMAIL_NOTE

    held = partitions(aws, database, "contacts")
    assert [p["Values"] for p in held] == [["2026-03-07"], ["2026-03-08"]]
    s3 = aws.client("s3")
    for partition in held:
        location = partition["StorageDescriptor"]["Location"]
        dt = partition["Values"][0]
        assert location == f"s3://{aws.bucket}/{keys[dt].removesuffix('data.parquet')}"
        prefix = location.removeprefix(f"s3://{aws.bucket}/")
        listed = s3.list_objects_v2(Bucket=aws.bucket, Prefix=prefix)["Contents"]
        assert [o["Key"] for o in listed] == [keys[dt]]
        body = s3.get_object(Bucket=aws.bucket, Key=keys[dt])["Body"].read()
        assert pq.read_table(io.BytesIO(body)).column_names == [n for n, _ in table.columns]
        assert partition["StorageDescriptor"]["Columns"] == storage["Columns"]

    assert registration.table == f"{database}.contacts"
    assert registration.location == f"{table.location}/"
    assert registration.partitions == ["2026-03-07", "2026-03-08"]
    assert registration.rows_in_partitions is None


def test_register_again_adds_partition_and_column_without_duplicates(
    aws: AwsTestAccount, source: str
) -> None:
    glue_catalog = catalog(aws)
    glue_catalog.register(contacts(aws, source, ("2026-03-07", "2026-03-08")))
    grown = (*COLUMNS, ("opened", "BOOLEAN"))

    registration = glue_catalog.register(
        contacts(aws, source, ("2026-03-08", "2026-03-09"), columns=grown)
    )

    glue = aws.client("glue")
    columns = glue.get_table(DatabaseName=source, Name="contacts")["Table"]["StorageDescriptor"][
        "Columns"
    ]
    assert columns[-1] == {"Name": "opened", "Type": "boolean"}
    versions = glue.get_table_versions(DatabaseName=source, TableName="contacts")
    assert len(versions["TableVersions"]) == 2
    held = {p["Values"][0]: p for p in partitions(aws, source, "contacts")}
    assert sorted(held) == ["2026-03-07", "2026-03-08", "2026-03-09"]
    assert registration.partitions == ["2026-03-07", "2026-03-08", "2026-03-09"]
    # a re-registered day takes the grown schema; a day not re-registered keeps its own
    width = {dt: len(p["StorageDescriptor"]["Columns"]) for dt, p in held.items()}
    assert width == {"2026-03-07": 5, "2026-03-08": 6, "2026-03-09": 6}


def test_registering_the_same_table_twice_changes_nothing(aws: AwsTestAccount, source: str) -> None:
    table = contacts(aws, source, ("2026-03-07",))
    catalog(aws).register(table)
    catalog(aws).register(table)

    versions = aws.client("glue").get_table_versions(DatabaseName=source, TableName="contacts")
    assert len(versions["TableVersions"]) == 1
    assert [p["Values"] for p in partitions(aws, source, "contacts")] == [["2026-03-07"]]


def test_more_partitions_than_one_batch(aws: AwsTestAccount, source: str) -> None:
    days = tuple(f"2025-{m:02d}-{d:02d}" for m in range(1, 6) for d in range(1, 29))  # 140
    registration = catalog(aws).register(contacts(aws, source, days))

    assert len(partitions(aws, source, "contacts")) == 140
    assert registration.partitions == sorted(days)


def test_a_table_partitioned_otherwise_is_not_silently_changed(
    aws: AwsTestAccount, source: str
) -> None:
    glue = aws.client("glue")
    glue.create_database(DatabaseInput={"Name": source})
    glue.create_table(
        DatabaseName=source,
        TableInput={"Name": "contacts", "PartitionKeys": [{"Name": "dt", "Type": "string"}]},
    )

    with pytest.raises(GlueCatalogError) as raised:
        catalog(aws).register(contacts(aws, source, ("2026-03-07",)))

    message = str(raised.value)
    assert f"{source}.contacts" in message
    assert f"aws glue delete-table --database-name {source} --name contacts" in message


@pytest.mark.parametrize(
    ("columns", "days", "expected"),
    [
        ((("payload", "STRUCT(a INTEGER)"),), ("2026-03-07",), "column 'payload'"),
        ((("spend", "DECIMAL(40,2)"),), ("2026-03-07",), "supported: VARCHAR"),
        (COLUMNS, ("2026-3-7",), "partition '2026-3-7' is not a day YYYY-MM-DD"),
        (COLUMNS, ("2026-02-30",), "partition '2026-02-30' is not a day"),
    ],
)
def test_bad_definitions_are_refused_before_any_call(
    aws: AwsTestAccount, source: str, columns, days, expected: str
) -> None:
    with pytest.raises(GlueCatalogError, match=expected) as raised:
        catalog(aws).register(contacts(aws, source, days, columns=columns))

    assert f"{source}.contacts" in str(raised.value)
    names = [d["Name"] for d in aws.client("glue").get_databases()["DatabaseList"]]
    assert source not in names


def test_per_partition_errors_are_raised_and_already_exists_is_success() -> None:
    """Shaped like the BatchCreatePartition Errors of the API (moto only reports duplicates)."""
    response = {
        "Errors": [
            {
                "PartitionValues": ["2026-03-07"],
                "ErrorDetail": {"ErrorCode": "AlreadyExistsException", "ErrorMessage": "exists"},
            },
            {
                "PartitionValues": ["2026-03-08"],
                "ErrorDetail": {"ErrorCode": "InvalidInputException", "ErrorMessage": "bad"},
            },
        ]
    }
    with pytest.raises(GlueCatalogError) as raised:
        _raise_partition_errors(response, "BatchCreatePartition", "crm.contacts")

    message = str(raised.value)
    assert "BatchCreatePartition on crm.contacts rejected 1 partition(s)" in message
    assert "dt=2026-03-08: InvalidInputException bad" in message
    assert "2026-03-07" not in message
    _raise_partition_errors({"Errors": response["Errors"][:1]}, "BatchCreatePartition", "x.y")


def test_glue_errors_name_the_table_and_the_fix(aws: AwsTestAccount, source: str) -> None:
    glue_catalog = catalog(aws)
    table = contacts(aws, source, ("2026-03-07",))
    glue_catalog.register(table)
    aws.client("glue").delete_database(Name=source)

    with pytest.raises(GlueCatalogError) as raised:
        glue_catalog._call("get_table", f"{source}.contacts", DatabaseName=source, Name="x")

    message = str(raised.value)
    assert f"Glue GetTable on {source}.contacts failed (EntityNotFoundException" in message
    assert "re-materialize the catalog asset" in message


@pytest.mark.parametrize(
    ("duckdb_type", "hive"),
    [
        ("VARCHAR", "string"),
        ("INTEGER", "int"),
        ("BIGINT", "bigint"),
        ("DOUBLE", "double"),
        ("DECIMAL(12,2)", "decimal(12,2)"),
        ("decimal(38, 0)", "decimal(38,0)"),
        ("BOOLEAN", "boolean"),
        ("DATE", "date"),
        ("TIMESTAMP", "timestamp"),
        ("TIMESTAMPTZ", "timestamp"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp"),
    ],
)
def test_duckdb_types_map_to_hive_types(duckdb_type: str, hive: str) -> None:
    assert hive_type(duckdb_type) == hive


def test_the_report_ledger_is_a_json_table_athena_can_read(
    aws: AwsTestAccount, source: str
) -> None:
    catalog = GlueCatalog(aws.region, aws.endpoint_url, "adlake_")
    ledger = JsonTable(
        source=source,
        name=LEDGER_TABLE,
        description="report requests",
        location=f"s3://{aws.bucket}/adlake/state/{source}/report_ledger",
        columns=LEDGER_COLUMNS,
    )
    assert catalog.register_json(ledger) == f"adlake_{source}.report_ledger"
    assert catalog.register_json(ledger) == f"adlake_{source}.report_ledger"  # idempotent

    table = aws.client("glue").get_table(DatabaseName=f"adlake_{source}", Name="report_ledger")
    storage = table["Table"]["StorageDescriptor"]
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert storage["Location"] == f"s3://{aws.bucket}/adlake/state/{source}/report_ledger/"
    types = {c["Name"]: c["Type"] for c in storage["Columns"]}
    assert types["report_id"] == "string" and types["requests"] == "bigint"
    assert types["day_rows"] == "map<string,bigint>"
    assert table["Table"].get("PartitionKeys", []) == []
