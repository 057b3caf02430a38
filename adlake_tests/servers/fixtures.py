"""pytest fixtures of the real database servers; registered in ``adlake_tests/conftest.py``.

- ``pg_server`` (session): a :class:`PgServer` — ``host``, ``port``, ``user``, ``dsn(db)``,
  ``connect(db)``; ``wal_level=logical``, 20 replication slots and WAL senders.
- ``pg_database`` (test): the name of a fresh, empty database on it, dropped afterwards together
  with any replication slot left in it.
- ``mariadb_server`` (session): a :class:`MariaDbServer` — ``host``, ``port``, ``user`` (root),
  ``password`` (empty), ``connect(database=None)``; ROW binlog with full images and metadata.
- ``mariadb_database`` (test): the name of a fresh, empty database on it, dropped afterwards.
- ``sftp_server`` (test): an :class:`SftpServer` (asyncssh, in-process) serving a fresh folder
  under ``tmp_path`` as ``/``; one per test because it starts in milliseconds and a test then
  owns its root, its host key and its record of login attempts (``auth_attempts``).
- ``gcs_server`` (session): a :class:`GcsServer` — gcp-storage-emulator in memory
  (``endpoint_url``, ``project``); tests make their own uniquely named buckets.
- ``azurite_server`` (session): an :class:`AzuriteServer` — Azurite's blob service (npm,
  installed into ``~/.cache/adlake-azurite`` on first use); tests make their own containers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from adlake_tests.servers.azurite import AzuriteServer, running_azurite
from adlake_tests.servers.gcs import GcsServer, running_gcs
from adlake_tests.servers.mariadb import MariaDbServer, running_mariadb
from adlake_tests.servers.postgres import PgServer, running_postgres
from adlake_tests.servers.sftp import SftpServer, running_sftp


def unique_name(prefix: str) -> str:
    """A database name no other test uses: lower case, safe unquoted on both engines."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """PostgreSQL 15 on loopback for the whole session, ready for logical replication."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[str]:
    """A fresh database on ``pg_server`` for one test; its name is yielded."""
    name = unique_name("test")
    admin = pg_server.connect()
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                "WHERE database = %s AND active_pid IS NOT NULL",
                (name,),
            )
            cursor.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE database = %s AND NOT active",
                (name,),
            )
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDbServer]:
    """MariaDB on loopback for the whole session with a ROW binlog; installed if missing."""
    with running_mariadb() as server:
        yield server


@pytest.fixture
def mariadb_database(mariadb_server: MariaDbServer) -> Iterator[str]:
    """A fresh database on ``mariadb_server`` for one test; its name is yielded."""
    name = unique_name("test")
    admin = mariadb_server.connect(autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        yield name
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.close()


@pytest.fixture
def sftp_server(tmp_path: Path) -> Iterator[SftpServer]:
    """An SFTP server of this test only, serving ``tmp_path / "sftp-root"`` as ``/``."""
    with running_sftp(tmp_path / "sftp-root") as server:
        yield server


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsServer]:
    """The GCS emulator on loopback for the whole session."""
    with running_gcs() as server:
        yield server


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[AzuriteServer]:
    """Azurite's blob service on loopback for the whole session; installed if missing."""
    with running_azurite() as server:
        yield server
