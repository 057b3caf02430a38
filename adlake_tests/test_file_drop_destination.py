"""The file-drop destination against a real SFTP server and S3 on moto, through the export runner.

What the receiver sees is checked: CSV parts with hashed identifiers, deltas as add/remove files,
and a manifest written last whose rows and checksums match the parts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import boto3
import pyarrow as pa
import pytest

from adlake.config.segments import ExportConfig, FileDropDestinationConfig
from adlake.destinations import open_destination
from adlake.lake import Lake
from adlake.segments.export import run_export
from adlake_tests.conftest import AwsTestAccount
from adlake_tests.file_sources import sftp_drop
from adlake_tests.servers.sftp import SftpServer


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def members(numbers: range) -> pa.Table:
    """A segment snapshot: hashed e-mail, a clear e-mail of test data, clear country."""
    return pa.table(
        {
            "member": [sha(f"m{n}") for n in numbers],
            "email": [sha(f"user{n}@example.com") for n in numbers],
            "phone": [f"(206) 555-{n:04d}" for n in numbers],
            "country": ["us" for _ in numbers],
        }
    )


def read_delivery(folder: Path) -> tuple[dict, dict[str, list[dict[str, str]]]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    parts = {
        f["name"]: list(csv.DictReader(io.StringIO((folder / f["name"]).read_text())))
        for f in manifest["files"]
    }
    for f in manifest["files"]:
        assert hashlib.sha256((folder / f["name"]).read_bytes()).hexdigest() == f["sha256"]
        assert len(parts[f["name"]]) == f["rows"]
    return manifest, parts


def test_sftp_drop_writes_hashed_parts_then_the_manifest(
    sftp_server: SftpServer, tmp_path: Path
) -> None:
    lake = Lake(tmp_path / "lake")
    config, secrets = sftp_drop(sftp_server, rows_per_file=400)
    export = ExportConfig(destination="onboarder", audience="Loyal buyers")
    first = run_export(
        lake,
        "buyers",
        "onboarder",
        members(range(1000)),
        export,
        open_destination(config, secrets.__getitem__),
    )
    assert first.added == 1000
    [folder] = (sftp_server.root / "drops" / "Loyal_buyers").iterdir()
    manifest, parts = read_delivery(folder)
    assert [f["name"] for f in manifest["files"]] == [
        "add-00000.csv",
        "add-00001.csv",
        "add-00002.csv",
    ]
    assert manifest["rows"]["add"] == 1000
    row = parts["add-00000.csv"][0]
    assert set(row) == {"email", "phone", "country"}
    assert row["phone"] == sha("+12065550000")  # clear test phone normalized to E.164, hashed
    assert row["email"] == sha("user0@example.com")  # already hashed: passed through
    assert row["country"] == "US"
    assert not list(folder.glob("*.part"))

    second = run_export(
        lake,
        "buyers",
        "onboarder",
        members(range(50, 1050)),
        export,
        open_destination(config, secrets.__getitem__),
    )
    assert (second.added, second.removed) == (50, 50)
    newest = sorted((sftp_server.root / "drops" / "Loyal_buyers").iterdir())[-1]
    manifest, parts = read_delivery(newest)
    assert manifest["rows"] == {"add": 50, "remove": 50, "replace": 0}
    removed = {r["email"] for r in parts["remove-00000.csv"]}
    assert removed == {sha(f"user{n}@example.com") for n in range(50)}


def test_s3_drop_full_refresh(aws: AwsTestAccount, tmp_path: Path) -> None:
    config = FileDropDestinationConfig(
        kind="file_drop",
        target="s3",
        url=f"s3://{aws.bucket}/audiences",
        endpoint_url=aws.endpoint_url,
    )
    export = ExportConfig(destination="drop", full_refresh=True)
    report = run_export(
        Lake(tmp_path / "lake"),
        "buyers",
        "drop",
        members(range(300)),
        export,
        open_destination(config, lambda name: pytest.fail(f"no secret expected, got {name}")),
    )
    assert report.mode == "replace"
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name=aws.region)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=aws.bucket)["Contents"]]
    assert sorted(k.rsplit("/", 1)[-1] for k in keys) == ["full-00000.csv", "manifest.json"]
    manifest_key = next(k for k in keys if k.endswith("manifest.json"))
    manifest = json.loads(s3.get_object(Bucket=aws.bucket, Key=manifest_key)["Body"].read())
    assert manifest["rows"]["replace"] == 300
    assert report.audience_id.startswith(f"s3://{aws.bucket}/audiences/buyers/")
