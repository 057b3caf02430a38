"""Secrets: an environment variable or a local JSON file locally, AWS Secrets Manager on aws.

Values are returned to the code that needs them and never logged, put in metadata or echoed in
an error; a missing secret's error names where it was looked for and how to set it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, PrivateAttr


class SecretNotFound(KeyError):
    """A secret is not set; the message says where to set it (never a value)."""

    def __str__(self) -> str:
        return str(self.args[0])


class SecretUnavailable(SecretNotFound):
    """A secret may exist but cannot be read (access, KMS, deletion, network); no value shown."""


class SecretsResource(dg.ConfigurableResource):
    """Secrets by name, whatever the profile keeps them in; values are never logged."""

    def get(self, name: str) -> str:
        """The value of secret ``name``; SecretNotFound says where to set it."""
        raise NotImplementedError

    def get_bytes(self, name: str) -> bytes:
        """The value of secret ``name`` as UTF-8 bytes (HMAC keys)."""
        return self.get(name).encode()


class LocalSecretsResource(SecretsResource):
    """Reads ``<env_prefix><NAME>`` from the environment, then ``file`` (a JSON object)."""

    env_prefix: str = Field(default="ADLAKE_SECRET_", description="Environment variable prefix.")
    file: str | None = Field(default=None, description="JSON file of secret name -> value.")

    def get(self, name: str) -> str:
        """The value of secret ``name``."""
        variable = f"{self.env_prefix}{name.upper()}"
        if os.environ.get(variable):
            return os.environ[variable]
        if self.file and Path(self.file).is_file():
            try:
                values = json.loads(Path(self.file).read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise SecretNotFound(
                    f"secrets file {self.file} is not valid JSON (line {exc.lineno}); fix it"
                ) from None
            if isinstance(values, dict) and isinstance(values.get(name), str) and values[name]:
                return values[name]
        where = f' or add "{name}" to {self.file}' if self.file else ""
        raise SecretNotFound(f"secret '{name}' is not set: set {variable}{where}")


class AwsSecretsResource(SecretsResource):
    """Reads the SecretString of ``<prefix><name>`` from AWS Secrets Manager, once per run.

    Values are cached on this instance (Dagster initializes a fresh one for each run, and
    setup_for_execution empties it), never on the class, so a rotated secret is read again by
    the next run.
    """

    region: str = Field(description="AWS region of Secrets Manager.")
    endpoint_url: str | None = Field(
        default=None, description="Custom endpoint (a moto server in tests); None for AWS."
    )
    prefix: str = Field(
        default="adlake/", description="Secrets Manager id of a secret: prefix + secret name."
    )

    _client: Any = PrivateAttr(default=None)
    _values: dict[str, str] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Start the run with an empty cache and a new client."""
        self._client = None
        self._values = {}

    def get_client(self) -> Any:
        """The Secrets Manager client of this resource instance."""
        if self._client is None:
            self._client = boto3.session.Session().client(
                "secretsmanager",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=Config(retries={"mode": "standard", "max_attempts": 5}),
            )
        return self._client

    def get(self, name: str) -> str:
        """The value of secret ``name``, read from Secrets Manager at most once per run."""
        if name not in self._values:
            self._values[name] = self._read(name)
        return self._values[name]

    def _read(self, name: str) -> str:
        secret_id = f"{self.prefix}{name}"
        where = f"secret '{name}' (Secrets Manager id '{secret_id}', region {self.region})"
        try:
            response = self.get_client().get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            raise _secrets_manager_error(where, secret_id, code) from None
        except BotoCoreError as exc:
            raise SecretUnavailable(
                f"{where} could not be read ({type(exc).__name__}: {exc}); check the AWS "
                "credentials of the run, the region and the endpoint"
            ) from None
        value = response.get("SecretString")
        if not value:
            raise SecretNotFound(
                f"{where} has no text value: store it as a string with `aws secretsmanager "
                f"put-secret-value --secret-id {secret_id} --secret-string <value>`"
            )
        return value


def _secrets_manager_error(where: str, secret_id: str, code: str) -> SecretNotFound:
    """The error for a failed GetSecretValue: what went wrong and the command that fixes it."""
    if code == "ResourceNotFoundException":
        return SecretNotFound(
            f"{where} does not exist: create it with `aws secretsmanager create-secret "
            f"--name {secret_id} --secret-string <value>`, or fix aws.secrets_prefix"
        )
    fixes = {
        "AccessDeniedException": "grant secretsmanager:GetSecretValue on it to the role "
        "Dagster runs as (`adlake iam-policy` prints the policy)",
        "DecryptionFailure": "grant kms:Decrypt on the KMS key that encrypts it",
        "InvalidRequestException": "it may be scheduled for deletion: restore it with "
        f"`aws secretsmanager restore-secret --secret-id {secret_id}`",
    }
    fix = fixes.get(code, "check the AWS credentials of the run, the region and the endpoint")
    return SecretUnavailable(f"{where} could not be read ({code}): {fix}")
