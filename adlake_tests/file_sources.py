"""What the file-source tests and the file-pull benchmark share: a store of the test SFTP
server, and a project whose one file source is any backend's.

The project has one dataset, ``orders`` (``order_id``, ``email`` hashed, ``amount``), files
dated by a ``%Y%m%d`` date in their names, and PGP keys named ``orders_pgp_key`` /
``orders_pgp_passphrase`` / ``partner_pgp_public_key``; secrets are set as
``ADLAKE_SECRET_<NAME>`` variables.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from adlake.config.segments import FileDropDestinationConfig
from adlake.connectors.files.backends import sftp_filesystem
from adlake.connectors.files.remote import RemoteStore
from adlake_tests.servers.sftp import SftpServer


def sftp_store(server: SftpServer) -> RemoteStore:
    """A store of the test server, logged in with its client key, the host key verified."""
    fs = sftp_filesystem(
        server.host,
        server.port,
        server.username,
        private_key=server.client_private_key,
        known_hosts=str(server.known_hosts),
    )
    return RemoteStore(fs, "sftp", f"sftp://{server.username}@{server.host}:{server.port}")


def sftp_source(server: SftpServer) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``sources.<name>`` keys of the test server, and the secrets they name."""
    source = {
        "kind": "sftp",
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "private_key": "partner_sftp_key",
        "known_hosts": str(server.known_hosts),
    }
    return source, {"partner_sftp_key": server.client_private_key}


def orders_dataset(**remote: Any) -> dict[str, Any]:
    """The ``orders`` dataset, its files in ``outbound`` unless ``remote`` says otherwise."""
    return {
        "format": "csv",
        "remote": {
            "path": "outbound",
            "date_from": "filename",
            "filename_date_format": "%Y%m%d",
            **remote,
        },
        "pgp": {
            "private_key": "orders_pgp_key",
            "passphrase": "orders_pgp_passphrase",
            "partner_public_key": "partner_pgp_public_key",
        },
        "columns": {
            "order_id": {"type": "string", "required": True},
            "email": {"type": "string", "pii": {"policy": "sha256", "identifier": "email"}},
            "amount": {"type": "decimal", "precision": 10, "scale": 2},
        },
        "primary_key": ["order_id"],
        "start_date": "2026-03-01",
    }


def write_project(
    folder: Path,
    source: dict[str, Any],
    secrets: dict[str, str],
    identities: Any,
    monkeypatch: pytest.MonkeyPatch,
    webhook_port: int,
    **top: Any,
) -> Path:
    """adlake.yaml of a project with ``source`` as ``partner``; ADLAKE_CONFIG points at it.

    ``identities`` are the session's PGP identities: ours decrypts, the partner's signs.
    """
    config = {
        "profile": "local",
        "lake": {"root": "lake"},
        "catalog": {"duckdb_path": "catalog.duckdb"},
        "secrets": {"env_prefix": "ADLAKE_SECRET_", "file": None},
        "notifications": {"webhook_url": f"http://127.0.0.1:{webhook_port}/hook"},
        **top,
        "sources": {"partner": source},
    }
    file = folder / "adlake.yaml"
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    values = {
        **secrets,
        "orders_pgp_key": identities.ours.private,
        "orders_pgp_passphrase": identities.ours.passphrase,
        "partner_pgp_public_key": identities.partner.public,
    }
    for name, value in values.items():
        monkeypatch.setenv(f"ADLAKE_SECRET_{name.upper()}", value)
    monkeypatch.setenv("ADLAKE_CONFIG", str(file))
    return file


def sftp_drop(
    server: SftpServer, rows_per_file: int = 1_000_000
) -> tuple[FileDropDestinationConfig, dict[str, str]]:
    """A file-drop destination on the test server's ``/drops``, and the secret it names."""
    config = FileDropDestinationConfig(
        kind="file_drop",
        target="sftp",
        url=f"sftp://{server.host}:{server.port}/drops",
        credentials="onboarder_sftp",
        known_hosts=str(server.known_hosts),
        rows_per_file=rows_per_file,
    )
    secret = json.dumps({"username": server.username, "private_key": server.client_private_key})
    return config, {"onboarder_sftp": secret}
