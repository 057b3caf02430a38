"""Issue 7's acceptance: a tree of 1,000 files pulled from each backend, twice, through Dagster.

The tree holds plain, gzip and PGP-encrypted CSV files, corrupt ones (truncated gzip, PGP to a
key we do not hold, truncated PGP) and one large file (2 GiB; ``ADLAKE_BIG_FILE_MB`` sets
another size). It is laid on a real SFTP server, the GCS emulator,
Azurite and a moto S3 server. The sensor's run requests are executed, then executed again as a
retry would, and a second tick finds nothing: every good file is in raw exactly once with the
right bytes, every bad one is quarantined and announced on the webhook, and memory stays
bounded while the large file streams.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest
import requests

from adlake.lake import Lake
from adlake.lake.deliveries import DeliveryLedger
from adlake_tests.file_sources import orders_dataset, sftp_source, write_project
from adlake_tests.pgp_keys import encrypt_file

DAYS = [f"202603{d:02d}" for d in range(1, 11)]
BIG_NAME = "orders_20260310_big.csv"
BIG_MB = int(os.environ.get("ADLAKE_BIG_FILE_MB", "2048"))


@dataclass(frozen=True)
class Tree:
    """The files of the tree: their folder, what a good file must hold in raw, the bad ones."""

    folder: Path
    good: dict[str, str]  # name -> SHA-256 of the content clean reads (decrypted)
    bad: set[str]

    @property
    def names(self) -> list[str]:
        """Every file name, the large file included."""
        return sorted([*self.good, *self.bad, BIG_NAME])


def csv_rows(index: int) -> bytes:
    """A small CSV unique to ``index``."""
    return (
        f"order_id,email,amount\nO{index}a,user{index}@example.com,{index}.10\n"
        f"O{index}b,other{index}@example.com,{index}.20\n"
    ).encode()


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory, pgp_identities) -> Tree:
    """999 small files of every kind (the large one is written per backend)."""
    folder = tmp_path_factory.mktemp("tree")
    ours, partner, stranger = pgp_identities.ours, pgp_identities.partner, pgp_identities.stranger
    plain_dir = tmp_path_factory.mktemp("plain")
    good: dict[str, str] = {}
    bad: set[str] = set()
    for index in range(999):
        day = DAYS[index % len(DAYS)]
        rows = csv_rows(index)
        kind = index % 50
        if kind < 3:  # 60 PGP files, signed by the partner; a third of them gzip inside
            inner = gzip.compress(rows, mtime=0) if kind == 0 else rows
            name = f"orders_{day}_{index}.csv{'.gz' if kind == 0 else ''}.pgp"
            source = plain_dir / f"{index}"
            source.write_bytes(inner)
            encrypt_file(source, folder / name, ours.public, partner.private, partner.passphrase)
            good[name] = hashlib.sha256(inner).hexdigest()
        elif kind == 3:  # 20 encrypted to a key we do not hold
            name = f"orders_{day}_{index}.csv.pgp"
            source = plain_dir / f"{index}"
            source.write_bytes(rows)
            encrypt_file(
                source, folder / name, stranger.public, partner.private, partner.passphrase
            )
            bad.add(name)
        elif kind == 4:  # 20 truncated gzip
            name = f"orders_{day}_{index}.csv.gz"
            (folder / name).write_bytes(gzip.compress(rows * 50)[:-25])
            bad.add(name)
        elif kind in (5, 6, 7, 8, 9):  # 100 gzip
            name = f"orders_{day}_{index}.csv.gz"
            data = gzip.compress(rows, mtime=0)
            (folder / name).write_bytes(data)
            good[name] = hashlib.sha256(data).hexdigest()
        else:  # 799 plain
            name = f"orders_{day}_{index}.csv"
            (folder / name).write_bytes(rows)
            good[name] = hashlib.sha256(rows).hexdigest()
    truncated = sorted(n for n in good if n.endswith(".pgp"))[-1]
    data = (folder / truncated).read_bytes()
    (folder / truncated).write_bytes(data[: len(data) // 2])
    del good[truncated]
    bad.add(truncated)
    shutil.rmtree(plain_dir)
    return Tree(folder, good, bad)


def write_big(path: Path, size_mb: int) -> str:
    """A sparse CSV-looking file of ``size_mb`` MiB (header, a hole, a last line); its SHA-256."""
    header, tail = b"order_id,email,amount\n", b"\nZ1,z@example.com,1.00\n"
    size = size_mb * 1024 * 1024
    with path.open("wb") as out:
        out.write(header)
        out.truncate(size - len(tail))
        out.seek(size - len(tail))
        out.write(tail)
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def upload_to_gcs(endpoint: str, bucket: str, files: list[Path]) -> None:
    """Objects in a new bucket of the emulator, by the JSON API's media upload.

    gcsfs's own upload takes about 140 ms a file against the emulator; one POST takes 5 ms.
    """
    with requests.Session() as http:
        http.post(f"{endpoint}/storage/v1/b", json={"name": bucket}).raise_for_status()
        for path in files:
            with path.open("rb") as body:
                http.post(
                    f"{endpoint}/upload/storage/v1/b/{bucket}/o",
                    params={"uploadType": "media", "name": f"outbound/{path.name}"},
                    data=body,
                ).raise_for_status()


@dataclass(frozen=True)
class Backend:
    """One backend with the tree laid on it: the source's config and its secrets."""

    source: dict[str, Any]
    secrets: dict[str, str]
    big_sha256: str
    big_mb: int


@pytest.fixture
def backend(request: pytest.FixtureRequest, tree: Tree, tmp_path: Path) -> Iterator[Backend]:
    """The tree on the backend this test is parametrized with."""
    kind = request.param
    big = tmp_path / BIG_NAME
    if kind == "sftp":
        server = request.getfixturevalue("sftp_server")
        shutil.copytree(tree.folder, server.root / "outbound")
        sha = write_big(server.root / "outbound" / BIG_NAME, BIG_MB)
        yield Backend(*sftp_source(server), sha, BIG_MB)
        shutil.rmtree(tmp_path / "lake", ignore_errors=True)  # 2 GiB copied into raw
        return
    bucket = f"partner-{uuid.uuid4().hex[:10]}"
    size = BIG_MB
    sha = write_big(big, size)
    files = [*sorted(tree.folder.iterdir()), big]
    if kind == "gcs":
        server = request.getfixturevalue("gcs_server")
        upload_to_gcs(server.endpoint_url, bucket, files)
        source = {"kind": "gcs", "bucket": bucket, "project": server.project}
        source["endpoint"] = server.endpoint_url
        secrets: dict[str, str] = {}
    elif kind == "azure_blob":
        from adlake.connectors.files.backends import azure_blob_filesystem

        server = request.getfixturevalue("azurite_server")
        fs = azure_blob_filesystem(
            server.account_name, account_key=server.account_key, endpoint_url=server.endpoint_url
        )
        fs.mkdir(bucket)
        fs.put([str(p) for p in files], f"{bucket}/outbound/")
        source = {
            "kind": "azure_blob",
            "account_name": server.account_name,
            "container": bucket,
            "account_key": "partner_azure_key",
            "endpoint": server.endpoint_url,
        }
        secrets = {"partner_azure_key": server.account_key}
    else:
        import boto3

        endpoint = request.getfixturevalue("moto_endpoint")
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=bucket)
        for path in files:
            s3.upload_file(str(path), bucket, f"outbound/{path.name}")
        source = {
            "kind": "s3",
            "bucket": bucket,
            "region": "us-east-1",
            "endpoint": endpoint,
            "access_key_id": "partner_s3_key_id",
            "secret_access_key": "partner_s3_secret",
        }
        secrets = {"partner_s3_key_id": "testing", "partner_s3_secret": "testing"}
    big.unlink()
    yield Backend(source, secrets, sha, size)
    # the emulators of GCS and S3 keep objects in this process: free the large one
    key = f"outbound/{BIG_NAME}"
    if kind == "gcs":
        requests.delete(
            f"{server.endpoint_url}/storage/v1/b/{bucket}/o/{key.replace('/', '%2F')}"
        ).raise_for_status()
    elif kind == "s3":
        s3.delete_object(Bucket=bucket, Key=key)
    else:
        fs.rm(f"{bucket}/{key}")
    shutil.rmtree(tmp_path / "lake", ignore_errors=True)  # 2 GiB copied into raw


@pytest.mark.parametrize("backend", ["sftp", "gcs", "azure_blob", "s3"], indirect=True)
def test_a_tree_of_1000_files_lands_exactly_once(
    backend: Backend,
    tree: Tree,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    webhook: ThreadingHTTPServer,
    pgp_identities,
) -> None:
    dataset = orders_dataset(include=["orders_*"], max_files_per_run=1000)
    write_project(
        tmp_path,
        {**backend.source, "datasets": {"orders": dataset}},
        backend.secrets,
        pgp_identities,
        monkeypatch,
        webhook.server_port,
        sensors={"max_files_per_tick": 1000},
    )
    import adlake.definitions

    definitions = adlake.definitions.defs()
    sensor = next(s for s in definitions.sensors if s.name == "files_partner__orders_sensor")
    instance = dg.DagsterInstance.ephemeral()

    def tick() -> dg.SensorResult | dg.SkipReason:
        with dg.build_sensor_context(instance=instance, resources=definitions.resources) as ctx:
            return sensor(ctx)

    def execute(request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            list(definitions.assets),
            selection=["raw/partner/orders"],
            resources=definitions.resources,
            instance=instance,
            partition_key=request.partition_key,
            run_config=request.run_config,
            tags=request.tags,
        )

    first = tick()
    assert isinstance(first, dg.SensorResult)
    requests = first.run_requests or []
    assert [r.partition_key for r in requests] == [f"2026-03-{d[-2:]}" for d in DAYS]
    process = psutil.Process()
    peak_growth = 0
    for request in requests:
        before = process.memory_info().rss
        assert execute(request).success
        peak_growth = max(peak_growth, process.memory_info().rss - before)
    # a retry of every run, then the next tick: nothing is copied twice, nothing is left
    for request in requests:
        rerun = execute(request)
        materialization = rerun.asset_materializations_for_node("raw__partner__orders")[0]
        assert materialization.metadata["files_ingested"].value == 0
    assert isinstance(tick(), dg.SkipReason)

    lake = Lake(tmp_path / "lake")
    ledger = DeliveryLedger(lake, "partner", "orders")
    deliveries = ledger.for_dates([f"2026-03-{d[-2:]}" for d in DAYS])
    by_name: dict[str, list[Any]] = {}
    for delivery in deliveries:
        by_name.setdefault(delivery.extra["remote_path"].rsplit("/", 1)[-1], []).append(delivery)
    assert sorted(by_name) == tree.names
    assert all(len(found) == 1 for found in by_name.values()), "a file was recorded twice"
    for name, sha in tree.good.items():
        (delivery,) = by_name[name]
        assert delivery.status == "raw", (name, delivery.problem)
        assert hashlib.sha256(lake.read_bytes(delivery.raw_path)).hexdigest() == sha, name
    (big,) = by_name[BIG_NAME]
    assert big.status == "raw" and big.bytes == backend.big_mb * 1024 * 1024
    assert big.sha256 == backend.big_sha256
    for name in tree.bad:
        (delivery,) = by_name[name]
        assert delivery.status == "quarantined", name
    events = [json.loads(body) for _, _, body in webhook.received]
    announced = [e["files"][0] for e in events if e["kind"] == "file_quarantined"]
    assert sorted(a.rsplit("/", 1)[-1] for a in announced) == sorted(tree.bad)
    raw_bytes = sum(f.size for f in lake.list_files("raw/partner/orders"))
    assert raw_bytes >= backend.big_mb * 1024 * 1024
    # the large file streamed: the process grew by far less than its size
    assert peak_growth < 400 * 1024 * 1024, f"RSS grew {peak_growth / 1e6:.0f} MB"
