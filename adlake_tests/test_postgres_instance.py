"""The aws profile's Dagster instance: deploy/aws/dagster.yaml keeps runs, event logs and
schedules in PostgreSQL. A real PostgreSQL 15 server is started for the module and a real
materialization is run by Dagster's command line against it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from adlake.config import AdlakeConfig
from adlake.sample_data import write_sample_landing
from adlake_tests.conftest import REPO, SAMPLE_DAYS, SAMPLE_TODAY

PG_BIN = Path("/usr/local/bin")
DATABASE = "dagster"
TIMEOUT = 180


@dataclass(frozen=True)
class PgServer:
    """A running PostgreSQL server on loopback with trust authentication."""

    host: str
    port: int
    user: str

    def connect(self, database: str = "postgres") -> psycopg2.extensions.connection:
        """A new connection to ``database``."""
        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, dbname=database, connect_timeout=10
        )


def as_postgres(command: str, folder: Path) -> None:
    """Run a shell command as the ``postgres`` user (initdb refuses root); fail with its log."""
    argv = ["su", "postgres", "-c", command] if os.geteuid() == 0 else ["sh", "-c", command]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        log = folder / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
        pytest.fail(f"`{command}` failed ({done.returncode}):\n{done.stdout}{done.stderr}{tail}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PgServer]:
    """PostgreSQL 15 from /usr/local/bin in a temporary folder, stopped and removed after."""
    if not (PG_BIN / "initdb").is_file():
        pytest.skip(f"PostgreSQL 15 is not installed: {PG_BIN / 'initdb'} is missing")
    folder = Path(tempfile.mkdtemp(prefix="adlake-pg-"))
    data = folder / "data"
    started = False
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        as_postgres(
            f"{PG_BIN / 'initdb'} -D {shlex.quote(str(data))} -U postgres --auth=trust -E UTF8",
            folder,
        )
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder}"
        started = True  # from here on, stop the server whatever happens
        as_postgres(
            f"{PG_BIN / 'pg_ctl'} -D {shlex.quote(str(data))} -l {shlex.quote(str(folder / 'log'))}"
            f" -w start -o {shlex.quote(options)}",
            folder,
        )
        server = PgServer("127.0.0.1", port, "postgres")
        connection = server.connect()
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DATABASE}")
        connection.close()
        yield server
    finally:
        if started:
            subprocess.run(
                ["su", "postgres", "-c", f"{PG_BIN / 'pg_ctl'} -D {data} stop -m fast"]
                if os.geteuid() == 0
                else [str(PG_BIN / "pg_ctl"), "-D", str(data), "stop", "-m", "fast"],
                capture_output=True,
                timeout=120,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def dagster_env(postgres: PgServer, project: AdlakeConfig, tmp_path: Path) -> dict[str, str]:
    """The environment of a Dagster process on the aws instance config, with sample deliveries."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "aws" / "dagster.yaml", home / "dagster.yaml")
    write_sample_landing(project.resolve(project.lake.root), SAMPLE_TODAY)
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres.host,
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_USER": postgres.user,
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_DB": DATABASE,
    }


def test_a_materialization_is_recorded_in_postgres(
    postgres: PgServer, dagster_env: dict[str, str], tmp_path: Path
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

    with postgres.connect(DATABASE) as connection, connection.cursor() as cursor:
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
