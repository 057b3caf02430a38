"""The lake resource of the local profile: a folder on this machine."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from adlake.lake import Lake
from adlake.lake.retention import RULE_PREFIX
from adlake.lake.s3 import S3Lake


class LakeResource(dg.ConfigurableResource):
    """The lake, wherever the profile puts it; assets and sensors ask only for ``lake()``."""

    def lake(self) -> Lake:
        """The lake these settings point at."""
        raise NotImplementedError

    def apply_lifecycle(self, rules: list[dict]) -> str:
        """Put the retention rules where the store enforces them; what was done, in words."""
        return "a local lake has no lifecycle rules: the retention asset deletes what expired"


class LocalLakeResource(LakeResource):
    """The lake in a local folder (``.adlake/lake`` by default)."""

    root: str = Field(description="Absolute folder of the lake.")

    def lake(self) -> Lake:
        """The lake these settings point at, its folder created if missing."""
        Path(self.root).mkdir(parents=True, exist_ok=True)
        return Lake(self.root)


class S3LakeResource(LakeResource):
    """The lake under ``s3://<bucket>/<prefix>/``, every object written with SSE-KMS."""

    bucket: str = Field(description="S3 bucket of the lake.")
    prefix: str = Field(default="adlake", description="Key prefix under which the zones live.")
    kms_key_id: str = Field(description="KMS key id, ARN or alias for SSE-KMS on every write.")
    region: str = Field(default="us-east-1", description="AWS region of the bucket.")
    endpoint_url: str | None = Field(
        default=None, description="Custom S3 endpoint (a moto server in tests)."
    )

    def lake(self) -> Lake:
        """The S3 lake these settings point at (no call is made until it is used)."""
        return S3Lake(self.bucket, self.prefix, self.kms_key_id, self.region, self.endpoint_url)

    def apply_lifecycle(self, rules: list[dict]) -> str:
        """Replace the bucket's adlake retention rules with ``rules``, keeping all others."""
        import boto3
        from botocore.exceptions import ClientError

        s3 = boto3.session.Session().client(
            "s3", region_name=self.region, endpoint_url=self.endpoint_url
        )
        try:
            current = s3.get_bucket_lifecycle_configuration(Bucket=self.bucket)["Rules"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise
            current = []
        others = [r for r in current if not str(r.get("ID", "")).startswith(RULE_PREFIX)]
        s3.put_bucket_lifecycle_configuration(
            Bucket=self.bucket, LifecycleConfiguration={"Rules": others + rules}
        )
        return f"s3://{self.bucket}: {len(rules)} adlake rule(s) put, {len(others)} other(s) kept"
