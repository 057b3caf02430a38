"""The least-privilege IAM policy of a configured project on the aws profile.

Exactly what the config names and nothing else: the lake's bucket and prefix, its KMS key, one
Glue database per source (and one for the aggregates) and its tables, each secret the datasets
use and the SNS topic. No statement has a wildcard-only resource; the only wildcards are key
suffixes below a named prefix (objects, tables of a named database, the random suffix Secrets
Manager adds to an ARN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from adlake.config import AdlakeConfig, AwsConfig
from adlake.config.profile import AGGREGATES

ACCOUNT_ID = re.compile(r"^\d{12}$")
S3_OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
KMS_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
GLUE_ACTIONS = [
    "glue:GetDatabase",
    "glue:CreateDatabase",
    "glue:UpdateDatabase",
    "glue:GetTable",
    "glue:GetTables",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:CreatePartition",
    "glue:UpdatePartition",
    "glue:BatchCreatePartition",
    "glue:BatchUpdatePartition",
    "glue:BatchDeletePartition",
]


class IamPolicyError(ValueError):
    """The policy cannot be built from this config; the message says what to change."""


@dataclass(frozen=True)
class IamPolicy:
    """A policy document and notes on how parts of it were derived (e.g. a built key ARN)."""

    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def secret_names(config: AdlakeConfig) -> list[str]:
    """Every secret the project reads (HMAC keys, API credentials of pull sources), sorted."""
    return sorted(config.hmac_secret_names() | config.credential_secret_names())


def build_iam_policy(config: AdlakeConfig, account_id: str | None = None) -> IamPolicy:
    """The IAM policy the project needs on the aws profile.

    ``account_id`` is needed for the Glue, Secrets Manager and KMS (key id) ARNs; without it the
    account is taken from the SNS topic ARN or the KMS key ARN when the config holds one.
    """
    if config.profile != "aws" or config.aws is None:
        raise IamPolicyError(
            f"the IAM policy is for the aws profile, but the profile is '{config.profile}'. "
            "Fix: set profile: aws (or ADLAKE_PROFILE=aws) and fill the 'aws' section"
        )
    aws = config.aws
    notes: list[str] = []
    account = _account(aws, account_id, notes)
    partition = _partition(aws.region)
    statements = _lake_statements(aws, partition, notes)
    statements.append(
        {
            "Sid": "LakeKmsKey",
            "Effect": "Allow",
            "Action": KMS_ACTIONS,
            "Resource": [_kms_key_arn(aws, partition, account, notes)],
        }
    )
    sources = list(config.sources) + ([AGGREGATES] if config.aggregates else [])
    if sources:
        databases = [f"{aws.glue_database_prefix}{source}" for source in sources]
        glue = f"arn:{partition}:glue:{aws.region}:{_need(account, 'Glue')}"
        statements.append(
            {
                "Sid": "GlueCatalog",
                "Effect": "Allow",
                "Action": GLUE_ACTIONS,
                "Resource": [f"{glue}:catalog"]
                + [f"{glue}:database/{db}" for db in databases]
                + [f"{glue}:table/{db}/*" for db in databases],
            }
        )
    names = secret_names(config)
    if names:
        where = f"arn:{partition}:secretsmanager:{aws.region}:{_need(account, 'Secrets Manager')}"
        statements.append(
            {
                "Sid": "Secrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [f"{where}:secret:{aws.secrets_prefix}{name}-*" for name in names],
            }
        )
    if aws.sns_topic_arn:
        statements.append(
            {
                "Sid": "Notifications",
                "Effect": "Allow",
                "Action": ["sns:Publish"],
                "Resource": [aws.sns_topic_arn],
            }
        )
    else:
        notes.append("no aws.sns_topic_arn: no sns:Publish statement")
    return IamPolicy({"Version": "2012-10-17", "Statement": statements}, notes)


def _lake_statements(aws: AwsConfig, partition: str, notes: list[str]) -> list[dict[str, Any]]:
    bucket = aws.lake.bucket
    prefix = aws.lake.prefix.strip("/")
    listing: dict[str, Any] = {
        "Sid": "LakeList",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [f"arn:{partition}:s3:::{bucket}"],
    }
    lifecycle = {  # the retention asset keeps the bucket's rules in step with the config
        "Sid": "LakeLifecycle",
        "Effect": "Allow",
        "Action": ["s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"],
        "Resource": [f"arn:{partition}:s3:::{bucket}"],
    }
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}/*"]}}
    else:
        notes.append(f"aws.lake.prefix is empty: the policy covers every object of {bucket}")
    objects = (
        f"arn:{partition}:s3:::{bucket}/{prefix}/*"
        if prefix
        else f"arn:{partition}:s3:::{bucket}/*"
    )
    return [
        listing,
        lifecycle,
        {
            "Sid": "LakeObjects",
            "Effect": "Allow",
            "Action": S3_OBJECT_ACTIONS,
            "Resource": [objects],
        },
    ]


def _kms_key_arn(aws: AwsConfig, partition: str, account: str | None, notes: list[str]) -> str:
    key = aws.lake.kms_key_id
    if key.startswith("alias/") or ":alias/" in key:
        raise IamPolicyError(
            f"aws.lake.kms_key_id is the alias {key!r}: IAM cannot grant on an alias without a "
            "wildcard key resource. Fix: set aws.lake.kms_key_id to the key's id or ARN"
        )
    if key.startswith("arn:"):
        return key
    arn = f"arn:{partition}:kms:{aws.region}:{_need(account, 'KMS')}:key/{key}"
    notes.append(f"aws.lake.kms_key_id is a key id, not an ARN: built {arn}")
    return arn


def _account(aws: AwsConfig, account_id: str | None, notes: list[str]) -> str | None:
    if account_id is not None:
        if not ACCOUNT_ID.match(account_id):
            raise IamPolicyError(
                f"account id {account_id!r} is not 12 digits. Fix: pass --account-id 123456789012"
            )
        return account_id
    for name, arn in (
        ("aws.sns_topic_arn", aws.sns_topic_arn),
        ("aws.lake.kms_key_id", aws.lake.kms_key_id),
    ):
        parts = (arn or "").split(":")
        if len(parts) >= 6 and parts[0] == "arn" and ACCOUNT_ID.match(parts[4]):
            notes.append(f"account {parts[4]} taken from {name}; pass --account-id to override")
            return parts[4]
    return None


def _need(account: str | None, service: str) -> str:
    if account is None:
        raise IamPolicyError(
            f"the {service} ARNs need the AWS account id, and neither aws.sns_topic_arn nor "
            "aws.lake.kms_key_id is an ARN that holds it. Fix: pass --account-id 123456789012"
        )
    return account


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
