"""Failures to reach or authenticate to a remote file source, as :class:`RemoteConnectError`.

Its message names the server, what failed and the fix, and never a secret: the text is masked,
and an exception whose text holds a secret is not chained. The object-store factories of
:mod:`~adlake.connectors.files.backends` do not connect; wrap the first call against such a
store in :func:`remote_errors`, or call :func:`check_access`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator

import fsspec

from adlake.connectors.errors import redact


class RemoteConnectError(Exception):
    """Connecting or authenticating to a remote file source failed; the message says the fix."""


def connect_error(
    where: str, what: str, fix: str, exc: BaseException | None, secrets: Collection[str | None]
) -> RemoteConnectError:
    """A RemoteConnectError naming ``where``, ``what`` failed, the cause and ``fix``, masked."""
    known = [secret for secret in secrets if secret]
    summary = str(exc).strip().splitlines()[0][:300] if exc is not None and str(exc) else ""
    cause = f" ({type(exc).__name__}: {summary})" if summary else ""
    return RemoteConnectError(redact(f"{where}: {what}{cause}; {fix}", known))


def safe_cause(exc: BaseException, secrets: Collection[str | None]) -> BaseException | None:
    """``exc`` to chain, or None (hiding it from tracebacks) when its text holds a secret."""
    text = repr(exc) + str(exc)
    return None if any(secret and secret in text for secret in secrets) else exc


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of a client exception of botocore, gcsfs or azure-core, if it has one."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        if candidate is None:
            continue
        status = getattr(candidate, "status_code", None) or getattr(candidate, "code", None)
        if isinstance(status, int):
            return status
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if isinstance(status, int):
                return status
    return None


@contextlib.contextmanager
def remote_errors(where: str, secrets: Collection[str | None] = ()) -> Iterator[None]:
    """Turn a failure to reach or authenticate to ``where`` into a RemoteConnectError.

    Wrap the first call a caller makes against an object store (whose factories do not connect)
    in it, or use :func:`check_access`. Other errors (a missing key, say) pass unchanged.
    """
    try:
        yield
    except RemoteConnectError:
        raise
    except Exception as exc:
        status = _http_status(exc)
        if isinstance(exc, PermissionError) or status in (401, 403):
            raise connect_error(
                where,
                "authentication failed or access denied",
                "check the credentials and that they may list and read this location",
                exc,
                secrets,
            ) from safe_cause(exc, secrets)
        name = type(exc).__name__
        if isinstance(exc, (ConnectionError, TimeoutError)) or name in (
            "ClientConnectorError",
            "ServerDisconnectedError",
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ServiceRequestError",
            "FSTimeoutError",
        ):
            raise connect_error(
                where,
                "could not connect",
                "check the endpoint, the network and that the server is up",
                exc,
                secrets,
            ) from safe_cause(exc, secrets)
        raise


def check_access(fs: fsspec.AbstractFileSystem, location: str, where: str = "") -> None:
    """List ``location`` (a bucket, container or folder) once, raising RemoteConnectError.

    A missing bucket or folder is reported as such, so a misspelt name fails before any work.
    """
    where = where or f"{fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]}"
    with remote_errors(f"{where} {location}"):
        try:
            fs.ls(location, detail=False)
        except FileNotFoundError as exc:
            raise connect_error(
                f"{where} {location}",
                "the bucket, container or folder does not exist",
                "check its name and that the credentials can see it",
                exc,
                (),
            ) from safe_cause(exc, ())
