"""Secrets Manager secrets against a real moto server: read, cached per run, never revealed."""

import uuid

import dagster as dg
import pytest

from adlake.resources.secrets import AwsSecretsResource, SecretNotFound, SecretUnavailable
from adlake_tests.conftest import AwsTestAccount

VALUE = "hmac-key-7f3a9c-do-not-print"


@pytest.fixture
def prefix() -> str:
    """A secret prefix of its own: moto keeps secrets for the whole session."""
    return f"adlake-{uuid.uuid4().hex[:8]}/"


def secrets(aws: AwsTestAccount, prefix: str) -> AwsSecretsResource:
    """The secrets resource as the aws profile builds it."""
    return AwsSecretsResource(region=aws.region, endpoint_url=aws.endpoint_url, prefix=prefix)


def count_reads(resource: AwsSecretsResource) -> list[str]:
    """Every GetSecretValue the resource's client sends, by SecretId (a botocore event hook)."""
    calls: list[str] = []

    def record(params: dict, **_: object) -> None:
        calls.append(params["SecretId"])

    resource.get_client().meta.events.register(
        "provide-client-params.secrets-manager.GetSecretValue", record
    )
    return calls


def test_reads_the_secret_string(aws: AwsTestAccount, prefix: str) -> None:
    aws.client("secretsmanager").create_secret(Name=f"{prefix}crm_hmac_key", SecretString=VALUE)

    resource = secrets(aws, prefix)

    assert resource.get("crm_hmac_key") == VALUE
    assert resource.get_bytes("crm_hmac_key") == VALUE.encode()


def test_a_secret_is_read_once_per_resource_instance(aws: AwsTestAccount, prefix: str) -> None:
    manager = aws.client("secretsmanager")
    manager.create_secret(Name=f"{prefix}crm_hmac_key", SecretString=VALUE)
    resource = secrets(aws, prefix)
    calls = count_reads(resource)

    assert resource.get("crm_hmac_key") == VALUE
    manager.put_secret_value(SecretId=f"{prefix}crm_hmac_key", SecretString="rotated")
    assert resource.get("crm_hmac_key") == VALUE
    assert resource.get_bytes("crm_hmac_key") == VALUE.encode()

    assert calls == [f"{prefix}crm_hmac_key"]
    # the cache belongs to the instance, not the class: another instance reads again
    assert secrets(aws, prefix).get("crm_hmac_key") == "rotated"


def test_each_run_reads_the_secret_again_and_no_event_shows_it(
    aws: AwsTestAccount, prefix: str
) -> None:
    manager = aws.client("secretsmanager")
    manager.create_secret(Name=f"{prefix}crm_hmac_key", SecretString=VALUE)
    seen: list[str] = []

    @dg.asset
    def keyed(context: dg.AssetExecutionContext, secrets: AwsSecretsResource) -> None:
        seen.append(secrets.get("crm_hmac_key"))
        seen.append(secrets.get("crm_hmac_key"))
        context.log.info(f"read {len(secrets.get('crm_hmac_key'))} characters")

    resource = secrets(aws, prefix)
    instance = dg.DagsterInstance.ephemeral()
    first = dg.materialize([keyed], resources={"secrets": resource}, instance=instance)
    manager.put_secret_value(SecretId=f"{prefix}crm_hmac_key", SecretString="rotated-value")
    second = dg.materialize([keyed], resources={"secrets": resource}, instance=instance)

    assert seen == [VALUE, VALUE, "rotated-value", "rotated-value"]
    for result in (first, second):
        assert result.success
        logs = instance.all_logs(result.run_id)
        assert logs
        text = " ".join(str(entry) for entry in logs) + str(result.dagster_run.run_config)
        assert VALUE not in text
        assert "rotated-value" not in text


def test_a_missing_secret_says_how_to_create_it(aws: AwsTestAccount, prefix: str) -> None:
    aws.client("secretsmanager").create_secret(Name=f"{prefix}other", SecretString=VALUE)
    resource = secrets(aws, prefix)
    resource.get("other")

    with pytest.raises(SecretNotFound) as raised:
        resource.get("crm_hmac_key")

    message = str(raised.value)
    assert f"Secrets Manager id '{prefix}crm_hmac_key'" in message
    assert f"aws secretsmanager create-secret --name {prefix}crm_hmac_key" in message
    assert VALUE not in message
    assert VALUE not in repr(raised.value)


def test_a_secret_marked_for_deletion_says_how_to_restore_it(
    aws: AwsTestAccount, prefix: str
) -> None:
    manager = aws.client("secretsmanager")
    manager.create_secret(Name=f"{prefix}crm_hmac_key", SecretString=VALUE)
    manager.delete_secret(SecretId=f"{prefix}crm_hmac_key", RecoveryWindowInDays=7)

    with pytest.raises(SecretUnavailable) as raised:
        secrets(aws, prefix).get("crm_hmac_key")

    message = str(raised.value)
    assert "InvalidRequestException" in message
    assert f"aws secretsmanager restore-secret --secret-id {prefix}crm_hmac_key" in message
    assert VALUE not in message


def test_the_value_never_appears_in_the_resource(aws: AwsTestAccount, prefix: str) -> None:
    aws.client("secretsmanager").create_secret(Name=f"{prefix}crm_hmac_key", SecretString=VALUE)
    resource = secrets(aws, prefix)

    assert resource.get("crm_hmac_key") == VALUE

    for shown in (str(resource), repr(resource), str(resource.model_dump())):
        assert VALUE not in shown
    with pytest.raises(SecretNotFound) as raised:
        resource.get("missing")
    assert VALUE not in str(raised.value)
    assert raised.value.__cause__ is None
