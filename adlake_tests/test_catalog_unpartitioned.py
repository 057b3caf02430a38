"""Unpartitioned clean datasets (one current-state Parquet file) in the DuckDB and Glue catalogs."""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adlake.catalog.duckdb_catalog import DuckDBCatalog
from adlake.catalog.glue_catalog import GlueCatalog, GlueCatalogError
from adlake.catalog.glue_schema import PARQUET_SERDE, PII_PARAMETER
from adlake.catalog.table import CatalogTable
from adlake_tests.conftest import AwsTestAccount

COLUMNS = (("customer_id", "BIGINT"), ("email", "VARCHAR"), ("balance", "DECIMAL(12,2)"))
EMAIL_NOTE = "PII: sha256 of normalized email"


@pytest.fixture
def source() -> str:
    """A source name of its own: moto keeps Glue state for the whole session."""
    return f"src_{uuid.uuid4().hex[:8]}"


def customers(location: str, source: str = "src", columns=COLUMNS) -> CatalogTable:
    """The unpartitioned clean dataset ``<source>.customers`` copied from a database."""
    return CatalogTable(
        source=source,
        dataset="customers",
        description="customers, current state",
        location=location,
        columns=columns,
        partitions=(),
        column_notes={"email": EMAIL_NOTE},
        partitioned=False,
    )


def write_customers(path: Path, rows: list[tuple[int, str]]) -> None:
    """The clean file of ``customers``: one Parquet file, replaced as a whole on every copy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "customer_id": pa.array([r[0] for r in rows], pa.int64()),
            "email": pa.array([r[1] for r in rows], pa.string()),
        }
    )
    pq.write_table(table, path)


def test_catalog_table_unpartitioned_is_one_file_and_refuses_days() -> None:
    table = customers("/lake/clean/src/customers")
    assert table.file_location == "/lake/clean/src/customers/data.parquet"
    with pytest.raises(ValueError, match="no dt=2026-03-07"):
        table.partition_location("2026-03-07")
    with pytest.raises(ValueError, match="unpartitioned"):
        CatalogTable("src", "customers", "d", "/x", COLUMNS, ("2026-03-07",), partitioned=False)


def test_duckdb_view_reads_the_single_file_without_dt(tmp_path: Path) -> None:
    folder = tmp_path / "clean" / "src" / "ds"
    write_customers(folder / "data.parquet", [(1, "a@x"), (2, "b@x"), (3, "c@x")])
    path = tmp_path / "catalog.duckdb"

    registration = DuckDBCatalog(path).register(customers(str(folder)))

    assert registration.table == "src.customers"
    assert registration.location == f"{folder}/data.parquet"
    assert registration.partitions == []
    assert registration.rows_in_partitions == 3
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute('SELECT * FROM "src"."customers" ORDER BY customer_id').fetchall()
        names = [d[0] for d in con.description]
        assert rows == [(1, "a@x"), (2, "b@x"), (3, "c@x")]
        assert names == ["customer_id", "email"]
        assert "dt" not in names


def test_duckdb_reregistering_after_replacing_the_file_shows_new_content(tmp_path: Path) -> None:
    folder = tmp_path / "clean" / "src" / "ds"
    write_customers(folder / "data.parquet", [(1, "a@x"), (2, "b@x")])
    catalog = DuckDBCatalog(tmp_path / "catalog.duckdb")
    catalog.register(customers(str(folder)))

    write_customers(folder / "data.parquet", [(7, "z@x")])
    registration = catalog.register(customers(str(folder)))

    assert registration.rows_in_partitions == 1
    with duckdb.connect(catalog.path, read_only=True) as con:
        assert con.execute('SELECT * FROM "src"."customers"').fetchall() == [(7, "z@x")]


def test_duckdb_unpartitioned_view_has_its_comments(tmp_path: Path) -> None:
    folder = tmp_path / "clean" / "src" / "ds"
    write_customers(folder / "data.parquet", [(1, "a@x")])
    catalog = DuckDBCatalog(tmp_path / "catalog.duckdb")

    catalog.register(customers(str(folder)))

    with duckdb.connect(catalog.path, read_only=True) as con:
        view = con.execute(
            "SELECT comment FROM duckdb_views() WHERE schema_name = 'src' "
            "AND view_name = 'customers'"
        ).fetchone()
        notes = dict(
            con.execute(
                "SELECT column_name, comment FROM duckdb_columns() "
                "WHERE schema_name = 'src' AND table_name = 'customers'"
            ).fetchall()
        )
    assert view == ("customers, current state",)
    assert notes == {"customer_id": None, "email": EMAIL_NOTE}


def glue_customers(aws: AwsTestAccount, source: str, columns=COLUMNS) -> CatalogTable:
    """``customers`` as the catalog asset describes it on S3."""
    return customers(f"s3://{aws.bucket}/adlake/clean/{source}/customers", source, columns)


def glue_catalog(aws: AwsTestAccount) -> GlueCatalog:
    """A Glue catalog on the moto server, databases named ``adlake_<source>``."""
    return GlueCatalog(aws.region, aws.endpoint_url, "adlake_")


def test_glue_unpartitioned_table_has_no_partition_keys_and_no_partitions(
    aws: AwsTestAccount, source: str
) -> None:
    table = glue_customers(aws, source)

    registration = glue_catalog(aws).register(table)

    database = f"adlake_{source}"
    glue = aws.client("glue")
    found = glue.get_table(DatabaseName=database, Name="customers")["Table"]
    assert found.get("PartitionKeys", []) == []
    assert found["Parameters"]["classification"] == "parquet"
    assert found["Parameters"][PII_PARAMETER] == "email"
    storage = found["StorageDescriptor"]
    assert storage["Location"] == f"s3://{aws.bucket}/adlake/clean/{source}/customers/"
    assert storage["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert storage["InputFormat"].endswith("MapredParquetInputFormat")
    assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == [
        ("customer_id", "bigint"),
        ("email", "string"),
        ("balance", "decimal(12,2)"),
    ]
    assert glue.get_partitions(DatabaseName=database, TableName="customers")["Partitions"] == []
    assert registration.table == f"{database}.customers"
    assert registration.location == storage["Location"]
    assert registration.partitions == []
    assert registration.rows_in_partitions is None


def test_glue_registering_unpartitioned_twice_changes_nothing(
    aws: AwsTestAccount, source: str
) -> None:
    table = glue_customers(aws, source)
    first = glue_catalog(aws).register(table)
    second = glue_catalog(aws).register(table)

    assert first == second
    versions = aws.client("glue").get_table_versions(
        DatabaseName=f"adlake_{source}", TableName="customers"
    )
    assert len(versions["TableVersions"]) == 1


def test_glue_unpartitioned_schema_change_updates_the_table(
    aws: AwsTestAccount, source: str
) -> None:
    glue_catalog(aws).register(glue_customers(aws, source))
    grown = (*COLUMNS, ("active", "BOOLEAN"))

    glue_catalog(aws).register(glue_customers(aws, source, columns=grown))

    found = aws.client("glue").get_table(DatabaseName=f"adlake_{source}", Name="customers")
    assert found["Table"]["StorageDescriptor"]["Columns"][-1] == {
        "Name": "active",
        "Type": "boolean",
    }
    assert found["Table"].get("PartitionKeys", []) == []


def test_glue_unpartitioned_over_a_partitioned_table_is_refused(
    aws: AwsTestAccount, source: str
) -> None:
    unpartitioned = glue_customers(aws, source)
    partitioned = CatalogTable(
        source=source,
        dataset="customers",
        description="customers, daily",
        location=unpartitioned.location,
        columns=COLUMNS,
        partitions=("2026-03-07",),
    )
    glue_catalog(aws).register(partitioned)

    with pytest.raises(GlueCatalogError) as raised:
        glue_catalog(aws).register(unpartitioned)

    message = str(raised.value)
    assert f"adlake_{source}.customers exists with partition keys [('dt', 'date')]" in message
    assert "registers it with none" in message
    assert f"aws glue delete-table --database-name adlake_{source} --name customers" in message
    table = aws.client("glue").get_table(DatabaseName=f"adlake_{source}", Name="customers")
    assert [k["Name"] for k in table["Table"]["PartitionKeys"]] == ["dt"]  # left as it was


def test_glue_partitioned_over_an_unpartitioned_table_is_refused(
    aws: AwsTestAccount, source: str
) -> None:
    unpartitioned = glue_customers(aws, source)
    glue_catalog(aws).register(unpartitioned)
    partitioned = CatalogTable(
        source=source,
        dataset="customers",
        description="customers, daily",
        location=unpartitioned.location,
        columns=COLUMNS,
        partitions=("2026-03-07",),
    )

    with pytest.raises(GlueCatalogError, match=r"exists with partition keys \[\], but adlake"):
        glue_catalog(aws).register(partitioned)
