"""The base of every API emulator: a real HTTP server on loopback, routes, faults, downloads.

An emulator is a :class:`EmulatorServer` subclass that registers routes (method + path regex)
answering :class:`Reply` objects. The base adds what every test needs: a request log without
credentials, fault injection (``fail_next``), and presigned-style download URLs
(``/_download/<token>``) that expire like S3's, served in chunks so big files stay on disk.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

CHUNK = 64 * 1024
SECRET_HEADERS = frozenset(
    {"authorization", "x-amz-access-token", "cookie", "x-amz-security-token"}
)


@dataclass
class Request:
    """One request as a handler sees it: method, path, query, headers and raw body."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """The body parsed as application/x-www-form-urlencoded (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8")).items()}

    def param(self, name: str) -> str | None:
        """One query parameter (its last value), or None."""
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class Reply:
    """A response: status, headers and a body of bytes or a file streamed in chunks."""

    status: int = 200
    body: bytes | Path = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncate: bool = False


def json_reply(
    status: int,
    payload: Any,
    *,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> Reply:
    """A JSON reply with the given content type."""
    body = json.dumps(payload).encode("utf-8")
    return Reply(status, body, {"Content-Type": content_type, **(headers or {})})


class LoggedRequest(NamedTuple):
    """A request as the emulator saw it, credentials removed, for assertions."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: float | str | None
    body: Any
    path: re.Pattern[str] | None
    headers: dict[str, str]


@dataclass
class _Download:
    content: bytes | Path
    expires_at: float
    signature: str
    content_type: str


Handler = Callable[[Request, re.Match[str]], Reply]


class EmulatorServer:
    """A threaded HTTP server on 127.0.0.1 (free port) routing requests to handlers.

    Use as a context manager or call ``start()``/``stop()``. ``clock`` drives URL expiry and
    can be replaced by a test. Handlers run in server threads; shared state goes under
    ``self.lock``.
    """

    name = "emulator"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.requests: list[LoggedRequest] = []
        self.workdir = Path(tempfile.mkdtemp(prefix=f"adlake-{self.name}-"))
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[_Fault] = []
        self._downloads: dict[str, _Download] = {}
        self._truncations = 0
        self._born_expired = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.route("GET", r"/_download/(?P<token>[\w-]+)", self._serve_download)

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Answer ``method`` requests whose path fully matches ``pattern`` with ``handler``."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> EmulatorServer:
        """Start serving in a daemon thread on ``port`` (0: a free one); returns self."""
        handler = type("BoundHandler", (_HttpHandler,), {"emulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"{self.name}-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and delete the emulator's temporary files."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(
        self,
        status: int,
        count: int = 1,
        retry_after: float | str | None = None,
        body: Any = None,
        *,
        path: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``count`` requests with ``status`` instead of handling them.

        ``path`` (a regex searched in the path) limits the fault to matching requests; without
        it the fault hits any request except downloads. ``body`` defaults to the emulator's own
        error shape (:meth:`error_body`).
        """
        with self.lock:
            self._faults.append(
                _Fault(
                    status,
                    count,
                    retry_after,
                    body,
                    re.compile(path) if path else None,
                    dict(headers or {}),
                )
            )

    def truncate_next_download(self, count: int = 1) -> None:
        """Cut the next ``count`` downloads off halfway (the connection closes early)."""
        with self.lock:
            self._truncations += count

    def error_body(self, status: int, message: str) -> Any:
        """The JSON body of an error in this API's shape; emulators override it."""
        return {"code": str(status), "message": message}

    def error(self, status: int, message: str, **headers: str) -> Reply:
        """An error reply in this API's shape."""
        return json_reply(status, self.error_body(status, message), headers=headers)

    def publish(
        self, content: bytes | Path, *, ttl: float, content_type: str = "application/octet-stream"
    ) -> str:
        """A presigned-style URL serving ``content`` without credentials for ``ttl`` seconds."""
        token = uuid.uuid4().hex
        signature = hashlib.sha256(f"{token}-{time.time_ns()}".encode()).hexdigest()
        with self.lock:
            if self._born_expired > 0:
                self._born_expired -= 1
                ttl = -1
            self._downloads[token] = _Download(content, self.clock() + ttl, signature, content_type)
        return (
            f"{self.base_url}/_download/{token}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Expires={int(ttl)}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
        )

    def expire_next_urls(self, count: int = 1) -> None:
        """Make the next ``count`` download URLs already expired when handed out."""
        with self.lock:
            self._born_expired += count

    def expire_all_urls(self) -> None:
        """Make every download URL issued so far expired."""
        with self.lock:
            for download in self._downloads.values():
                download.expires_at = self.clock() - 1

    def dispatch(self, request: Request) -> Reply:
        """Log the request, apply a pending fault, else run the matching route."""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in SECRET_HEADERS}
        query = urlsplit(request.path).query
        with self.lock:
            self.requests.append(LoggedRequest(request.method, request.path, headers))
            fault = self._take_fault(request.path)
        if fault is not None:
            return self._fault_reply(fault)
        path = urlsplit(request.path).path
        request.path, request.query = path, parse_qs(query)
        allowed = []
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and method == request.method:
                return handler(request, match)
            if match:
                allowed.append(method)
        if allowed:
            return self.error(405, f"Method {request.method} not allowed on {path}")
        return self.error(404, "Not Found")

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            hit = fault.path.search(path) if fault.path else not path.startswith("/_download/")
            if hit and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_reply(self, fault: _Fault) -> Reply:
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = fault.body
        if body is None:
            body = self.error_body(fault.status, HTTPStatus(fault.status).phrase)
        if isinstance(body, bytes | str):
            raw = body.encode() if isinstance(body, str) else body
            return Reply(fault.status, raw, {"Content-Type": "text/plain", **headers})
        return json_reply(fault.status, body, headers=headers)

    def _serve_download(self, request: Request, match: re.Match[str]) -> Reply:
        with self.lock:
            download = self._downloads.get(match["token"])
            truncate = self._truncations > 0 and download is not None
            if truncate:
                self._truncations -= 1
        if request.headers.get("Authorization"):
            return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed")
        if download is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if request.param("X-Amz-Signature") != download.signature:
            return _s3_error(403, "SignatureDoesNotMatch", "The signature does not match.")
        if self.clock() >= download.expires_at:
            return _s3_error(403, "AccessDenied", "Request has expired")
        headers = {"Content-Type": download.content_type}
        return Reply(200, download.content, headers, truncate=truncate)


def _s3_error(status: int, code: str, message: str) -> Reply:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    )
    return Reply(status, body.encode(), {"Content-Type": "application/xml"})


class _HttpHandler(BaseHTTPRequestHandler):
    """Turns each HTTP request into a :class:`Request` for the bound emulator."""

    emulator: EmulatorServer
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, self.path, {}, self.headers, body)
        try:
            reply = self.emulator.dispatch(request)
        except Exception as exc:  # an emulator bug must surface as a 500, not a hang
            reply = json_reply(500, {"code": "500", "detail": f"emulator error: {exc!r}"})
        self._send(reply)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def _send(self, reply: Reply) -> None:
        body = reply.body
        size = body.stat().st_size if isinstance(body, Path) else len(body)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(size))
        if reply.truncate:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        limit = size // 2 if reply.truncate else size
        if isinstance(body, Path):
            with body.open("rb") as source:
                _copy(source, self.wfile, limit)
        else:
            self.wfile.write(body[:limit])
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""


def _copy(source: Any, target: Any, limit: int) -> None:
    remaining = limit
    while remaining > 0:
        chunk = source.read(min(CHUNK, remaining))
        if not chunk:
            break
        target.write(chunk)
        remaining -= len(chunk)
