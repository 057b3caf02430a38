"""A real PostgreSQL 15 server from /usr/local/bin, ready for logical replication.

``initdb`` refuses to run as root, so as root every server command runs as user ``postgres``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extensions

from adlake_tests.servers._process import fail, free_port

PG_BIN = Path("/usr/local/bin")
TIMEOUT = 120


@dataclass(frozen=True)
class PgServer:
    """A running PostgreSQL server on loopback with trust authentication (no password)."""

    host: str
    port: int
    user: str
    folder: Path

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URI of ``database`` (psycopg2, ADBC and psql all accept it)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def connect(
        self, database: str = "postgres", **kwargs: object
    ) -> psycopg2.extensions.connection:
        """A new psycopg2 connection to ``database``; ``kwargs`` go to ``psycopg2.connect``."""
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=database,
            connect_timeout=10,
            **kwargs,
        )

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.folder / "log"


def _as_postgres(command: str, log: Path) -> None:
    """Run a shell command as ``postgres`` when we are root; fail with the log if it fails."""
    argv = ["su", "postgres", "-c", command] if os.geteuid() == 0 else ["sh", "-c", command]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        fail(f"`{command}` failed ({done.returncode})", log, done.stdout + done.stderr)


@contextmanager
def running_postgres() -> Iterator[PgServer]:
    """Start PostgreSQL 15 in a temporary folder with ``wal_level=logical``; stop and remove it."""
    if not (PG_BIN / "initdb").is_file():
        fail(
            f"PostgreSQL 15 is not installed: {PG_BIN / 'initdb'} is missing", Path("/nonexistent")
        )
    folder = Path(tempfile.mkdtemp(prefix="adlake-pg-"))
    data, log = folder / "data", folder / "log"
    started = False
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        _as_postgres(
            f"{PG_BIN / 'initdb'} -D {shlex.quote(str(data))} -U postgres --auth=trust -E UTF8"
            f" --no-sync > {shlex.quote(str(folder / 'initdb.log'))} 2>&1",
            folder / "initdb.log",
        )
        port = free_port()
        options = " ".join(
            [
                f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder}",
                "-c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20",
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            ]
        )
        started = True  # from here on, stop the server whatever happens
        _as_postgres(
            f"{PG_BIN / 'pg_ctl'} -D {shlex.quote(str(data))} -l {shlex.quote(str(log))}"
            f" -w -t {TIMEOUT} start -o {shlex.quote(options)}",
            log,
        )
        server = PgServer("127.0.0.1", port, "postgres", folder)
        try:
            server.connect().close()
        except psycopg2.Error as error:
            fail(f"PostgreSQL on port {port} accepts no connection: {error}", log)
        yield server
    finally:
        if started:
            stop = f"{PG_BIN / 'pg_ctl'} -D {shlex.quote(str(data))} -w stop -m fast"
            subprocess.run(
                ["su", "postgres", "-c", stop] if os.geteuid() == 0 else ["sh", "-c", stop],
                capture_output=True,
                timeout=TIMEOUT,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)
