"""The push-pattern flow of the local profile, run end to end on the aws profile against moto.

landing object -> raw -> clean (SSE-KMS checked with head_object) -> Glue table and partitions
-> archive -> SNS message read from a subscribed SQS queue. Switching profile is configuration
only: the same adlake.yaml with ``profile: aws`` and an ``aws`` section.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

import adlake.definitions
from adlake.config import AdlakeConfig
from adlake.sample_data import write_sample_landing
from adlake_tests.conftest import SAMPLE_DAYS, SAMPLE_TODAY, AwsTestAccount, Subscription
from adlake_tests.test_aws_notifications import evaluate
from adlake_tests.test_dagster_flow import POS_ROWS, RANGE, layer, materialize, metadata

PREFIX = "adlake"
POS_SENSOR = "landing_retail_partner__pos_transactions_sensor"
HMAC_KEY = "aws-test-hmac-key-not-a-secret"


@pytest.fixture
def aws_project(
    project: AdlakeConfig,
    aws: AwsTestAccount,
    subscription: Subscription,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AdlakeConfig:
    """The sample project switched to the aws profile by configuration alone."""
    config_file = Path(os.environ["ADLAKE_CONFIG"])
    document = yaml.safe_load(config_file.read_text())
    document["profile"] = "aws"
    document["aws"] = {
        "region": aws.region,
        "endpoint_url": aws.endpoint_url,
        "lake": {"bucket": aws.bucket, "prefix": PREFIX, "kms_key_id": aws.kms_key_id},
        "glue_database_prefix": "adlake_",
        "secrets_prefix": "adlake/",
        "sns_topic_arn": subscription.topic_arn,
    }
    config_file.write_text(yaml.safe_dump(document, sort_keys=False))
    monkeypatch.delenv("ADLAKE_SECRET_CRM_HMAC_KEY")
    secrets = aws.client("secretsmanager")
    secrets.create_secret(Name="adlake/crm_hmac_key", SecretString=HMAC_KEY)
    # a partner pushes plain objects into landing (no KMS of ours on their side)
    local = tmp_path / "partner"
    s3 = aws.client("s3")
    for path in write_sample_landing(local, SAMPLE_TODAY):
        key = f"{PREFIX}/{path.relative_to(local).as_posix()}"
        s3.put_object(Bucket=aws.bucket, Key=key, Body=path.read_bytes())
    return AdlakeConfig.model_validate({**document, "base_dir": str(config_file.parent)})


def keys(aws: AwsTestAccount, zone: str) -> list[str]:
    """Every object key below a zone of the lake."""
    pages = aws.client("s3").get_paginator("list_objects_v2")
    found = []
    for page in pages.paginate(Bucket=aws.bucket, Prefix=f"{PREFIX}/{zone}/"):
        found += [item["Key"] for item in page.get("Contents", [])]
    return sorted(found)


def test_landing_to_glue_on_s3_with_kms_and_sns(
    aws_project: AdlakeConfig, aws: AwsTestAccount, subscription: Subscription
) -> None:
    defs = adlake.definitions.defs()
    assert type(defs.resources["lake"]).__name__ == "S3LakeResource"
    instance = dg.DagsterInstance.ephemeral()

    # the same landing sensor lists S3; ETags are in the run keys
    sensor = next(s for s in defs.sensors if s.name == POS_SENSOR)
    with dg.build_sensor_context(resources=defs.resources, instance=instance) as context:
        tick = sensor(context)
    requests = tick.run_requests or []
    etags = {
        f"landing/{key.split('/landing/', 1)[1]}": aws.client("s3")
        .head_object(Bucket=aws.bucket, Key=key)["ETag"]
        .strip('"')
        for key in keys(aws, "landing")
    }
    assert [r.partition_key for r in requests] == list(SAMPLE_DAYS)
    for request in requests:
        (path,) = request.run_config["ops"]["raw__retail_partner__pos_transactions"]["config"][
            "files"
        ]
        assert request.run_key.endswith(f":{etags[path]}")

    for request in requests:
        run = dg.materialize(
            [defs.get_assets_def(dg.AssetKey.from_user_string(layer("raw")))],
            resources=defs.resources,
            run_config=request.run_config,
            partition_key=request.partition_key,
            instance=instance,
        )
        assert run.success
    result = materialize(defs, [layer("clean"), layer("catalog")], instance, partition_range=RANGE)

    # counts match the local profile's run of the same sample
    totals = {"rows_in": 0, "rows_out": 0, "duplicates": 0, "quarantined": 0}
    (first,) = list(metadata(result, layer("clean")).values())[:1]
    for name in totals:
        totals[name] = first[name]
    assert totals == POS_ROWS
    # the locations are S3 URLs with clickable console links, the folder's and each file's
    prefix = "adlake/clean/retail_partner/pos_transactions/"
    assert first["partition_path"] == f"s3://{aws.bucket}/{prefix.rstrip('/')}"
    console = f"https://{aws.region}.console.aws.amazon.com/s3"
    assert first["partition_url"] == (
        f"{console}/buckets/{aws.bucket}?region={aws.region}&prefix={quote(prefix)}"
    )
    day = f"{prefix}dt={RANGE[0]}/data.parquet"
    assert (
        f"[s3://{aws.bucket}/{day}]({console}/object/{aws.bucket}?region={aws.region}"
        f"&prefix={quote(day)})" in first["partition_files"]
    )

    # every clean object is SSE-KMS with our key, and is real Parquet
    s3 = aws.client("s3")
    clean = [k for k in keys(aws, "clean/retail_partner/pos_transactions")]
    assert len(clean) == 6 and all(k.endswith("/data.parquet") for k in clean)
    rows = 0
    for key in clean + keys(aws, "raw") + keys(aws, "state")[:3]:
        head = s3.head_object(Bucket=aws.bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert aws.kms_key_id in head["SSEKMSKeyId"], key
        if key in clean:
            body = s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
            rows += pq.read_metadata(io.BytesIO(body)).num_rows
    assert rows == POS_ROWS["rows_out"]

    # Glue: table and partitions point at the Parquet actually written
    glue = aws.client("glue")
    table = glue.get_table(DatabaseName="adlake_retail_partner", Name="pos_transactions")["Table"]
    assert table["PartitionKeys"][0]["Name"] == "dt"
    partitions = glue.get_partitions(
        DatabaseName="adlake_retail_partner", TableName="pos_transactions"
    )["Partitions"]
    locations = sorted(p["StorageDescriptor"]["Location"] for p in partitions)
    written = sorted(f"s3://{aws.bucket}/{k.rsplit('/', 1)[0]}/" for k in clean)
    assert locations == written

    # landing files moved to archive (archive objects encrypted too), landing empty
    assert not [k for k in keys(aws, "landing") if "pos_transactions" in k]
    archived = [k for k in keys(aws, "archive") if "pos_transactions" in k]
    assert len(archived) == len(SAMPLE_DAYS)
    assert all(
        s3.head_object(Bucket=aws.bucket, Key=k)["ServerSideEncryption"] == "aws:kms"
        for k in archived
    )

    # the run-status sensor announces the run on SNS, read back from the subscribed queue
    evaluate(
        aws_project, "run_success_notification_sensor", result, instance, defs.resources["notifier"]
    )
    (envelope,) = subscription.messages(1)
    message = json.loads(envelope["Message"])
    assert message["run_id"] == result.run_id
    text = envelope["Message"]
    assert "clean/retail_partner/pos_transactions" in text
    assert "@example.com" not in text.lower() and HMAC_KEY not in text
