"""Notifications on the aws profile: run outcomes and quarantine events reach SNS (read back from
an SQS queue subscribed on the moto server) and carry no PII or secret."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import dagster as dg
import pytest

from adlake.config import AdlakeConfig, AwsConfig, AwsLakeConfig
from adlake.notify import NotificationError, file_quarantined_event
from adlake.resources import build_resources
from adlake.resources.notifier import LogNotifierResource, SnsNotifierResource
from adlake.sensors.notifications import build_notification_defs
from adlake_tests.conftest import SAMPLE_DAYS, AwsTestAccount, Subscription
from adlake_tests.test_dagster_flow import POS_ROWS, RANGE, clean_and_catalog, layer, materialize

UI = "https://dagster.example.test"
POS_LANDING = "landing/retail_partner/pos_transactions"


@pytest.fixture
def notifier(aws: AwsTestAccount, subscription: Subscription) -> SnsNotifierResource:
    """The aws profile's notifier, publishing to the subscribed topic."""
    return SnsNotifierResource(
        topic_arn=subscription.topic_arn,
        region=aws.region,
        endpoint_url=aws.endpoint_url,
        ui_base_url=UI,
    )


@pytest.fixture
def defs_with(adlake_defs: dg.Definitions, notifier: SnsNotifierResource) -> dg.Definitions:
    """The project's assets with the SNS notifier in place of the local one."""
    resources = {**adlake_defs.resources, "notifier": notifier}
    return dg.Definitions(assets=list(adlake_defs.assets), resources=resources)


def pii_of_sample(landing_files: list[Path]) -> set[str]:
    """Every e-mail and phone number written into the sample POS deliveries."""
    values: set[str] = set()
    for path in landing_files:
        if "pos_transactions" not in str(path):
            continue
        raw = path.read_bytes()
        text = gzip.decompress(raw).decode() if path.suffix == ".gz" else raw.decode()
        for row in csv.DictReader(text.splitlines()):
            values.update(v.strip() for v in (row["email"], row["phone"]) if v.strip())
    assert len(values) > 100
    return values


def evaluate(
    config: AdlakeConfig,
    sensor_name: str,
    result: dg.ExecuteInProcessResult,
    instance: dg.DagsterInstance,
    notifier: SnsNotifierResource,
) -> None:
    """One tick of a notification sensor of the project, for the run of ``result``."""
    (sensor,) = [s for s in build_notification_defs(config).sensors if s.name == sensor_name]
    event = result.get_run_success_event() if result.success else result.get_run_failure_event()
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor_name,
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"notifier": notifier},
    )
    sensor(context if result.success else context.for_run_failure())


def test_successful_runs_reach_sqs_with_keys_partitions_counts_and_link(
    defs_with: dg.Definitions,
    notifier: SnsNotifierResource,
    subscription: Subscription,
    sample_landing: list[Path],
    project: AdlakeConfig,
) -> None:
    pii = pii_of_sample(sample_landing)  # read now: landing files are archived once ingested
    instance = dg.DagsterInstance.ephemeral()
    day = SAMPLE_DAYS[-1]
    raw_run = materialize(defs_with, [layer("raw")], instance, partition=day)
    for other in SAMPLE_DAYS[:-1]:
        materialize(defs_with, [layer("raw")], instance, partition=other)
    range_run = clean_and_catalog(defs_with, instance)
    for run in (raw_run, range_run):
        evaluate(project, "run_success_notification_sensor", run, instance, notifier)

    raw_note, range_note = subscription.messages(2)
    for note, run in ((raw_note, raw_run), (range_note, range_run)):
        assert note["MessageAttributes"]["event_kind"]["Value"] == "run_succeeded"
        assert note["Subject"].startswith("adlake run succeeded: ")
        body = json.loads(note["Message"])
        assert body["kind"] == "run_succeeded"
        assert body["run_url"] == f"{UI}/runs/{run.run_id}"
    raw_body = json.loads(raw_note["Message"])
    assert raw_body["asset_keys"] == [layer("raw")]
    assert raw_body["partitions"] == [day]
    assert raw_body["totals"]["files_quarantined"] == 0

    body = json.loads(range_note["Message"])
    assert body["asset_keys"] == [layer("catalog"), layer("clean")]
    assert body["partition_range"] == list(RANGE)
    assert body["partitions"][0] == RANGE[0] and body["partitions"][-1] == RANGE[1]
    clean = next(a for a in body["assets"] if a["asset_key"] == layer("clean"))
    # a range run reports its totals once, not once per partition
    assert clean["rows_out"] == POS_ROWS["rows_out"]
    assert clean["quarantined_rows"] == POS_ROWS["quarantined"]
    assert f"{POS_ROWS['rows_out']:,} row(s) out" in body["message"]

    everything = json.dumps([raw_note, range_note])
    assert not [value for value in pii if value in everything]
    assert "test-hmac-key-not-a-secret" not in everything


def test_quarantined_file_sends_an_exception_event(
    defs_with: dg.Definitions,
    notifier: SnsNotifierResource,
    subscription: Subscription,
    project: AdlakeConfig,
) -> None:
    day = SAMPLE_DAYS[0]
    folder = project.resolve(project.lake.root) / POS_LANDING
    folder.mkdir(parents=True)
    (folder / f"pos_{day}_b.csv").write_bytes(b"")
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(defs_with, [layer("raw")], instance, partition=day)
    assert result.success
    evaluate(project, "run_success_notification_sensor", result, instance, notifier)

    quarantine_note, run_note = subscription.messages(2)
    assert quarantine_note["MessageAttributes"]["event_kind"]["Value"] == "file_quarantined"
    assert quarantine_note["Subject"] == f"adlake file quarantined: {layer('raw')}"
    event = json.loads(quarantine_note["Message"])
    assert event["files"] == [f"{POS_LANDING}/pos_{day}_b.csv"]
    assert event["partitions"] == [day]
    assert event["run_url"] == f"{UI}/runs/{result.run_id}"
    assert "the file is empty (0 bytes)" in event["message"]
    assert json.loads(run_note["Message"])["totals"]["files_quarantined"] == 1


def test_failed_run_is_announced_without_the_error_text(
    notifier: SnsNotifierResource, subscription: Subscription, project: AdlakeConfig
) -> None:
    @dg.asset(key=["raw", "demo", "broken"])
    def broken() -> None:
        raise ValueError("customer jane@example.com is broken")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([broken], instance=instance, raise_on_error=False)
    assert not result.success
    evaluate(project, "run_failure_notification_sensor", result, instance, notifier)

    (note,) = subscription.messages(1)
    assert note["MessageAttributes"]["event_kind"]["Value"] == "run_failed"
    body = json.loads(note["Message"])
    assert body["asset_keys"] == ["raw/demo/broken"]
    assert "failed step(s): raw__demo__broken" in body["message"]
    assert "jane@example.com" not in json.dumps(note)


def test_missing_topic_names_it_and_does_not_fail_the_raw_run(
    adlake_defs: dg.Definitions, aws: AwsTestAccount, project: AdlakeConfig
) -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    missing = SnsNotifierResource(topic_arn=arn, region=aws.region, endpoint_url=aws.endpoint_url)
    with pytest.raises(NotificationError, match="no-such-topic"):
        missing.notify(
            file_quarantined_event(
                run_id="r1",
                job="j",
                ui_base_url=UI,
                asset_key="raw/a/b",
                partition=None,
                landing_path="landing/a/b/x.csv",
                reason="the file is empty (0 bytes)",
            )
        )
    day = SAMPLE_DAYS[0]
    folder = project.resolve(project.lake.root) / POS_LANDING
    folder.mkdir(parents=True)
    (folder / f"pos_{day}.csv").write_bytes(b"")
    defs = dg.Definitions(
        assets=list(adlake_defs.assets), resources={**adlake_defs.resources, "notifier": missing}
    )
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(defs, [layer("raw")], instance, partition=day)
    assert result.success
    warnings = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if "notification not sent" in entry.user_message
    ]
    assert warnings and "no-such-topic" in warnings[0]


def test_the_notifier_follows_the_profile(project: AdlakeConfig) -> None:
    local = build_resources(project)["notifier"]
    assert type(local) is LogNotifierResource
    assert local.ui_base_url == project.notifications.ui_base_url
    topic = "arn:aws:sns:eu-west-1:123456789012:adlake-events"
    settings = AwsConfig(
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:1",
        lake=AwsLakeConfig(bucket="acme-adlake", kms_key_id="k"),
        sns_topic_arn=topic,
    )
    on_aws = build_resources(project.model_copy(update={"profile": "aws", "aws": settings}))[
        "notifier"
    ]
    assert type(on_aws) is SnsNotifierResource
    assert (on_aws.topic_arn, on_aws.region, on_aws.endpoint_url) == (
        topic,
        "eu-west-1",
        "http://127.0.0.1:1",
    )
