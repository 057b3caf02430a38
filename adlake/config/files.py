"""Models of file sources: partners' SFTP servers and other clouds' object stores.

A file source is a remote place adlake pulls files from (Transfer Family's and DataSync's job in
the AWS guidance). Each dataset names a folder or prefix there, which files to take, what to do
with them once they are safe in raw, and how their delivery date is found. Credentials are
named secrets, never values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from adlake.config.base import Name, Ownership, _Model
from adlake.config.datasets import DatasetConfig, LandingConfig
from adlake.config.errors import problem


class RemoteFilesConfig(_Model):
    """Which remote files make a dataset, and what happens to them after they land in raw."""

    path: str = Field(
        min_length=1,
        description="Folder on the server (SFTP: /outbound/orders) or key prefix in the bucket "
        "or container (orders/).",
    )
    include: list[str] = Field(
        default_factory=lambda: ["*"],
        min_length=1,
        description="Globs of files to take: a glob without '/' matches the file name, one "
        "with '/' the path below 'path'.",
    )
    exclude: list[str] = Field(
        default_factory=list, description="Globs of files to leave alone (same matching)."
    )
    recursive: bool = Field(True, description="Also take files in folders below 'path'.")
    after: Literal["keep", "delete", "move"] = Field(
        "keep",
        description="What to do with a remote file once it is safe in raw: keep it (the "
        "manifest remembers it), delete it, or move it to 'move_to'.",
    )
    move_to: str | None = Field(
        None, description="Folder or prefix that processed files move to (after: move)."
    )
    max_files_per_run: int = Field(
        100, ge=1, le=10000, description="At most this many files are copied by one run."
    )
    date_from: Literal["modified", "filename", "folder"] = Field(
        "modified",
        description="modified: the UTC date of the file's modification time; filename: the "
        "date in its name; folder: a dt=YYYY-MM-DD/ folder it sits in.",
    )
    filename_date_format: str = Field(
        "%Y-%m-%d", description="strftime format of the date inside the file name."
    )

    @model_validator(mode="after")
    def _move_needs_target(self) -> RemoteFilesConfig:
        if self.after == "move" and not self.move_to:
            raise problem(
                "after: move needs 'move_to', the folder processed files go to",
                "add move_to: <folder>, or use after: keep or after: delete",
                key="move_to",
            )
        if self.after != "move" and self.move_to:
            raise problem(
                f"'move_to' is only used with after: move, not '{self.after}'",
                "remove move_to, or set after: move",
                key="move_to",
                value=self.move_to,
            )
        return self

    def dating(self) -> LandingConfig:
        """The delivery-date rule in the form the landing code reads."""
        date_from = "arrival" if self.date_from == "modified" else self.date_from
        return LandingConfig(date_from=date_from, filename_date_format=self.filename_date_format)


class FileDatasetConfig(DatasetConfig):
    """A dataset pulled from a file source: a dataset plus where its files are."""

    remote: RemoteFilesConfig = Field(description="Where the files are and what to do after.")


class _FileSource(Ownership):
    """What every file source has: datasets and how often the server is looked at."""

    description: str = Field("", description="Shown in the Dagster UI.")
    poll_interval_seconds: int = Field(
        300, ge=5, description="Seconds between two looks for new files."
    )
    datasets: dict[Name, FileDatasetConfig] = Field(min_length=1, description="Datasets by name.")

    def dataset_configs(self) -> dict[str, DatasetConfig]:
        """The declared datasets, by name."""
        return dict(self.datasets)

    def secret_names(self) -> set[str]:
        """Names of the secrets the source reads to connect (PGP keys excluded)."""
        return {
            getattr(self, name)
            for name in type(self).model_fields
            if name in _SECRET_FIELDS and getattr(self, name)
        }


_SECRET_FIELDS = {
    "password",
    "private_key",
    "private_key_passphrase",
    "credentials",
    "account_key",
    "connection_string",
    "sas_token",
    "access_key_id",
    "secret_access_key",
}


class SftpSourceConfig(_FileSource):
    """A partner's SFTP server; its host key is verified against known_hosts."""

    kind: Literal["sftp"] = Field(description="sftp: files pulled from an SFTP server.")
    host: str = Field(min_length=1, description="Host name or address of the server.")
    port: int = Field(22, ge=1, le=65535, description="SSH port.")
    username: str = Field(min_length=1, description="Login name.")
    password: str | None = Field(None, description="Name of the secret holding the password.")
    private_key: str | None = Field(
        None, description="Name of the secret holding the OpenSSH private key (text)."
    )
    private_key_passphrase: str | None = Field(
        None, description="Name of the secret holding the private key's passphrase, if any."
    )
    known_hosts: str | None = Field(
        None,
        description="known_hosts file that holds the server's host key (relative to this "
        "file); none: ~/.ssh/known_hosts.",
    )
    host_key_check: bool = Field(
        True,
        description="Verify the server's host key (leave on: off lets anyone in the middle "
        "read the files).",
    )

    @model_validator(mode="after")
    def _one_credential(self) -> SftpSourceConfig:
        if (self.password is None) == (self.private_key is None):
            raise problem(
                "give exactly one of 'password' and 'private_key' (names of secrets)",
                "write private_key: <secret name> (recommended) or password: <secret name>",
                key="private_key",
            )
        if self.private_key_passphrase and not self.private_key:
            raise problem(
                "'private_key_passphrase' without 'private_key'",
                "add private_key: <secret name>, or remove private_key_passphrase",
                key="private_key_passphrase",
            )
        return self


class GcsSourceConfig(_FileSource):
    """A Google Cloud Storage bucket (or a GCS-compatible endpoint)."""

    kind: Literal["gcs"] = Field(description="gcs: files replicated from Google Cloud Storage.")
    bucket: str = Field(min_length=3, description="Bucket name.")
    project: str | None = Field(None, description="Google Cloud project of the bucket.")
    credentials: str | None = Field(
        None,
        description="Name of the secret holding a service-account key (JSON); none: "
        "anonymous access (public buckets, emulators).",
    )
    endpoint: str | None = Field(None, description="Custom endpoint URL (an emulator).")


class AzureBlobSourceConfig(_FileSource):
    """An Azure Blob Storage container (or Azurite)."""

    kind: Literal["azure_blob"] = Field(description="azure_blob: files from Azure Blob Storage.")
    account_name: str = Field(min_length=3, description="Storage account name.")
    container: str = Field(min_length=3, description="Container name.")
    account_key: str | None = Field(None, description="Name of the secret holding the key.")
    connection_string: str | None = Field(
        None, description="Name of the secret holding a connection string."
    )
    sas_token: str | None = Field(None, description="Name of the secret holding a SAS token.")
    endpoint: str | None = Field(
        None, description="Custom blob endpoint URL (Azurite: http://127.0.0.1:10000/<account>)."
    )

    @model_validator(mode="after")
    def _one_credential(self) -> AzureBlobSourceConfig:
        given = [n for n in ("account_key", "connection_string", "sas_token") if getattr(self, n)]
        if len(given) != 1:
            raise problem(
                "give exactly one of 'account_key', 'connection_string' and 'sas_token' "
                f"(names of secrets); given: {', '.join(given) or 'none'}",
                "keep one of them",
                key="account_key",
            )
        return self


class S3SourceConfig(_FileSource):
    """A bucket of another S3-compatible store (another account, MinIO, Wasabi, R2...)."""

    kind: Literal["s3"] = Field(description="s3: files from an S3-compatible bucket.")
    bucket: str = Field(min_length=3, description="Bucket name.")
    region: str | None = Field(None, description="Region of the bucket.")
    endpoint: str | None = Field(None, description="Endpoint URL of a non-AWS S3 store.")
    access_key_id: str | None = Field(
        None, description="Name of the secret holding the access key id; none: default chain."
    )
    secret_access_key: str | None = Field(
        None, description="Name of the secret holding the secret access key."
    )

    @model_validator(mode="after")
    def _both_keys(self) -> S3SourceConfig:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise problem(
                "'access_key_id' and 'secret_access_key' go together",
                "give both (names of secrets), or neither to use the default credential chain",
                key="access_key_id",
            )
        return self


FileSourceConfig = SftpSourceConfig | GcsSourceConfig | AzureBlobSourceConfig | S3SourceConfig
FILE_SOURCE_KINDS = ("sftp", "gcs", "azure_blob", "s3")
