"""fsspec filesystems of the remote file sources, built from plain arguments.

Every factory takes its secrets as values (read from a secret store by the caller) and returns a
filesystem with fsspec's instance cache and listings cache off, so a second listing sees what
changed since the first. Failures to connect or authenticate become
:class:`~adlake.connectors.files.errors.RemoteConnectError`, whose message names the server,
what failed and the fix, and never a secret.

Paths: SFTP takes absolute paths (``/incoming/x.csv``); the object stores take ``bucket/key``
(``container/blob`` for Azure). What their listings say of a file is read by
:mod:`~adlake.connectors.files.stats`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fsspec

from adlake.connectors.files.errors import connect_error, safe_cause

_NO_CACHE = {"skip_instance_cache": True, "use_listings_cache": False}


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
            raise connect_error(
                where,
                "the private key could not be read",
                "pass the whole OpenSSH/PEM key text and, if it is encrypted, its passphrase",
                exc,
                secrets,
            ) from safe_cause(exc, secrets)
        options["client_keys"] = [key]
    hosts_file = Path(known_hosts or Path.home() / ".ssh" / "known_hosts").expanduser()
    keyscan = f"ssh-keyscan -p {port} {host} >> {hosts_file}"
    if host_key_check:
        if not hosts_file.is_file():
            raise connect_error(
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
        raise connect_error(
            where,
            f"the server's host key is unknown or changed (not in {hosts_file})",
            f"add the server's key to {hosts_file} ({keyscan}) after checking its fingerprint",
            exc,
            secrets,
        ) from safe_cause(exc, secrets)
    except (PermissionError, asyncssh.PermissionDenied) as exc:
        raise connect_error(
            where,
            f"authentication failed for user {username}",
            "check the user name, the password or private key, and the server's authorized keys",
            exc,
            secrets,
        ) from safe_cause(exc, secrets)
    except (OSError, TimeoutError, asyncssh.Error) as exc:
        raise connect_error(
            where, "could not connect", "check the host, the port and the network", exc, secrets
        ) from safe_cause(exc, secrets)
    except Exception as exc:
        if type(exc).__name__ == "FSTimeoutError":
            raise connect_error(
                where,
                f"no answer within {timeout:g} s",
                "check the host, the port and the network",
                exc,
                secrets,
            ) from safe_cause(exc, secrets)
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
            raise connect_error(
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
        raise connect_error(
            where,
            "the client could not be created",
            "check the service-account JSON and the endpoint",
            exc,
            (credentials_json,),
        ) from safe_cause(exc, (credentials_json,))


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
        raise connect_error(
            where,
            "the client could not be created",
            "check the account name, the connection string or key, and the endpoint",
            exc,
            secrets,
        ) from safe_cause(exc, secrets)


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
        raise connect_error(
            where,
            "the client could not be created",
            "check the endpoint, region and keys",
            exc,
            (secret_access_key,),
        ) from safe_cause(exc, (secret_access_key,))
