"""Database sources through Dagster: the CDC job and sensor, the lag check, the batch job."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from adlake_tests.pull_project import PullProject, write_project
from adlake_tests.servers.fixtures import unique_name
from adlake_tests.servers.mariadb import MariaDbServer
from adlake_tests.servers.postgres import PgServer

PASSWORD = "pw-" + "9f3c1e7a"  # trust auth ignores it; it must never show up anywhere
CUSTOMERS = {
    "id": {"type": "bigint", "required": True},
    "email": {"type": "string", "pii": {"policy": "sha256", "identifier": "email"}},
    "tier": {"type": "string"},
    "points": {"type": "integer"},
}


def pg_execute(server: PgServer, database: str, *statements: str) -> None:
    connection = server.connect(database)
    connection.autocommit = True
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    connection.close()


def pg_rows(server: PgServer, database: str) -> list[tuple]:
    connection = server.connect(database)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, tier, points FROM customers ORDER BY id")
        rows = cursor.fetchall()
    connection.close()
    return rows


def catalog_rows(project: PullProject, table: str) -> list[tuple]:
    path = project.config.resolve(project.config.catalog.duckdb_path)
    with duckdb.connect(str(path)) as con:
        return con.execute(f"SELECT id, tier, points FROM {table} ORDER BY id").fetchall()


@pytest.fixture
def pg_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_server: PgServer, pg_database: str
) -> PullProject:
    """adlake.yaml with a PostgreSQL CDC source ``crm_db`` over table public.customers."""
    pg_execute(
        pg_server,
        pg_database,
        "CREATE TABLE customers (id bigint PRIMARY KEY, email text, tier text, points int)",
        "INSERT INTO customers SELECT g, 'user' || g || '@example.com', 'silver', g "
        "FROM generate_series(1, 50) g",
    )
    url = (
        f"postgresql://{pg_server.user}:{PASSWORD}@{pg_server.host}:{pg_server.port}/{pg_database}"
    )
    monkeypatch.setenv("ADLAKE_SECRET_CRM_DB", url)
    source = {
        "kind": "postgres",
        "connection": "crm_db",
        "mode": "cdc",
        "slot": unique_name("slot"),
        "interval_seconds": 30,
        "max_lag_seconds": 600,
        "max_seconds_per_run": 10,
        "tables": {
            "customers": {
                "table": "public.customers",
                "columns": CUSTOMERS,
                "primary_key": ["id"],
            }
        },
    }
    return write_project(tmp_path, monkeypatch, {"crm_db": source})


def run_job(
    project: PullProject, instance: dg.DagsterInstance, job: str
) -> dg.ExecuteInProcessResult:
    return project.defs().resolve_job_def(job).execute_in_process(instance=instance)


def test_the_cdc_job_captures_applies_and_catalogs_the_table(
    pg_project: PullProject, pg_server: PgServer, pg_database: str
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    first = run_job(pg_project, instance, "crm_db_cdc_job")
    assert first.success
    assert catalog_rows(pg_project, "crm_db.customers") == pg_rows(pg_server, pg_database)

    pg_execute(
        pg_server,
        pg_database,
        "UPDATE customers SET tier = 'gold', points = points + 100 WHERE id <= 5",
        "DELETE FROM customers WHERE id > 45",
        "INSERT INTO customers VALUES (51, 'new@example.com', 'bronze', 0)",
    )
    second = run_job(pg_project, instance, "crm_db_cdc_job")
    assert catalog_rows(pg_project, "crm_db.customers") == pg_rows(pg_server, pg_database)
    raw = second.asset_materializations_for_node("crm_db_capture")[0].metadata
    assert raw["changes"].value == 5 + 5 + 1 and raw["caught_up"].value is True
    clean = second.asset_materializations_for_node("clean__crm_db__customers")[0].metadata
    assert clean["rows"].value == 46 and clean["deletes"].value == 5
    checks = {e.check_name: e.passed for e in second.get_asset_check_evaluations()}
    assert checks == {"cdc_lag": True, "no_clear_pii": True, "all_changes_applied": True}

    with duckdb.connect(str(pg_project.config.resolve(pg_project.config.catalog.duckdb_path))) as c:
        email = c.execute("SELECT email FROM crm_db.customers WHERE id = 51").fetchone()[0]
    assert len(email) == 64 and "@" not in email  # hashed, never clear

    logs = "\n".join(
        str(record.dagster_event or record.user_message)
        for record in instance.all_logs(second.run_id)
    )
    assert PASSWORD not in logs


def test_the_lag_check_fails_when_a_micro_batch_cannot_catch_up(
    pg_project: PullProject,
    pg_server: PgServer,
    pg_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import yaml

    document = yaml.safe_load(pg_project.path.read_text())
    source = document["sources"]["crm_db"]
    source.update(max_lag_seconds=1, max_changes_per_run=10)
    pg_project = write_project(tmp_path, monkeypatch, document["sources"])
    instance = dg.DagsterInstance.ephemeral()
    assert run_job(pg_project, instance, "crm_db_cdc_job").success
    for number in range(30):  # 30 transactions: a 10-change run leaves most behind
        pg_execute(pg_server, pg_database, f"UPDATE customers SET points = {number} WHERE id = 1")
    time.sleep(2.5)
    behind = run_job(pg_project, instance, "crm_db_cdc_job")
    lag = {e.check_name: e for e in behind.get_asset_check_evaluations()}["cdc_lag"]
    assert not lag.passed
    assert lag.metadata["lag_seconds"].value >= 1 and lag.metadata["caught_up"].value is False


def test_the_sensor_asks_for_a_micro_batch_only_when_none_is_running(pg_project: PullProject):
    defs = pg_project.defs()
    sensor = defs.resolve_sensor_def("crm_db_cdc_sensor")
    assert sensor.minimum_interval_seconds == 30
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        assert isinstance(sensor(context), dg.RunRequest)
    job = defs.resolve_job_def("crm_db_cdc_job")
    run = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        skipped = sensor(context)
    assert isinstance(skipped, dg.SkipReason) and run.run_id in str(skipped.skip_message)


def test_a_batch_source_extracts_incrementally_into_the_catalog(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mariadb_server: MariaDbServer,
    mariadb_database: str,
) -> None:
    connection = mariadb_server.connect(mariadb_database, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE customers (id BIGINT PRIMARY KEY, email VARCHAR(80), tier VARCHAR(10), "
            "points INT, updated_at DATETIME(6) NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO customers VALUES (1, 'a@x.com', 'silver', 1, '2026-03-01 10:00:00'), "
            "(2, 'b@x.com', 'silver', 2, '2026-03-01 11:00:00')"
        )
    server = mariadb_server
    url = f"mysql://{server.user}:{server.password}@{server.host}:{server.port}/{mariadb_database}"
    monkeypatch.setenv("ADLAKE_SECRET_SHOP_DB", url)
    columns = {**CUSTOMERS, "updated_at": {"type": "timestamp"}}
    project = write_project(
        tmp_path,
        monkeypatch,
        {
            "shop": {
                "kind": "mysql",
                "connection": "shop_db",
                "cron": "*/15 * * * *",
                "tables": {
                    "customers": {
                        "table": f"{mariadb_database}.customers",
                        "columns": columns,
                        "primary_key": ["id"],
                        "incremental_column": "updated_at",
                        "overlap": 3600,
                    }
                },
            }
        },
    )
    defs = project.defs()
    assert defs.resolve_schedule_def("shop_extract_schedule").cron_schedule == "*/15 * * * *"
    instance = dg.DagsterInstance.ephemeral()
    assert run_job(project, instance, "shop_batch_job").success
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE customers SET tier = 'gold', updated_at = '2026-03-02 09:00:00' WHERE id = 2"
        )
        cursor.execute(
            "INSERT INTO customers VALUES (3, 'c@x.com', 'bronze', 3, '2026-03-02 10:00:00')"
        )
    connection.close()
    second = run_job(project, instance, "shop_batch_job")
    raw = second.asset_materializations_for_node("raw__shop__customers")[0].metadata
    # rows at or after the watermark (11:00) minus the 1 h overlap: 1 (re-read), 2 and 3
    assert raw["mode"].value == "incremental" and raw["rows"].value == 3
    assert catalog_rows(project, "shop.customers") == [
        (1, "silver", 1),
        (2, "gold", 2),
        (3, "bronze", 3),
    ]
