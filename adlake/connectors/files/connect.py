"""From a file source's configuration to a connected :class:`RemoteStore` of one dataset.

The one place that knows which backend a source kind uses and which secrets it reads; the
secrets are asked for by name and handed to the backend, never kept or shown.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fsspec

from adlake.config import (
    AzureBlobSourceConfig,
    FileDatasetConfig,
    FileSourceConfig,
    GcsSourceConfig,
    S3SourceConfig,
    SftpSourceConfig,
)
from adlake.connectors.files import backends
from adlake.connectors.files.remote import FileRules, RemoteStore

Secret = Callable[[str], str]


def connect(
    source: FileSourceConfig, secret: Secret, resolve: Callable[[str], Path]
) -> RemoteStore:
    """A store of this source, connected (SFTP) or ready to connect (object stores)."""
    return RemoteStore(_filesystem(source, secret, resolve), source.kind, base_url(source))


def base_url(source: FileSourceConfig) -> str:
    """What people see as the source's address: ``sftp://user@host:port``, ``gs://bucket``..."""
    if isinstance(source, SftpSourceConfig):
        return f"sftp://{source.username}@{source.host}:{source.port}"
    if isinstance(source, GcsSourceConfig):
        return "gs:/"
    if isinstance(source, AzureBlobSourceConfig):
        return f"az://{source.account_name}"
    return "s3:/"


def file_rules(source: FileSourceConfig, dataset: FileDatasetConfig) -> FileRules:
    """The rules that pick the dataset's files below its folder."""
    remote = dataset.remote
    return FileRules(
        root=_store_path(source, remote.path),
        include=tuple(remote.include),
        exclude=tuple(remote.exclude),
        recursive=remote.recursive,
        dating=remote.dating(),
        skip_under=_store_path(source, remote.move_to) if remote.move_to else None,
    )


def move_target(source: FileSourceConfig, dataset: FileDatasetConfig) -> str | None:
    """The store path processed files move to, if the dataset moves them."""
    return _store_path(source, dataset.remote.move_to) if dataset.remote.move_to else None


def _store_path(source: FileSourceConfig, path: str) -> str:
    if isinstance(source, SftpSourceConfig):
        return "/" + path.strip("/")
    container = source.container if isinstance(source, AzureBlobSourceConfig) else source.bucket
    return f"{container}/{path.strip('/')}".rstrip("/")


def _filesystem(
    source: FileSourceConfig, secret: Secret, resolve: Callable[[str], Path]
) -> fsspec.AbstractFileSystem:
    def optional(name: str | None) -> str | None:
        return secret(name) if name else None

    if isinstance(source, SftpSourceConfig):
        return backends.sftp_filesystem(
            source.host,
            source.port,
            source.username,
            password=optional(source.password),
            private_key=optional(source.private_key),
            private_key_passphrase=optional(source.private_key_passphrase),
            known_hosts=str(resolve(source.known_hosts)) if source.known_hosts else None,
            host_key_check=source.host_key_check,
        )
    if isinstance(source, GcsSourceConfig):
        return backends.gcs_filesystem(
            project=source.project,
            credentials_json=optional(source.credentials),
            endpoint_url=source.endpoint,
        )
    if isinstance(source, AzureBlobSourceConfig):
        return backends.azure_blob_filesystem(
            source.account_name,
            account_key=optional(source.account_key),
            connection_string=optional(source.connection_string),
            sas_token=optional(source.sas_token),
            endpoint_url=source.endpoint,
        )
    assert isinstance(source, S3SourceConfig)
    return backends.s3_compatible_filesystem(
        endpoint_url=source.endpoint,
        region=source.region,
        access_key_id=optional(source.access_key_id),
        secret_access_key=optional(source.secret_access_key),
    )
