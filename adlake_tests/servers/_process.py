"""What the test servers need: a free port, a log tail, a failure that shows it, a stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(log: Path, chars: int = 3000) -> str:
    """The last ``chars`` characters of a server log, or a note that there is none."""
    if not log.is_file():
        return f"(no log at {log})"
    return log.read_text(errors="replace")[-chars:]


def fail(what: str, log: Path, detail: str = "") -> NoReturn:
    """Fail the test (never skip) with what went wrong and the tail of the server's log."""
    pytest.fail(f"{what}\n{detail}\n--- tail of {log} ---\n{log_tail(log)}", pytrace=False)


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """Stop a process started with ``start_new_session=True`` and everything it started:
    SIGTERM to its group, SIGKILL if it is still there after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
