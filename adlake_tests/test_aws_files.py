"""An SFTP source with PGP on the aws profile: keys from Secrets Manager, the lake on S3.

The same project as on a laptop, switched to ``profile: aws``: the SFTP key and the PGP keys are
read from Secrets Manager, the encrypted original and its decrypted copy land in S3 with SSE-KMS,
and clean reads the decrypted rows from S3.
"""

from __future__ import annotations

import io
from http.server import ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

from adlake_tests.conftest import AwsTestAccount
from adlake_tests.file_sources import orders_dataset, sftp_source, write_project
from adlake_tests.pgp_keys import encrypt_file
from adlake_tests.servers.sftp import SftpServer

PREFIX = "adlake"
ROWS = b"order_id,email,amount\nA1,ann@example.com,10.50\nA2,bob@example.com,3.00\n"


@pytest.fixture
def aws_project(
    tmp_path: Path,
    aws: AwsTestAccount,
    sftp_server: SftpServer,
    pgp_identities,
    webhook: ThreadingHTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The SFTP project on the aws profile, its secrets only in Secrets Manager."""
    source, secrets = sftp_source(sftp_server)
    source["datasets"] = {"orders": orders_dataset(path="/outbound", after="delete")}
    file = write_project(
        tmp_path, source, secrets, pgp_identities, monkeypatch, webhook.server_port
    )
    document = yaml.safe_load(file.read_text())
    document["profile"] = "aws"
    document["aws"] = {
        "region": aws.region,
        "endpoint_url": aws.endpoint_url,
        "lake": {"bucket": aws.bucket, "prefix": PREFIX, "kms_key_id": aws.kms_key_id},
        "secrets_prefix": "adlake/",
    }
    file.write_text(yaml.safe_dump(document, sort_keys=False))
    manager = aws.client("secretsmanager")
    values = {
        **secrets,
        "orders_pgp_key": pgp_identities.ours.private,
        "orders_pgp_passphrase": pgp_identities.ours.passphrase,
        "partner_pgp_public_key": pgp_identities.partner.public,
    }
    for name, value in values.items():
        monkeypatch.delenv(f"ADLAKE_SECRET_{name.upper()}")
        manager.create_secret(Name=f"adlake/{name}", SecretString=value)
    outbound = sftp_server.root / "outbound"
    outbound.mkdir()
    plain = tmp_path / "orders.csv"
    plain.write_bytes(ROWS)
    partner = pgp_identities.partner
    encrypt_file(
        plain,
        outbound / "orders_20260301.csv.pgp",
        pgp_identities.ours.public,
        partner.private,
        partner.passphrase,
    )
    return file


def test_sftp_pgp_files_land_on_s3_encrypted_with_kms(
    aws_project: Path, aws: AwsTestAccount, sftp_server: SftpServer
) -> None:
    import adlake.definitions

    definitions = adlake.definitions.defs()
    assert type(definitions.resources["lake"]).__name__ == "S3LakeResource"
    instance = dg.DagsterInstance.ephemeral()
    sensor = next(s for s in definitions.sensors if s.name == "files_partner__orders_sensor")
    with dg.build_sensor_context(instance=instance, resources=definitions.resources) as context:
        (request,) = sensor(context).run_requests

    for selection in (["raw/partner/orders"], ["clean/partner/orders"]):
        result = dg.materialize(
            list(definitions.assets),
            selection=selection,
            resources=definitions.resources,
            instance=instance,
            partition_key=request.partition_key,
            run_config=request.run_config if selection[0].startswith("raw") else None,
            tags=request.tags,
        )
        assert result.success

    s3 = aws.client("s3")
    raw = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=aws.bucket, Prefix=f"{PREFIX}/raw/")["Contents"]
    ]
    assert any(k.endswith("/orders_20260301.csv.pgp") for k in raw)
    decrypted = next(k for k in raw if k.endswith("/decrypted/orders_20260301.csv"))
    assert s3.get_object(Bucket=aws.bucket, Key=decrypted)["Body"].read() == ROWS
    everything = s3.list_objects_v2(Bucket=aws.bucket, Prefix=f"{PREFIX}/")["Contents"]
    for item in everything:
        head = s3.head_object(Bucket=aws.bucket, Key=item["Key"])
        assert head["ServerSideEncryption"] == "aws:kms", item["Key"]
    clean = next(i["Key"] for i in everything if i["Key"].startswith(f"{PREFIX}/clean/"))
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=aws.bucket, Key=clean)["Body"].read()))
    assert sorted(table.column("order_id").to_pylist()) == ["A1", "A2"]
    # after: delete — the file left the server once it was safe in S3
    assert list((sftp_server.root / "outbound").iterdir()) == []
