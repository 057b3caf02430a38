"""Shared fixtures: no test can reach AWS, and every test gets its own project folder."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from adlake.config import AdlakeConfig, load_config
from adlake.sample_data import write_sample_landing

if TYPE_CHECKING:
    import dagster as dg

# the spec-built emulators of the Amazon APIs, and clients wired to them
pytest_plugins = [
    "adlake_tests.emulators.fixtures_ads",
    "adlake_tests.emulators.fixtures_sp",
    "adlake_tests.emulators.fixtures_meta",
    "adlake_tests.emulators.fixtures_google_ads",
    "adlake_tests.emulators.fixtures_saas",
    "adlake_tests.servers.fixtures",
    "adlake_tests.webhook",
    "adlake_tests.pgp_keys",
]

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CONFIG = REPO / "adlake.yaml"
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
)


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Remove real AWS credentials so that no test can ever reach AWS."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def link_examples(folder: Path) -> None:
    """Make the repo's examples/ (the sample AMC workflow files) visible from ``folder``.

    The sample adlake.yaml names ``examples/amc/workflows`` relative to itself, so a copy of it
    in another folder needs the examples next to it.
    """
    link = folder / "examples"
    if not link.exists():
        link.symlink_to(REPO / "examples", target_is_directory=True)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AdlakeConfig:
    """The sample adlake.yaml copied into a fresh folder, with ADLAKE_CONFIG pointing at it.

    Relative paths in it (lake, catalog, secrets) resolve inside that folder; an HMAC key for
    the sample CRM source is set through the environment.
    """
    config_file = tmp_path / "adlake.yaml"
    shutil.copy(SAMPLE_CONFIG, config_file)
    link_examples(tmp_path)
    monkeypatch.setenv("ADLAKE_CONFIG", str(config_file))
    monkeypatch.setenv("ADLAKE_SECRET_CRM_HMAC_KEY", "test-hmac-key-not-a-secret")
    return load_config(config_file)


SAMPLE_TODAY = date(2026, 3, 10)
SAMPLE_DAYS = ("2026-03-07", "2026-03-08", "2026-03-09")


@pytest.fixture
def adlake_defs(project: AdlakeConfig) -> dg.Definitions:
    """Definitions built from the project's adlake.yaml, as ``dagster dev`` loads them."""
    import adlake.definitions

    return adlake.definitions.defs()


@pytest.fixture
def sample_landing(project: AdlakeConfig) -> list[Path]:
    """The sample deliveries of SAMPLE_DAYS, written into the project's landing zone."""
    return write_sample_landing(project.resolve(project.lake.root), SAMPLE_TODAY)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """One real local-mode Spark session (``local[2]``) for the whole test session."""
    from adlake.resources.spark import local_spark_conf, spark_resource

    resource = spark_resource(local_spark_conf(str(tmp_path_factory.mktemp("spark"))))
    session = resource.spark_session
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on loopback for the whole session (S3, KMS, Glue, Secrets, SNS, SQS)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsTestAccount]:
    """Fake credentials pointed at the moto server, and a fresh bucket and KMS key.

    moto keeps state for the whole session, so each test gets its own bucket name.
    """
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    session = boto3.session.Session(region_name="us-east-1")
    bucket = f"adlake-test-{uuid.uuid4().hex[:12]}"
    session.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    key_id = session.client("kms", endpoint_url=moto_endpoint).create_key()["KeyMetadata"]["KeyId"]
    yield AwsTestAccount(moto_endpoint, "us-east-1", bucket, key_id, session)


@dataclass(frozen=True)
class AwsTestAccount:
    """What a test needs to talk to the moto server: endpoint, region, bucket, KMS key."""

    endpoint_url: str
    region: str
    bucket: str
    kms_key_id: str
    session: Any

    def client(self, service: str) -> Any:
        """A boto3 client of the moto server."""
        return self.session.client(service, endpoint_url=self.endpoint_url)


@dataclass(frozen=True)
class Subscription:
    """An SNS topic with an SQS queue subscribed to it, on the moto server."""

    topic_arn: str
    queue_url: str
    sqs: Any

    def messages(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The next ``count`` SNS envelopes delivered to the queue (Subject, Message, ...)."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in response.get("Messages", []):
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        assert len(found) == count, f"expected {count} message(s), got {len(found)}: {found}"
        return found


@pytest.fixture
def subscription(aws: AwsTestAccount) -> Subscription:
    """A fresh topic and queue, the queue subscribed to the topic."""
    name = f"adlake-events-{uuid.uuid4().hex[:8]}"
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return Subscription(topic_arn, queue_url, sqs)
