"""The aws profile's Dagster instance: deploy/aws/dagster.yaml keeps runs, event logs and
schedules in PostgreSQL. The session's real PostgreSQL 15 server (``pg_server``) gets a fresh
database and a real materialization is run by Dagster's command line against it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adlake.config import AdlakeConfig
from adlake.sample_data import write_sample_landing
from adlake_tests.conftest import REPO, SAMPLE_DAYS, SAMPLE_TODAY
from adlake_tests.servers import PgServer

TIMEOUT = 180


@pytest.fixture
def dagster_env(
    pg_server: PgServer, pg_database: str, project: AdlakeConfig, tmp_path: Path
) -> dict[str, str]:
    """The environment of a Dagster process on the aws instance config, with sample deliveries."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "aws" / "dagster.yaml", home / "dagster.yaml")
    write_sample_landing(project.resolve(project.lake.root), SAMPLE_TODAY)
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": pg_server.host,
        "DAGSTER_PG_PORT": str(pg_server.port),
        "DAGSTER_PG_USER": pg_server.user,
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_DB": pg_database,
    }


def test_a_materialization_is_recorded_in_postgres(
    pg_server: PgServer, pg_database: str, dagster_env: dict[str, str], tmp_path: Path
) -> None:
    day = SAMPLE_DAYS[-1]
    asset = "raw/retail_partner/pos_transactions"
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "adlake.definitions"]
        + ["--select", asset, "--partition", day],
        cwd=tmp_path,
        env=dagster_env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    with pg_server.connect(pg_database) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT run_id, status FROM runs")
        ((run_id, status),) = cursor.fetchall()
        assert status == "SUCCESS"
        cursor.execute(
            "SELECT asset_key, partition FROM event_logs "
            "WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (run_id,),
        )
        ((asset_key, partition),) = cursor.fetchall()
        assert json.loads(asset_key) == asset.split("/")
        assert partition == day
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        tables = {name for (name,) in cursor.fetchall()}
    connection.close()
    # run, event log and schedule storage all live in this database
    assert {"runs", "event_logs", "instigators", "job_ticks"} <= tables
