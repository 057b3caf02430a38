"""An SFTP file source in Dagster: the sensor's tick, the raw run, PGP, quarantine, clean.

The project declares a partner's SFTP server (a real asyncssh server on loopback) whose files
are PGP-encrypted and signed; the sensor asks for one run per delivery date, the runs copy and
decrypt the files, a corrupt one is quarantined and announced on the webhook, and clean reads
the decrypted rows with the e-mails hashed.
"""

from __future__ import annotations

import json
from http.server import ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from adlake.assets.files import ALL_FILES_COPIED
from adlake.assets.raw import NO_QUARANTINED_FILES
from adlake.config import PiiConfig
from adlake.transform import pii
from adlake_tests.file_sources import orders_dataset, sftp_source, write_project
from adlake_tests.pgp_keys import encrypt_file
from adlake_tests.servers.sftp import SftpServer

SENSOR = "files_partner__orders_sensor"
RAW, CLEAN = "raw/partner/orders", "clean/partner/orders"
ROWS = {
    "20260301": b"order_id,email,amount\nA1,Ann@Example.com,10.50\nA2,bob@example.com,3.00\n",
    "20260302": b"order_id,email,amount\nB1,carl@example.com,7.25\n",
}


@pytest.fixture
def project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sftp_server: SftpServer,
    pgp_identities,
    webhook: ThreadingHTTPServer,
) -> Path:
    """A project with one SFTP source whose files are encrypted to us and signed by the partner."""
    source, secrets = sftp_source(sftp_server)
    dataset = orders_dataset(
        path="/outbound", include=["*.csv.pgp"], after="move", move_to="/outbound/done"
    )
    source |= {"poll_interval_seconds": 30, "datasets": {"orders": dataset}}
    file = write_project(
        tmp_path, source, secrets, pgp_identities, monkeypatch, webhook.server_port
    )
    ours, partner = pgp_identities.ours, pgp_identities.partner
    outbound = sftp_server.root / "outbound"
    outbound.mkdir()
    for day, rows in ROWS.items():
        plain = tmp_path / f"orders_{day}.csv"
        plain.write_bytes(rows)
        encrypt_file(
            plain,
            outbound / f"orders_{day}.csv.pgp",
            ours.public,
            partner.private,
            partner.passphrase,
        )
    (outbound / "orders_20260302_b.csv.pgp").write_bytes(b"-----BEGIN PGP MESSAGE-----\nnope\n")
    return file


def defs() -> dg.Definitions:
    """Definitions of the project, as ``dagster dev`` loads them."""
    import adlake.definitions

    return adlake.definitions.defs()


def tick(definitions: dg.Definitions, instance: dg.DagsterInstance):
    """One evaluation of the file sensor with the project's resources."""
    sensor = next(s for s in definitions.sensors if s.name == SENSOR)
    with dg.build_sensor_context(instance=instance, resources=definitions.resources) as context:
        return sensor(context)


def run_requested(definitions, instance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Execute a sensor's run request the way the daemon would."""
    return dg.materialize(
        list(definitions.assets),
        selection=[RAW],
        resources=definitions.resources,
        instance=instance,
        partition_key=request.partition_key,
        run_config=request.run_config,
        tags=request.tags,
    )


def test_sftp_pgp_files_flow_through_raw_and_clean(
    project: Path,
    sftp_server: SftpServer,
    webhook: ThreadingHTTPServer,
    pgp_identities,
) -> None:
    definitions = defs()
    keys = {k.to_user_string() for k in definitions.resolve_asset_graph().get_all_asset_keys()}
    assert {RAW, CLEAN, "catalog/partner/orders"} <= keys
    instance = dg.DagsterInstance.ephemeral()

    result = tick(definitions, instance)

    assert isinstance(result, dg.SensorResult)
    requests = result.run_requests or []
    assert [r.partition_key for r in requests] == ["2026-03-01", "2026-03-02"]
    op = "raw__partner__orders"
    assert requests[1].run_config["ops"][op]["config"]["files"] == [
        "/outbound/orders_20260302.csv.pgp",
        "/outbound/orders_20260302_b.csv.pgp",
    ]
    for request in requests:
        run = run_requested(definitions, instance, request)
        assert run.success
    materialization = run.asset_materializations_for_node(op)[0]
    assert materialization.metadata["files_ingested"].value == 1
    assert materialization.metadata["files_quarantined"].value == 1
    checks = {c.check_name: c.passed for c in run.get_asset_check_evaluations()}
    assert checks == {NO_QUARANTINED_FILES: False, ALL_FILES_COPIED: True}
    # the corrupt file stays on the server; the good ones moved to done/
    assert sorted(p.name for p in (sftp_server.root / "outbound").iterdir()) == [
        "done",
        "orders_20260302_b.csv.pgp",
    ]
    events = [json.loads(body) for _, _, body in webhook.received]
    quarantined = [e for e in events if e["kind"] == "file_quarantined"]
    assert len(quarantined) == 1 and "orders_20260302_b.csv.pgp" in quarantined[0]["message"]
    assert "PGP" in quarantined[0]["message"]
    # nothing new: the next tick asks for nothing
    assert isinstance(tick(definitions, instance), dg.SkipReason)

    cleaned = dg.materialize(
        list(definitions.assets),
        selection=[CLEAN],
        resources=definitions.resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": "2026-03-01",
            "dagster/asset_partition_range_end": "2026-03-02",
        },
    )
    assert cleaned.success
    lake = project.parent / "lake"
    rows = duckdb.sql(
        "SELECT order_id, email, amount FROM "
        f"read_parquet('{lake}/clean/partner/orders/**/*.parquet') ORDER BY order_id"
    ).fetchall()
    assert [r[0] for r in rows] == ["A1", "A2", "B1"]
    assert rows[0][1] == pii.protect(
        "Ann@Example.com", PiiConfig(policy="sha256", identifier="email")
    )
    assert str(rows[0][2]) == "10.50"
    secret_values = [pgp_identities.ours.passphrase, sftp_server.client_private_key.splitlines()[1]]
    for run_record in instance.get_runs():
        for entry in instance.all_logs(run_record.run_id):
            text = f"{entry.user_message} {entry.dagster_event}"
            assert not any(secret in text for secret in secret_values), entry


def test_an_unknown_host_key_stops_the_tick_and_the_run_with_the_fix(
    project: Path, sftp_server: SftpServer, tmp_path: Path
) -> None:
    config = yaml.safe_load(project.read_text())
    stranger_hosts = tmp_path / "known_hosts_of_another_server"
    stranger_hosts.write_text(
        f"[{sftp_server.host}]:{sftp_server.port} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    config["sources"]["partner"]["known_hosts"] = str(stranger_hosts)
    project.write_text(yaml.safe_dump(config, sort_keys=False))
    definitions = defs()
    instance = dg.DagsterInstance.ephemeral()

    with pytest.raises(Exception, match="host key is unknown or changed") as tick_error:
        tick(definitions, instance)
    assert "ssh-keyscan" in str(tick_error.value)
    run = dg.materialize(
        list(definitions.assets),
        selection=[RAW],
        resources=definitions.resources,
        instance=instance,
        partition_key="2026-03-01",
        raise_on_error=False,
    )

    assert not run.success
    failure = next(e for e in run.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert "host key is unknown or changed" in message and str(stranger_hosts) in message
    assert sftp_server.auth_attempts == []  # no credential was offered to the unverified server
    assert not (project.parent / "lake" / "raw").exists()


def test_an_encrypted_openssh_key_logs_in(
    project: Path, sftp_server: SftpServer, monkeypatch
) -> None:
    import asyncssh

    key = asyncssh.import_private_key(sftp_server.client_private_key)
    encrypted = key.export_private_key("openssh", passphrase="key passphrase 42").decode()
    with pytest.raises(asyncssh.KeyImportError):  # ssh-keygen's format: bcrypt KDF
        asyncssh.import_private_key(encrypted)
    config = yaml.safe_load(project.read_text())
    config["sources"]["partner"]["private_key_passphrase"] = "partner_sftp_key_passphrase"
    project.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("ADLAKE_SECRET_PARTNER_SFTP_KEY", encrypted)
    monkeypatch.setenv("ADLAKE_SECRET_PARTNER_SFTP_KEY_PASSPHRASE", "key passphrase 42")

    result = tick(defs(), dg.DagsterInstance.ephemeral())

    assert isinstance(result, dg.SensorResult) and len(result.run_requests or []) == 2
