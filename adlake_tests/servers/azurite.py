"""Azurite's blob service for tests: npm's ``azurite@3`` as a subprocess on a free loopback port.

Installed on first use into ``~/.cache/adlake-azurite`` (about 20 s from the npm registry), then
started from a temporary folder and stopped afterwards. It serves the well-known development
account ``devstoreaccount1``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from adlake_tests.servers._process import fail, free_port

INSTALL_DIR = Path.home() / ".cache" / "adlake-azurite"
ACCOUNT_NAME = "devstoreaccount1"
# Azurite's documented development key: public, not a secret
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class AzuriteServer:
    """How to reach Azurite's blob service with the development account."""

    account_name: str
    account_key: str
    endpoint_url: str
    connection_string: str


def _azurite_blob(log: Path) -> Path:
    """The ``azurite-blob`` executable, installed with npm if it is missing."""
    executable = INSTALL_DIR / "node_modules" / ".bin" / "azurite-blob"
    if executable.is_file():
        return executable
    npm = shutil.which("npm")
    if npm is None:
        fail("cannot install Azurite: npm is not on PATH (install Node.js 20)", log)
    argv = [npm, "install", "--prefix", str(INSTALL_DIR), "azurite@3"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0 or not executable.is_file():
        fail(f"cannot install Azurite: `{' '.join(argv)}` failed", log, done.stderr[-3000:])
    return executable


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once the blob port accepts connections; fail if Azurite exits or stays silent."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            fail(f"azurite-blob exited with {process.returncode} while starting", log)
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    fail(f"azurite-blob did not listen on 127.0.0.1:{port} within 30 s", log)


@contextmanager
def running_azurite() -> Iterator[AzuriteServer]:
    """Azurite's blob service for the duration of the block, its data in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="adlake-azurite-") as work:
        log = Path(work) / "azurite.log"
        executable = _azurite_blob(log)
        port = free_port()
        endpoint_url = f"http://127.0.0.1:{port}/{ACCOUNT_NAME}"
        argv = [
            str(executable),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(Path(work) / "data"),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
        ]
        with log.open("wb") as output:
            process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_until_listening(port, process, log)
            yield AzuriteServer(
                account_name=ACCOUNT_NAME,
                account_key=ACCOUNT_KEY,
                endpoint_url=endpoint_url,
                connection_string=(
                    f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};"
                    f"AccountKey={ACCOUNT_KEY};BlobEndpoint={endpoint_url};"
                ),
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
