"""The S3 lake on a moto server: multipart SSE-KMS writes, paginated landing, profile switch."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
import yaml
from pyarrow import fs as pafs

import adlake.definitions
from adlake.config import AdlakeConfig, load_config
from adlake.lake.s3 import MULTIPART_CHUNK_BYTES, S3Lake
from adlake_tests.conftest import AwsTestAccount

POS_SENSOR = "landing_retail_partner__pos_transactions_sensor"


def s3_lake(aws: AwsTestAccount) -> S3Lake:
    """The lake under s3://<bucket>/adlake on the moto server."""
    return S3Lake(aws.bucket, "adlake", aws.kms_key_id, aws.region, aws.endpoint_url)


def switch_to_aws(aws: AwsTestAccount, max_files: int = 100) -> None:
    """Point the test project's adlake.yaml at the moto account (profile still local)."""
    config_file = Path(os.environ["ADLAKE_CONFIG"])
    document = yaml.safe_load(config_file.read_text())
    document["aws"] = {
        "region": aws.region,
        "endpoint_url": aws.endpoint_url,
        "lake": {"bucket": aws.bucket, "prefix": "adlake", "kms_key_id": aws.kms_key_id},
    }
    document["sensors"]["max_files_per_tick"] = max_files
    config_file.write_text(yaml.safe_dump(document, sort_keys=False))


def test_a_large_file_goes_up_in_encrypted_parts(aws: AwsTestAccount, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    line = b"T0000001,S001,2026-03-01T10:00:00+00:00,12.50,USD\n"
    with big.open("wb") as out:
        for _ in range(int(2.5 * MULTIPART_CHUNK_BYTES / len(line))):
            out.write(line)
    lake = s3_lake(aws)

    report = lake.copy_in(pafs.LocalFileSystem(), str(big), "raw/shop/orders/big.csv")

    head = aws.client("s3").head_object(Bucket=aws.bucket, Key="adlake/raw/shop/orders/big.csv")
    assert head["ContentLength"] == big.stat().st_size == report.bytes
    assert head["ETag"].strip('"').endswith("-3")  # three parts: never the whole file at once
    assert head["ServerSideEncryption"] == "aws:kms"
    assert aws.kms_key_id in head["SSEKMSKeyId"]
    assert report.lines == big.read_bytes().count(b"\n")


def test_a_failed_write_leaves_no_object(aws: AwsTestAccount) -> None:
    lake = s3_lake(aws)

    with pytest.raises(RuntimeError), lake.open_atomic("state/x/manifest.json") as out:
        out.write(b"x" * (MULTIPART_CHUNK_BYTES + 10))
        raise RuntimeError("crash mid-write")

    assert not lake.exists("state/x/manifest.json")


def test_the_landing_sensor_pages_through_more_than_1000_objects(
    project: AdlakeConfig, aws: AwsTestAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    switch_to_aws(aws, max_files=2000)
    s3 = aws.client("s3")
    for i in range(1105):
        key = f"adlake/landing/retail_partner/pos_transactions/pos_2026-03-01_{i:04d}.csv"
        s3.put_object(Bucket=aws.bucket, Key=key, Body=b"transaction_id\n")
    monkeypatch.setenv("ADLAKE_PROFILE", "aws")
    defs = adlake.definitions.defs()
    sensor = next(s for s in defs.sensors if s.name == POS_SENSOR)

    with dg.build_sensor_context(resources=defs.resources) as context:
        result = sensor(context)

    # every one of the 1,105 files is taken, in one run for their one delivery day
    (request,) = result.run_requests or []
    assert request.partition_key == "2026-03-01"
    assert request.tags["adlake/landing_files"] == "1105"
    files = next(iter(request.run_config["ops"].values()))["config"]["files"]
    assert len(set(files)) == 1105


def test_one_environment_variable_switches_the_profile(
    project: AdlakeConfig, aws: AwsTestAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    switch_to_aws(aws)
    local = adlake.definitions.defs().resources
    assert {type(local[k]).__name__ for k in ("lake", "secrets", "catalog")} == {
        "LocalLakeResource",
        "LocalSecretsResource",
        "DuckDBCatalogResource",
    }

    monkeypatch.setenv("ADLAKE_PROFILE", "aws")

    assert load_config().profile == "aws"
    on_aws = adlake.definitions.defs().resources
    assert {type(on_aws[k]).__name__ for k in ("lake", "secrets", "catalog")} == {
        "S3LakeResource",
        "AwsSecretsResource",
        "GlueCatalogResource",
    }
