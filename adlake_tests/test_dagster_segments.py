"""Segments and exports as Dagster assets: snapshot, deltas, guards and dry run, as users see them.

The export goes to the file-drop destination on the real SFTP server; the clean zone is written
directly, as the clean asset would leave it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from adlake_tests.servers.sftp import SftpServer

SEGMENT = dg.AssetKey(["segments", "buyers"])
EXPORT = dg.AssetKey(["exports", "buyers", "onboarder"])


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_clean(root: Path, count: int, start: int = 0) -> None:
    rows = range(start, start + count)
    table = pa.table(
        {
            "contact_id": [f"c{n}" for n in rows],
            "email": [sha(f"user{n}@example.com") for n in rows],
            "opted_in": [n % 10 != 0 for n in rows],
        }
    )
    path = root / "lake/clean/crm/contacts/dt=2026-01-01/part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


@pytest.fixture
def project(tmp_path: Path, sftp_server: SftpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = {
        "profile": "local",
        "lake": {"root": "lake"},
        "catalog": {"duckdb_path": "catalog.duckdb"},
        "secrets": {"env_prefix": "ADLAKE_SECRET_", "file": None},
        "sources": {
            "crm": {
                "kind": "push",
                "datasets": {
                    "contacts": {
                        "format": "jsonl",
                        "landing": {"date_from": "folder"},
                        "columns": {
                            "contact_id": {"type": "string", "required": True},
                            "email": {
                                "type": "string",
                                "pii": {"policy": "sha256", "identifier": "email"},
                            },
                            "opted_in": {"type": "boolean"},
                        },
                        "primary_key": ["contact_id"],
                        "start_date": "2026-01-01",
                    }
                },
            }
        },
        "destinations": {
            "onboarder": {
                "kind": "file_drop",
                "target": "sftp",
                "url": f"sftp://{sftp_server.host}:{sftp_server.port}/drops",
                "credentials": "onboarder_sftp",
                "known_hosts": str(sftp_server.known_hosts),
            }
        },
        "segments": {
            "buyers": {
                "sql": "SELECT email, opted_in FROM crm.contacts",
                "identifiers": {"email": "email"},
                "consent": {"ad_personalization": "opted_in"},
                "exports": [{"destination": "onboarder", "purpose": "ad_personalization"}],
            }
        },
    }
    file = tmp_path / "adlake.yaml"
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    secret = json.dumps(
        {"username": sftp_server.username, "private_key": sftp_server.client_private_key}
    )
    monkeypatch.setenv("ADLAKE_SECRET_ONBOARDER_SFTP", secret)
    monkeypatch.setenv("ADLAKE_CONFIG", str(file))
    return tmp_path


def materialize(key: dg.AssetKey, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    import adlake.definitions

    definitions = adlake.definitions.defs()
    return dg.materialize(
        list(definitions.assets),
        selection=[key],
        resources=definitions.resources,
        run_config=run_config or {},
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_segment_and_export_deltas_guards_and_dry_run(
    project: Path, sftp_server: SftpServer
) -> None:
    write_clean(project, 1000)
    segment = materialize(SEGMENT)
    assert segment.success
    assert metadata(segment)["members"] == 1000
    assert metadata(segment)["consent_ad_personalization"] == 900

    first = materialize(EXPORT)
    assert first.success
    shown = metadata(first)
    assert (shown["added"], shown["removed"], shown["excluded_no_consent"]) == (900, 0, 100)
    assert shown["audience_id"].startswith(f"sftp://{sftp_server.host}")

    write_clean(project, 1000, start=50)  # 5% churn
    assert materialize(SEGMENT).success
    dry = materialize(
        EXPORT, {"ops": {"exports__buyers__onboarder": {"config": {"dry_run": True}}}}
    )
    assert metadata(dry)["dry_run"] is True and metadata(dry)["added"] == 45
    second = materialize(EXPORT)
    assert (metadata(second)["added"], metadata(second)["removed"]) == (45, 45)
    assert len(list((sftp_server.root / "drops" / "buyers").iterdir())) == 2  # dry run: no drop

    write_clean(project, 3, start=50)  # a broken SQL would leave three rows
    assert materialize(SEGMENT).success
    refused = materialize(EXPORT)
    assert not refused.success
    [failure] = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert "would remove 898 of the 900 members" in message and "allow_shrink" in message
    assert len(list((sftp_server.root / "drops" / "buyers").iterdir())) == 2
