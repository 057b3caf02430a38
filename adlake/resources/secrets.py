"""Secrets on the local profile: an environment variable, else a local JSON file.

Values are returned to the code that needs them and never logged, put in metadata or echoed in
an error; a missing secret's error names where it was looked for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
from pydantic import Field


class SecretNotFound(KeyError):
    """A secret is not set; the message says where to set it (never a value)."""

    def __str__(self) -> str:
        return str(self.args[0])


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
