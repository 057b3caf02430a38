"""Remote files into raw, without Dagster: a real SFTP server, a moto S3 server, real GnuPG.

Each test lays files on the server, pulls them through :func:`pull_files` into a lake on
``tmp_path`` and asserts what a user would see: raw copies with manifests, each file once,
bad files quarantined with their reason, remote files deleted or moved only when safe.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from pathlib import Path

import pyarrow as pa
import pytest
from pyarrow import fs as pafs

from adlake.config import LandingConfig
from adlake.connectors.files.backends import s3_compatible_filesystem
from adlake.connectors.files.decrypt import PgpDecrypt
from adlake.connectors.files.errors import RemoteConnectError
from adlake.connectors.files.remote import FileRules, RemoteStore
from adlake.connectors.files.transfer import TransferSettings, pull_files
from adlake.connectors.pgp import PgpKeys
from adlake.lake import Lake
from adlake.lake.deliveries import DeliveryLedger
from adlake_tests.file_sources import sftp_store
from adlake_tests.pgp_keys import encrypt_file
from adlake_tests.servers.sftp import SftpServer

CSV = b"id,email\n1,a@example.com\n2,b@example.com\n"
BY_NAME = LandingConfig(date_from="filename", filename_date_format="%Y%m%d")


def put(server: SftpServer, relative: str, data: bytes) -> Path:
    """A file on the SFTP server, below its root."""
    path = server.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def pull(store, lake, rules, settings=None, decrypt=None):
    """List and pull every dataset file; the results and the ledger."""
    ledger = DeliveryLedger(lake, "partner", "orders")
    files, _ = store.list(rules)
    results = pull_files(store, ledger, files, rules, settings or TransferSettings("csv"), decrypt)
    return results, ledger


def test_new_files_land_once_and_a_changed_file_is_a_new_delivery(
    sftp_server: SftpServer, tmp_path: Path
) -> None:
    for day in ("20260301", "20260302"):
        put(sftp_server, f"out/orders_{day}.csv", CSV)
    put(sftp_server, "out/.orders_20260303.csv", CSV)  # an upload in progress
    put(sftp_server, "out/readme.txt", b"not data")
    store, lake = sftp_store(sftp_server), Lake(tmp_path / "lake")
    rules = FileRules("/out", include=("*.csv",), dating=BY_NAME)

    first, ledger = pull(store, lake, rules)
    second, _ = pull(store, lake, rules)

    assert [r.action for r in first] == ["ingested", "duplicate"]  # same bytes twice: once
    assert [r.action for r in second] == ["already_ingested", "already_ingested"]
    delivery = first[0].outcome.delivery
    assert delivery.dt == "2026-03-01"
    assert lake.read_bytes(delivery.raw_path) == CSV
    assert delivery.origin == store.url("/out/orders_20260301.csv")
    assert delivery.extra["remote_size"] == str(len(CSV))

    changed = put(sftp_server, "out/orders_20260301.csv", CSV + b"3,c@example.com\n")
    os.utime(changed, (1_900_000_000, 1_900_000_000))
    third, _ = pull(store, lake, rules)
    assert [r.action for r in third] == ["already_ingested", "ingested"]
    assert len(ledger.for_dates(["2026-03-01"])) == 2


def test_a_file_that_changes_while_copied_is_copied_again(
    sftp_server: SftpServer, tmp_path: Path
) -> None:
    remote = put(sftp_server, "out/orders_20260301.csv", CSV)
    final = CSV + b"3,c@example.com\n" * 1000
    store, lake = sftp_store(sftp_server), Lake(tmp_path / "lake")

    class ChangingOnce(pafs.FSSpecHandler):
        """Opens the real file, then the partner overwrites it on the server (once)."""

        changed = False

        def open_input_stream(self, path):  # noqa: ANN001, ANN201 - pyarrow's handler API
            stream = super().open_input_stream(path)
            if not ChangingOnce.changed:
                ChangingOnce.changed = True
                remote.write_bytes(final)
                os.utime(remote, (1_900_000_000, 1_900_000_000))
            return stream

    store.arrow = pafs.PyFileSystem(ChangingOnce(store.fs))
    rules = FileRules("/out", dating=BY_NAME)
    settings = TransferSettings("csv", settle_seconds=0)

    results, ledger = pull(store, lake, rules, settings)

    assert [r.action for r in results] == ["ingested"]
    delivery = results[0].outcome.delivery
    assert delivery.sha256 == hashlib.sha256(final).hexdigest()
    assert lake.read_bytes(delivery.raw_path) == final
    assert [d.delivery_id for d in ledger.for_dates(["2026-03-01"])] == [delivery.delivery_id]
    raw_files = lake.list_files("raw/partner/orders")
    assert [f.path for f in raw_files] == [delivery.raw_path]


@pytest.mark.parametrize("after", ["delete", "move"])
def test_remote_files_are_removed_only_once_safe_in_raw(
    sftp_server: SftpServer, tmp_path: Path, after: str
) -> None:
    put(sftp_server, "out/a/orders_20260301.csv", CSV)
    put(sftp_server, "out/orders_20260302.csv.gz", b"\x1f\x8b not really gzip")
    store, lake = sftp_store(sftp_server), Lake(tmp_path / "lake")
    move_to = "/out/done" if after == "move" else None
    rules = FileRules("/out", dating=BY_NAME, skip_under=move_to)
    settings = TransferSettings("csv", after=after, move_to=move_to)

    results, _ = pull(store, lake, rules, settings)

    assert [r.action for r in results] == ["ingested", "quarantined"]
    assert not (sftp_server.root / "out/a/orders_20260301.csv").exists()
    # a quarantined file stays on the server, where the partner can replace it
    assert (sftp_server.root / "out/orders_20260302.csv.gz").exists()
    if after == "move":
        assert (sftp_server.root / "out/done/a/orders_20260301.csv").read_bytes() == CSV
        assert results[0].cleanup == f"moved to {store.url('/out/done/a/orders_20260301.csv')}"
    again, _ = pull(store, lake, rules, settings)  # the moved file is not taken again
    assert [r.action for r in again] == ["already_ingested"]
    reason = lake.read_json(
        f"quarantine/partner/orders/dt=2026-03-02/files/{results[1].file.delivery_id}/reason.json"
    )
    assert "gzip" in reason["problem"] and reason["file"] == results[1].file.url


def test_include_exclude_and_recursion(sftp_server: SftpServer, tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv.gz", "c.tmp", "sub/d.csv", "sub/skip/e.csv", "f.CSV"):
        put(sftp_server, f"out/{name}", gzip.compress(CSV) if name.endswith(".gz") else CSV)
    store = sftp_store(sftp_server)

    def names(**kwargs) -> list[str]:
        files, _ = store.list(FileRules("/out", **kwargs))
        return sorted(f.relative for f in files)

    assert names(include=("*.csv", "*.csv.gz")) == [
        "a.csv",
        "b.csv.gz",
        "sub/d.csv",
        "sub/skip/e.csv",
    ]
    assert names(include=("*.csv",), exclude=("sub/skip/*",)) == ["a.csv", "sub/d.csv"]
    assert names(include=("*.csv",), recursive=False) == ["a.csv"]
    files, unplaced = store.list(FileRules("/out", include=("a.csv",), dating=BY_NAME))
    assert files == [] and "no date matching '%Y%m%d'" in unplaced[0].reason


def test_pgp_files_are_decrypted_and_bad_ones_quarantined(
    sftp_server: SftpServer, tmp_path: Path, pgp_identities
) -> None:
    ours, partner, stranger = pgp_identities.ours, pgp_identities.partner, pgp_identities.stranger
    plain = tmp_path / "plain.csv.gz"
    plain.write_bytes(gzip.compress(CSV))
    signed = tmp_path / "signed.pgp"
    encrypt_file(plain, signed, ours.public, partner.private, partner.passphrase)
    to_stranger = tmp_path / "stranger.pgp"
    encrypt_file(plain, to_stranger, stranger.public, partner.private, partner.passphrase)
    unsigned = tmp_path / "unsigned.pgp"
    encrypt_file(plain, unsigned, ours.public)
    put(sftp_server, "out/orders_20260301.csv.gz.pgp", signed.read_bytes())
    put(sftp_server, "out/orders_20260302.csv.gz.pgp", to_stranger.read_bytes())
    put(sftp_server, "out/orders_20260303.csv.gz.pgp", unsigned.read_bytes())
    put(sftp_server, "out/orders_20260304.csv.gz.pgp", signed.read_bytes()[:-40])
    store, lake = sftp_store(sftp_server), Lake(tmp_path / "lake")
    keys = PgpKeys(ours.private, ours.passphrase, partner.public)

    with PgpDecrypt(keys, ["*.pgp"]) as decrypt:
        results, _ = pull(store, lake, FileRules("/out", dating=BY_NAME), decrypt=decrypt)

    assert [r.action for r in results] == ["ingested"] + ["quarantined"] * 3
    good = results[0].outcome.delivery
    assert good.file_name == "orders_20260301.csv.gz"
    assert good.raw_path.endswith("/decrypted/orders_20260301.csv.gz")
    assert gzip.decompress(lake.read_bytes(good.raw_path)) == CSV
    assert lake.read_bytes(good.extra["encrypted_original"]) == signed.read_bytes()
    assert good.lines == 3
    problems = [r.outcome.delivery.problem for r in results[1:]]
    assert all(p.startswith("PGP: ") for p in problems), problems
    for problem in problems:
        assert ours.passphrase not in problem and "PRIVATE KEY" not in problem


def test_s3_compatible_copies_are_checked_against_the_etag(aws, tmp_path: Path) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="partner-exports")
    s3.put_object(Bucket="partner-exports", Key="orders/a_2026-03-01.csv", Body=CSV)
    s3.put_object(
        Bucket="partner-exports",
        Key="orders/b_2026-03-02.csv",
        Body=CSV + b"3,c@example.com\n",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=aws.kms_key_id,
    )
    fs = s3_compatible_filesystem(
        endpoint_url=aws.endpoint_url,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )
    store, lake = RemoteStore(fs, "s3", "s3:/"), Lake(tmp_path / "lake")
    rules = FileRules(
        "partner-exports/orders",
        dating=LandingConfig(date_from="filename", filename_date_format="%Y-%m-%d"),
    )
    files, _ = store.list(rules)
    assert files[0].stat.checksum == ("md5", hashlib.md5(CSV).hexdigest())

    results, _ = pull(store, lake, rules)

    # the SSE-KMS object's ETag is no MD5: it is not taken for corruption
    assert [r.action for r in results] == ["ingested", "ingested"]
    assert [r.outcome.delivery.dt for r in results] == ["2026-03-01", "2026-03-02"]


def test_a_connection_lost_mid_file_leaves_nothing_and_the_next_run_copies_it(
    sftp_server: SftpServer, tmp_path: Path
) -> None:
    data = os.urandom(9 * 1024 * 1024)  # three reads of 4 MiB
    put(sftp_server, "out/orders_20260301.csv", data)
    store, lake = sftp_store(sftp_server), Lake(tmp_path / "lake")
    healthy = store.arrow

    class BreaksAfterOneRead(pafs.FSSpecHandler):
        """The real file, whose connection drops after its first chunk."""

        def open_input_stream(self, path):  # noqa: ANN001, ANN201 - pyarrow's handler API
            real = self.fs.open(path, "rb")

            class Broken(io.RawIOBase):
                reads = 0

                def readable(self) -> bool:
                    return True

                def read(self, size: int = -1) -> bytes:
                    Broken.reads += 1
                    if Broken.reads > 1:
                        raise ConnectionResetError("connection lost")
                    return real.read(size)

                def close(self) -> None:
                    real.close()
                    super().close()

            return pa.PythonFile(Broken(), mode="r")

    store.arrow = pafs.PyFileSystem(BreaksAfterOneRead(store.fs))
    rules = FileRules("/out", dating=BY_NAME)

    broken, ledger = pull(store, lake, rules)

    assert [r.action for r in broken] == ["failed"]
    assert "connection lost" in broken[0].problem
    assert lake.list_files("raw") == []  # no partial copy, visible or hidden
    assert ledger.get("2026-03-01", broken[0].file.delivery_id) is None
    store.arrow = healthy
    retried, _ = pull(store, lake, rules)
    assert [r.action for r in retried] == ["ingested"]
    assert lake.read_bytes(retried[0].outcome.delivery.raw_path) == data


def test_a_large_file_reports_its_progress_while_it_streams(
    sftp_server: SftpServer, tmp_path: Path
) -> None:
    put(sftp_server, "out/orders_20260301.csv", b"a,b\n" + os.urandom(12 * 1024 * 1024))
    store, lake = sftp_store(sftp_server), Lake(tmp_path / "lake")
    rules = FileRules("/out", dating=BY_NAME)
    ledger = DeliveryLedger(lake, "partner", "orders")
    files, _ = store.list(rules)
    lines: list[str] = []

    pull_files(
        store, ledger, files, rules, TransferSettings("csv", progress_every=0), None, lines.append
    )

    progress = [line for line in lines if "MB copied" in line]
    assert progress, lines
    assert progress[-1].startswith(files[0].url) and "of 13 MB copied (" in progress[-1]


def test_a_misspelt_folder_or_bucket_fails_instead_of_finding_nothing(
    sftp_server: SftpServer, aws
) -> None:
    store = sftp_store(sftp_server)
    with pytest.raises(RemoteConnectError, match="/outbound.*does not exist"):
        store.list(FileRules("/outbound"))
    fs = s3_compatible_filesystem(
        endpoint_url=aws.endpoint_url,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )
    s3 = RemoteStore(fs, "s3", "s3:/")
    with pytest.raises(RemoteConnectError, match="partner-exprots.*does not exist"):
        s3.list(FileRules("partner-exprots/orders"))
    # an existing bucket whose prefix holds nothing yet simply has no files
    assert s3.list(FileRules(f"{aws.bucket}/orders")) == ([], [])


def test_encrypted_names_match_whatever_their_case(pgp_identities) -> None:
    keys = PgpKeys(pgp_identities.ours.private, pgp_identities.ours.passphrase)
    step = PgpDecrypt(keys, ["*.pgp"])
    assert step.applies_to("ORDERS.CSV.PGP") and not step.applies_to("orders.csv")
    assert step.plain_name("ORDERS.CSV.PGP") == "ORDERS.CSV"
