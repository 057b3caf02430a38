"""fsspec filesystems of the remote file sources, built from plain arguments, and their stats.

Every factory takes its secrets as values (read from a secret store by the caller) and returns a
filesystem with fsspec's instance cache and listings cache off, so a second listing sees what
changed since the first. Failures to connect or authenticate become :class:`RemoteConnectError`,
whose message names the server, what failed and the fix, and never a secret.

Paths: SFTP takes absolute paths (``/incoming/x.csv``); the object stores take ``bucket/key``
(``container/blob`` for Azure).

:func:`remote_stat` turns an entry of ``info()`` / ``find(detail=True)`` into a
:class:`RemoteStat`. What the servers return (checked against asyncssh's SFTP server, the GCS
emulator, Azurite and moto):

- sftp: ``size``; ``mtime`` (aware datetime, whole seconds); no version, no checksum.
- gcs: ``size``; ``updated`` (RFC 3339 string); ``generation`` (string); ``md5Hash`` and
  ``crc32c`` (base64 of the digest bytes).
- azure_blob: ``size``; ``last_modified`` (aware datetime); ``etag`` (quoted);
  ``content_settings.content_md5`` (bytes or bytearray, only when the writer set it).
- s3: ``size``; ``LastModified`` (aware datetime); ``ETag`` (quoted; the MD5 of the content for a
  single-part upload without SSE-KMS/SSE-C, ``<hex>-<parts>`` for a multipart one).

An S3 object encrypted with SSE-KMS or SSE-C has a single-part ETag that looks like an MD5 but is
not one, and a listing does not say how an object was encrypted: :func:`remote_stat` cannot tell
them apart. Before treating an MD5 mismatch as corruption, ask :func:`s3_etag_is_md5`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec

from adlake.connectors.errors import redact

PROTOCOLS = ("sftp", "gcs", "azure_blob", "s3")
_NO_CACHE = {"skip_instance_cache": True, "use_listings_cache": False}


class RemoteConnectError(Exception):
    """Connecting or authenticating to a remote file source failed; the message says the fix."""


def _connect_error(
    where: str, what: str, fix: str, exc: BaseException | None, secrets: Collection[str | None]
) -> RemoteConnectError:
    """A RemoteConnectError naming ``where``, ``what`` failed, the cause and ``fix``, masked."""
    known = [secret for secret in secrets if secret]
    summary = str(exc).strip().splitlines()[0][:300] if exc is not None and str(exc) else ""
    cause = f" ({type(exc).__name__}: {summary})" if summary else ""
    return RemoteConnectError(redact(f"{where}: {what}{cause}; {fix}", known))


def _cause(exc: BaseException, secrets: Collection[str | None]) -> BaseException | None:
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
            raise _connect_error(
                where,
                "authentication failed or access denied",
                "check the credentials and that they may list and read this location",
                exc,
                secrets,
            ) from _cause(exc, secrets)
        name = type(exc).__name__
        if isinstance(exc, (ConnectionError, TimeoutError)) or name in (
            "ClientConnectorError",
            "ServerDisconnectedError",
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ServiceRequestError",
            "FSTimeoutError",
        ):
            raise _connect_error(
                where,
                "could not connect",
                "check the endpoint, the network and that the server is up",
                exc,
                secrets,
            ) from _cause(exc, secrets)
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
            raise _connect_error(
                f"{where} {location}",
                "the bucket, container or folder does not exist",
                "check its name and that the credentials can see it",
                exc,
                (),
            ) from _cause(exc, ())


def sftp_filesystem(
    host: str,
    port: int,
    username: str,
    *,
    password: str | None = None,
    private_key: str | None = None,
    private_key_passphrase: str | None = None,
    known_hosts: str | None = None,
    host_key_check: bool = True,
    timeout: float = 30.0,
) -> fsspec.AbstractFileSystem:
    """A connected sshfs filesystem of ``username@host:port``, the host key verified.

    ``private_key`` is the text of an OpenSSH or PEM private key. With ``host_key_check`` (the
    default) the server's key must be in ``known_hosts`` (``~/.ssh/known_hosts`` if not given),
    or the connection stops before any credential is sent. Neither the user's ssh config, agent
    nor default keys are used: only what is passed in.
    """
    import asyncssh
    from sshfs import SSHFileSystem

    where = f"sftp {username}@{host}:{port}"
    secrets = (password, private_key, private_key_passphrase)
    options: dict[str, Any] = {
        "port": port,
        "username": username,
        "password": password,
        "client_keys": None,
        "agent_path": None,
        "config": None,
        "known_hosts": None,
        "connect_timeout": timeout,
        "timeout": timeout,
        "skip_instance_cache": True,
    }
    if private_key is not None:
        try:
            key = asyncssh.import_private_key(private_key, private_key_passphrase)
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            raise _connect_error(
                where,
                "the private key could not be read",
                "pass the whole OpenSSH/PEM key text and, if it is encrypted, its passphrase",
                exc,
                secrets,
            ) from _cause(exc, secrets)
        options["client_keys"] = [key]
    hosts_file = Path(known_hosts or Path.home() / ".ssh" / "known_hosts").expanduser()
    keyscan = f"ssh-keyscan -p {port} {host} >> {hosts_file}"
    if host_key_check:
        if not hosts_file.is_file():
            raise _connect_error(
                where,
                f"host key check is on but the known_hosts file {hosts_file} does not exist",
                f"create it with the server's key ({keyscan}) and check the fingerprint",
                None,
                secrets,
            )
        options["known_hosts"] = str(hosts_file)
    try:
        return SSHFileSystem(host, **options)
    except asyncssh.HostKeyNotVerifiable as exc:
        raise _connect_error(
            where,
            f"the server's host key is unknown or changed (not in {hosts_file})",
            f"add the server's key to {hosts_file} ({keyscan}) after checking its fingerprint",
            exc,
            secrets,
        ) from _cause(exc, secrets)
    except (PermissionError, asyncssh.PermissionDenied) as exc:
        raise _connect_error(
            where,
            f"authentication failed for user {username}",
            "check the user name, the password or private key, and the server's authorized keys",
            exc,
            secrets,
        ) from _cause(exc, secrets)
    except (OSError, TimeoutError, asyncssh.Error) as exc:
        raise _connect_error(
            where, "could not connect", "check the host, the port and the network", exc, secrets
        ) from _cause(exc, secrets)
    except Exception as exc:
        if type(exc).__name__ == "FSTimeoutError":
            raise _connect_error(
                where,
                f"no answer within {timeout:g} s",
                "check the host, the port and the network",
                exc,
                secrets,
            ) from _cause(exc, secrets)
        raise


def gcs_filesystem(
    *,
    project: str | None = None,
    credentials_json: str | None = None,
    endpoint_url: str | None = None,
) -> fsspec.AbstractFileSystem:
    """A gcsfs filesystem; ``credentials_json`` is service-account JSON text, None = anonymous.

    Uses ``gcsfs.core.GCSFileSystem``: the default class of gcsfs 2026.10
    (``ExtendedGcsFileSystem``) probes a gRPC API first and stalls about a minute against
    emulators and GCS-compatible endpoints. ``endpoint_url`` points at such an endpoint.
    """
    from gcsfs.core import GCSFileSystem

    where = f"gcs {endpoint_url or 'storage.googleapis.com'}"
    token: Any = "anon"
    if credentials_json is not None:
        token = _json_object(credentials_json)
        if token is None:
            # raised outside the except block: the decode error holds the whole text
            raise _connect_error(
                where,
                "the service-account credentials are not a JSON object",
                "pass the whole key file's text as downloaded from Google Cloud",
                None,
                (credentials_json,),
            )
    try:
        return GCSFileSystem(
            project=project or "", token=token, endpoint_url=endpoint_url, **_NO_CACHE
        )
    except Exception as exc:
        raise _connect_error(
            where,
            "the client could not be created",
            "check the service-account JSON and the endpoint",
            exc,
            (credentials_json,),
        ) from _cause(exc, (credentials_json,))


def _json_object(text: str) -> dict[str, Any] | None:
    """``text`` parsed as a JSON object, or None if it is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def azure_blob_filesystem(
    account_name: str,
    *,
    account_key: str | None = None,
    connection_string: str | None = None,
    sas_token: str | None = None,
    endpoint_url: str | None = None,
) -> fsspec.AbstractFileSystem:
    """An adlfs filesystem of one storage account, by key, connection string or SAS token.

    ``endpoint_url`` (``http://host:port/account`` for Azurite) replaces
    ``https://<account>.blob.core.windows.net``. With no credential at all the account is read
    anonymously (public containers). The client is always built from a connection string (the
    given one, or one made of these arguments), so adlfs's fallbacks to ``AZURE_STORAGE_*``
    environment variables and Azure AD never replace the credential the caller chose.
    """
    from adlfs import AzureBlobFileSystem

    where = f"azure_blob {endpoint_url or account_name}"
    secrets = (account_key, connection_string, sas_token)
    if connection_string is None:
        connection_string = _azure_connection_string(
            account_name, endpoint_url, account_key, sas_token
        )
    try:
        return AzureBlobFileSystem(
            account_name=account_name, connection_string=connection_string, **_NO_CACHE
        )
    except Exception as exc:
        raise _connect_error(
            where,
            "the client could not be created",
            "check the account name, the connection string or key, and the endpoint",
            exc,
            secrets,
        ) from _cause(exc, secrets)


def _azure_connection_string(
    account_name: str, endpoint_url: str | None, account_key: str | None, sas_token: str | None
) -> str:
    """The connection string of one account's blob endpoint and at most one credential."""
    endpoint = (endpoint_url or f"https://{account_name}.blob.core.windows.net").rstrip("/")
    parts = [f"BlobEndpoint={endpoint}"]
    if account_key is not None:
        scheme = endpoint.split("://", 1)[0] if "://" in endpoint else "https"
        parts += [
            f"DefaultEndpointsProtocol={scheme}",
            f"AccountName={account_name}",
            f"AccountKey={account_key}",
        ]
    elif sas_token is not None:
        parts.append(f"SharedAccessSignature={sas_token.lstrip('?')}")
    return ";".join(parts) + ";"


def s3_compatible_filesystem(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> fsspec.AbstractFileSystem:
    """An s3fs filesystem of AWS S3 or an S3-compatible store (MinIO, R2, Wasabi, moto).

    Without keys the default AWS credential chain of the process is used (a role, a profile).
    """
    from s3fs import S3FileSystem

    where = f"s3 {endpoint_url or 'aws'}"
    client_kwargs = {"region_name": region} if region else {}
    try:
        return S3FileSystem(
            endpoint_url=endpoint_url,
            key=access_key_id,
            secret=secret_access_key,
            client_kwargs=client_kwargs,
            **_NO_CACHE,
        )
    except Exception as exc:
        raise _connect_error(
            where,
            "the client could not be created",
            "check the endpoint, region and keys",
            exc,
            (secret_access_key,),
        ) from _cause(exc, (secret_access_key,))


@dataclass(frozen=True)
class RemoteStat:
    """What a listing says of one remote file, the same for every backend.

    ``version`` changes whenever the content changes (S3 ETag, GCS generation, Azure etag; None
    for SFTP). ``checksum`` is ``("md5", hex)`` where the store offers the MD5 of the content,
    ``("crc32c", hex)`` for GCS without one, None otherwise (SFTP, multipart ETags).
    """

    path: str
    size: int
    mtime_ns: int
    version: str | None
    checksum: tuple[str, str] | None


def remote_stat(protocol: str, info: dict[str, Any]) -> RemoteStat:
    """The :class:`RemoteStat` of an fsspec ``info()`` entry of ``protocol`` (see module doc)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    path = str(info["name"])
    size = int(info.get("size") or 0)
    if protocol == "sftp":
        return RemoteStat(path, size, _ns(info.get("mtime")), None, None)
    if protocol == "gcs":
        checksum = None
        if info.get("md5Hash"):
            checksum = ("md5", _b64_hex(info["md5Hash"]))
        elif info.get("crc32c"):
            checksum = ("crc32c", _b64_hex(info["crc32c"]))
        generation = info.get("generation")
        version = str(generation) if generation not in (None, "") else None
        return RemoteStat(
            path, size, _ns(info.get("updated") or info.get("mtime")), version, checksum
        )
    if protocol == "azure_blob":
        md5 = (info.get("content_settings") or {}).get("content_md5")
        checksum = ("md5", bytes(md5).hex()) if md5 else None
        etag = info.get("etag")
        return RemoteStat(
            path, size, _ns(info.get("last_modified")), etag.strip('"') if etag else None, checksum
        )
    etag = (info.get("ETag") or info.get("etag") or "").strip('"')
    checksum = ("md5", etag.lower()) if _is_hex_md5(etag) else None
    return RemoteStat(path, size, _ns(info.get("LastModified")), etag or None, checksum)


def s3_etag_is_md5(fs: fsspec.AbstractFileSystem, path: str) -> bool:
    """Whether the S3 object's ETag is the MD5 of its content (one HEAD request).

    False for multipart uploads and for SSE-KMS / SSE-C objects, whose ETag is opaque; SSE-S3
    and unencrypted single-part objects have an MD5 ETag.
    """
    bucket, key, _ = fs.split_path(path)
    head = fs.call_s3("head_object", Bucket=bucket, Key=key)
    etag = head.get("ETag", "").strip('"')
    encryption = head.get("ServerSideEncryption", "")
    customer_key = head.get("SSECustomerAlgorithm")
    return _is_hex_md5(etag) and not encryption.startswith("aws:kms") and not customer_key


def _is_hex_md5(text: str) -> bool:
    """Whether ``text`` is 32 hex digits (not a multipart ``<hex>-<n>`` ETag)."""
    return len(text) == 32 and all(char in "0123456789abcdefABCDEF" for char in text)


def _b64_hex(value: str) -> str:
    """The hex form of a base64 digest, as GCS gives md5Hash and crc32c."""
    try:
        return base64.b64decode(value, validate=True).hex()
    except binascii.Error as exc:
        raise ValueError(f"digest {value!r} is not base64") from exc


def _ns(value: Any) -> int:
    """Nanoseconds since the epoch of a datetime, an RFC 3339 string or seconds."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000
    if isinstance(value, (int, float)):
        return int(value * 1_000_000_000)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
