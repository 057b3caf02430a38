"""``adlake iam-policy``: exactly the buckets, prefix, key, databases, secrets and topic of the
config, and no resource that is only a wildcard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from adlake.config import AdlakeConfig, load_config
from adlake.iam import IamPolicyError, build_iam_policy
from adlake_tests.conftest import SAMPLE_CONFIG, link_examples

ACCOUNT = "210987654321"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT}:adlake-events"
AWS_SECTION = {
    "region": "eu-west-1",
    "lake": {"bucket": "acme-adlake", "prefix": "prod/lake", "kms_key_id": KEY_ID},
    "glue_database_prefix": "adlake_",
    "secrets_prefix": "adlake/prod/",
    "sns_topic_arn": TOPIC,
}
CLI = Path(sys.executable).with_name("adlake")


def write_config(folder: Path, **aws_changes: Any) -> Path:
    """The sample adlake.yaml switched to the aws profile, with ``aws_changes`` applied."""
    document = yaml.safe_load(SAMPLE_CONFIG.read_text())
    aws = json.loads(json.dumps(AWS_SECTION))
    for dotted, value in aws_changes.items():
        *parents, last = dotted.split("__")
        target = aws
        for part in parents:
            target = target[part]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    document.update(profile="aws", aws=aws)
    path = folder / "adlake.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    link_examples(folder)
    return path


@pytest.fixture
def aws_config(tmp_path: Path) -> AdlakeConfig:
    """The sample project on the aws profile."""
    return load_config(write_config(tmp_path))


def resources(document: dict[str, Any]) -> list[str]:
    """Every resource of every statement."""
    return [r for s in document["Statement"] for r in s["Resource"]]


def test_policy_names_exactly_what_the_config_holds(aws_config: AdlakeConfig) -> None:
    policy = build_iam_policy(aws_config, ACCOUNT)
    statements = {s["Sid"]: s for s in policy.document["Statement"]}
    assert policy.document["Version"] == "2012-10-17"
    assert statements["LakeList"]["Resource"] == ["arn:aws:s3:::acme-adlake"]
    assert statements["LakeList"]["Condition"] == {"StringLike": {"s3:prefix": ["prod/lake/*"]}}
    assert statements["LakeObjects"]["Resource"] == ["arn:aws:s3:::acme-adlake/prod/lake/*"]
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= set(
        statements["LakeObjects"]["Action"]
    )
    key_arn = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{KEY_ID}"
    assert statements["LakeKmsKey"]["Resource"] == [key_arn]
    assert any(key_arn in note for note in policy.notes)  # the built ARN is said
    glue = f"arn:aws:glue:eu-west-1:{ACCOUNT}"
    assert set(statements["GlueCatalog"]["Resource"]) == {
        f"{glue}:catalog",
        f"{glue}:database/adlake_retail_partner",
        f"{glue}:database/adlake_crm",
        f"{glue}:database/adlake_ad_server",
        f"{glue}:table/adlake_retail_partner/*",
        f"{glue}:table/adlake_crm/*",
        f"{glue}:table/adlake_ad_server/*",
        f"{glue}:database/adlake_amazon_ads",
        f"{glue}:table/adlake_amazon_ads/*",
        f"{glue}:database/adlake_seller",
        f"{glue}:table/adlake_seller/*",
        f"{glue}:database/adlake_amc",
        f"{glue}:table/adlake_amc/*",
        f"{glue}:database/adlake_salesforce",
        f"{glue}:table/adlake_salesforce/*",
        f"{glue}:database/adlake_hubspot",
        f"{glue}:table/adlake_hubspot/*",
        f"{glue}:database/adlake_aggregates",  # the sample's yield aggregates
        f"{glue}:table/adlake_aggregates/*",
    }
    assert "glue:BatchCreatePartition" in statements["GlueCatalog"]["Action"]
    assert statements["Secrets"] == {
        "Sid": "Secrets",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": [
            f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:adlake/prod/{name}-*"
            for name in (  # LWA app and SaaS credentials of the pull sources, the HMAC key
                "amazon_client_id",
                "amazon_client_secret",
                "amazon_refresh_token",
                "crm_hmac_key",
                "hubspot_token",
                "salesforce_client_id",
                "salesforce_client_secret",
                "salesforce_refresh_token",
            )
        ],
    }
    assert statements["Notifications"]["Resource"] == [TOPIC]
    assert statements["Notifications"]["Action"] == ["sns:Publish"]


def test_no_resource_is_a_bare_wildcard(aws_config: AdlakeConfig) -> None:
    document = build_iam_policy(aws_config, ACCOUNT).document
    for resource in resources(document):
        assert resource.startswith("arn:aws:"), resource
        service_and_rest = resource.split(":", 5)
        assert "*" not in service_and_rest[:5], resource  # no service, region or account wildcard
        assert not resource.endswith((":*", ":::*", "/*/*")), resource
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"]), statement
    assert json.loads(json.dumps(document)) == document


def test_account_comes_from_the_topic_arn_when_not_given(aws_config: AdlakeConfig) -> None:
    policy = build_iam_policy(aws_config)
    assert all(f":{ACCOUNT}:" in r for r in resources(policy.document) if ":s3:" not in r)
    assert any("taken from aws.sns_topic_arn" in note for note in policy.notes)


@pytest.mark.parametrize(
    ("changes", "account", "expected"),
    [
        ({}, "12345", "account id '12345' is not 12 digits. Fix: pass --account-id"),
        (
            {"sns_topic_arn": None},
            None,
            "need the AWS account id, and neither aws.sns_topic_arn nor aws.lake.kms_key_id",
        ),
        (
            {"lake__kms_key_id": "alias/adlake"},
            ACCOUNT,
            "kms_key_id is the alias 'alias/adlake'",
        ),
    ],
    ids=["short-account", "no-account", "kms-alias"],
)
def test_errors_say_what_to_fix(
    tmp_path: Path, changes: dict[str, Any], account: str | None, expected: str
) -> None:
    config = load_config(write_config(tmp_path, **changes))
    with pytest.raises(IamPolicyError, match="Fix: ") as caught:
        build_iam_policy(config, account)
    assert expected in str(caught.value)


def test_key_arn_and_empty_prefix_are_used_as_given(tmp_path: Path) -> None:
    key_arn = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{KEY_ID}"
    config = load_config(
        write_config(tmp_path, lake__kms_key_id=key_arn, lake__prefix="", sns_topic_arn=None)
    )
    policy = build_iam_policy(config)
    statements = {s["Sid"]: s for s in policy.document["Statement"]}
    assert statements["LakeKmsKey"]["Resource"] == [key_arn]
    assert "Condition" not in statements["LakeList"]
    assert statements["LakeObjects"]["Resource"] == ["arn:aws:s3:::acme-adlake/*"]
    assert "Notifications" not in statements


def run_cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    """``adlake <args>`` as a user runs it, with ADLAKE_CONFIG pointing at ``config``."""
    env = {**os.environ, "ADLAKE_CONFIG": str(config)}
    env.pop("ADLAKE_PROFILE", None)
    return subprocess.run(
        [str(CLI), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_prints_the_policy_json(tmp_path: Path) -> None:
    config_file = write_config(tmp_path)
    done = run_cli("iam-policy", "--account-id", ACCOUNT, config=config_file)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == build_iam_policy(load_config(config_file), ACCOUNT).document
    assert "is a key id, not an ARN: built arn:aws:kms:eu-west-1" in done.stderr


def test_cli_refuses_the_local_profile(tmp_path: Path) -> None:
    local = tmp_path / "adlake.yaml"
    local.write_text(SAMPLE_CONFIG.read_text())
    link_examples(tmp_path)
    done = run_cli("iam-policy", config=local)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "the profile is 'local'. Fix: set profile: aws" in done.stderr
