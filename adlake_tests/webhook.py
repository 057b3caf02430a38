"""A tiny webhook receiver on loopback: records each POST, answers with scripted statuses.

Registered as a pytest plugin in ``adlake_tests/conftest.py``: the ``webhook`` fixture is a
``ThreadingHTTPServer`` whose ``received`` lists ``(path, content type, body)`` and whose
``script`` lists the statuses of the next answers (200 once it is empty).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Hook(BaseHTTPRequestHandler):
    """Answers each POST with the next status of the server's script, recording the body."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], body))  # type: ignore[attr-defined]
        status = self.server.script.pop(0) if self.server.script else 200  # type: ignore[attr-defined]
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads what was received."""


@pytest.fixture
def webhook() -> Iterator[ThreadingHTTPServer]:
    """A tiny HTTP server on loopback; ``script`` lists the statuses of the next answers."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []  # type: ignore[attr-defined]
    server.script = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
