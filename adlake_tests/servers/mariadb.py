"""A real MariaDB server with a row-based binary log, installed from Debian when missing.

CI runs on a fresh Debian machine as root: there the server is installed with apt on first use.
If it is missing and cannot be installed, tests fail (never skip) with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pymysql.connections

from adlake_tests.servers._process import fail, free_port

SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin"])
START_TIMEOUT = 60
INSTALL_TIMEOUT = 900


@dataclass(frozen=True)
class MariaDbServer:
    """A running MariaDB server on loopback; ``root`` connects with an empty password."""

    host: str
    port: int
    user: str
    password: str
    folder: Path

    def connect(
        self, database: str | None = None, **kwargs: object
    ) -> pymysql.connections.Connection:
        """A new PyMySQL connection (autocommit off, as PyMySQL's default) to ``database``."""
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            connect_timeout=10,
            **kwargs,
        )

    @property
    def log(self) -> Path:
        """The server's error log."""
        return self.folder / "err"


def _which(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def _ensure_installed(log: Path) -> tuple[str, str]:
    """Paths of ``mariadbd`` and ``mariadb-install-db``, installing mariadb-server as root."""
    if not (_which("mariadbd") and _which("mariadb-install-db")):
        if os.geteuid() != 0:
            fail(
                "MariaDB is not installed and we are not root: apt-get install mariadb-server", log
            )
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        lock = ["-o", "DPkg::Lock::Timeout=600"]
        for argv in (
            ["apt-get", *lock, "update"],
            ["apt-get", *lock, "install", "-y", "--no-install-recommends", "mariadb-server"],
        ):
            done = subprocess.run(
                argv,
                env=environment,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
            if done.returncode != 0:
                fail(f"cannot install MariaDB: `{' '.join(argv)}` failed", log, done.stderr[-3000:])
    server, install_db = _which("mariadbd"), _which("mariadb-install-db")
    if not (server and install_db):
        fail("mariadb-server is installed but mariadbd or mariadb-install-db is missing", log)
    return server, install_db


def _wait_until_ready(server: MariaDbServer, process: subprocess.Popen[bytes]) -> None:
    """Return once ``server`` accepts a connection; fail if it exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            fail(f"mariadbd exited with {process.returncode} while starting", server.log)
        try:
            server.connect().close()
            return
        except pymysql.err.OperationalError as error:
            if time.monotonic() > deadline:
                fail(
                    f"MariaDB on port {server.port} not ready after {START_TIMEOUT} s",
                    server.log,
                    str(error),
                )
            time.sleep(0.1)


@contextmanager
def running_mariadb() -> Iterator[MariaDbServer]:
    """Start MariaDB with a ROW binlog (full images and metadata) in a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="adlake-mariadb-"))
    data, log = folder / "data", folder / "err"
    process: subprocess.Popen[bytes] | None = None
    try:
        mariadbd, install_db = _ensure_installed(log)
        user = ["--user=mysql"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(folder, "mysql", "mysql")
        done = subprocess.run(
            [install_db, *user, f"--datadir={data}", "--auth-root-authentication-method=normal"]
            + ["--skip-test-db", "--skip-name-resolve"],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            fail("mariadb-install-db failed", log, done.stdout[-2000:] + done.stderr[-2000:])
        port = free_port()
        process = subprocess.Popen(
            [mariadbd, "--no-defaults", *user, f"--datadir={data}", "--bind-address=127.0.0.1"]
            + [f"--port={port}", f"--socket={folder / 'sock'}", f"--pid-file={folder / 'pid'}"]
            + ["--log-bin=mysql-bin", "--server-id=1", "--binlog-format=ROW"]
            + ["--binlog-row-image=FULL", "--binlog-row-metadata=FULL", f"--log-error={log}"]
            + [
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M",
                "--innodb-flush-log-at-trx-commit=2",
            ]
            + ["--innodb-doublewrite=0", "--sync-binlog=0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = MariaDbServer("127.0.0.1", port, "root", "", folder)
        _wait_until_ready(server, process)
        yield server
    finally:
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM is mariadbd's clean shutdown
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
