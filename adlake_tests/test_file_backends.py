"""The fsspec backends of the file sources against real servers: asyncssh SFTP, the GCS
emulator, Azurite and moto S3. Each backend writes, lists, reads, moves and deletes; its stats
give size, time, version and checksum; bad host keys and credentials fail clearly, unmasked
secrets never appear in the messages."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncssh
import fsspec
import pytest

from adlake.connectors.files.backends import (
    azure_blob_filesystem,
    gcs_filesystem,
    s3_compatible_filesystem,
    sftp_filesystem,
)
from adlake.connectors.files.errors import RemoteConnectError, check_access
from adlake.connectors.files.stats import RemoteStat, remote_stat, s3_etag_is_md5
from adlake_tests.conftest import AwsTestAccount
from adlake_tests.servers.azurite import AzuriteServer
from adlake_tests.servers.gcs import GcsServer
from adlake_tests.servers.sftp import SftpServer

BACKENDS = ("sftp", "gcs", "azure_blob", "s3")
PAYLOAD = b"day,clicks\n2026-03-09,42\n"


@dataclass(frozen=True)
class Store:
    """A filesystem of one backend and a fresh folder (bucket, container) to work in."""

    protocol: str
    fs: fsspec.AbstractFileSystem
    base: str


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """Each backend in turn, connected with valid credentials, with an empty folder."""
    name = f"adlake-{uuid.uuid4().hex[:10]}"
    if request.param == "sftp":
        server: SftpServer = request.getfixturevalue("sftp_server")
        fs = sftp_filesystem(
            server.host,
            server.port,
            server.username,
            password=server.password,
            known_hosts=str(server.known_hosts),
        )
        fs.makedirs(f"/{name}")
        yield Store("sftp", fs, f"/{name}")
    elif request.param == "gcs":
        gcs: GcsServer = request.getfixturevalue("gcs_server")
        fs = gcs_filesystem(project=gcs.project, endpoint_url=gcs.endpoint_url)
        fs.mkdir(name)
        yield Store("gcs", fs, name)
    elif request.param == "azure_blob":
        azurite: AzuriteServer = request.getfixturevalue("azurite_server")
        fs = azure_blob_filesystem(
            azurite.account_name, account_key=azurite.account_key, endpoint_url=azurite.endpoint_url
        )
        fs.mkdir(name)
        yield Store("azure_blob", fs, name)
    else:
        aws: AwsTestAccount = request.getfixturevalue("aws")
        fs = s3_compatible_filesystem(
            endpoint_url=aws.endpoint_url,
            region=aws.region,
            access_key_id="testing",
            secret_access_key="testing",
        )
        yield Store("s3", fs, aws.bucket)


def _recent(stat: RemoteStat) -> bool:
    """Whether the stat's time is within two minutes of now (the servers run here)."""
    moment = datetime.fromtimestamp(stat.mtime_ns / 1e9, tz=UTC)
    return abs(datetime.now(UTC) - moment) < timedelta(minutes=2)


def test_write_list_read_move_delete(store: Store) -> None:
    fs, base = store.fs, store.base
    path = f"{base}/in/2026-03-09/clicks.csv"
    fs.pipe_file(path, PAYLOAD)

    found = fs.find(base, detail=True)
    assert list(found) == [path]
    stat = remote_stat(store.protocol, found[path])
    assert (stat.path, stat.size) == (path, len(PAYLOAD))
    assert _recent(stat), stat
    assert remote_stat(store.protocol, fs.info(path)) == stat
    with fs.open(path, "rb") as reader:
        assert reader.read() == PAYLOAD

    moved = f"{base}/done/clicks.csv"
    if store.protocol == "sftp":
        fs.makedirs(f"{base}/done")  # a rename does not create folders; object stores have none
    fs.mv(path, moved)
    assert fs.find(base) == [moved]
    assert fs.cat_file(moved) == PAYLOAD
    fs.rm(moved)
    assert fs.find(base) == []
    with pytest.raises(FileNotFoundError):
        fs.info(moved)


def test_version_and_checksum(store: Store) -> None:
    fs, path = store.fs, f"{store.base}/report.csv"
    fs.pipe_file(path, PAYLOAD)
    first = remote_stat(store.protocol, fs.info(path))
    fs.pipe_file(path, PAYLOAD + b"2026-03-10,7\n")
    second = remote_stat(store.protocol, fs.find(store.base, detail=True)[path])

    assert second.size == len(PAYLOAD) + 13
    if store.protocol == "sftp":
        assert (first.version, first.checksum, second.version, second.checksum) == (None,) * 4
        return
    assert first.version and second.version and first.version != second.version
    assert first.checksum == ("md5", hashlib.md5(PAYLOAD).hexdigest())
    assert second.checksum == ("md5", hashlib.md5(fs.cat_file(path)).hexdigest())


def test_s3_multipart_and_kms_etags_are_not_md5(aws: AwsTestAccount) -> None:
    fs = s3_compatible_filesystem(
        endpoint_url=aws.endpoint_url,
        region=aws.region,
        access_key_id="testing",
        secret_access_key="testing",
    )
    part = os.urandom(5 * 2**20)
    with fs.open(f"{aws.bucket}/multi.bin", "wb", block_size=5 * 2**20) as writer:
        writer.write(part)
        writer.write(part)
    multipart = remote_stat("s3", fs.info(f"{aws.bucket}/multi.bin"))
    assert multipart.size == 10 * 2**20 and multipart.checksum is None
    assert multipart.version and multipart.version.endswith("-2")

    aws.client("s3").put_object(
        Bucket=aws.bucket,
        Key="kms.csv",
        Body=PAYLOAD,
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=aws.kms_key_id,
    )
    fs.pipe_file(f"{aws.bucket}/plain.csv", PAYLOAD)
    assert not s3_etag_is_md5(fs, f"{aws.bucket}/kms.csv")
    assert s3_etag_is_md5(fs, f"{aws.bucket}/plain.csv")


def test_gcs_streams_a_large_file(gcs_server: GcsServer) -> None:
    fs = gcs_filesystem(project=gcs_server.project, endpoint_url=gcs_server.endpoint_url)
    bucket = f"adlake-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    chunk = os.urandom(2**20)
    digest = hashlib.md5()
    with fs.open(f"{bucket}/big.bin", "wb", block_size=8 * 2**20) as writer:
        for _ in range(24):
            writer.write(chunk)
            digest.update(chunk)
    stat = remote_stat("gcs", fs.info(f"{bucket}/big.bin"))
    assert stat.size == 24 * 2**20
    assert stat.checksum == ("md5", digest.hexdigest())
    read = hashlib.md5()
    with fs.open(f"{bucket}/big.bin", "rb", block_size=8 * 2**20) as reader:
        while block := reader.read(4 * 2**20):
            read.update(block)
    assert read.hexdigest() == digest.hexdigest()


def test_sftp_many_files_and_a_sparse_2gb_file(sftp_server: SftpServer) -> None:
    folder = sftp_server.root / "many"
    folder.mkdir()
    for number in range(1000):
        (folder / f"f{number:04}.csv").write_bytes(b"x" * number)
    with (sftp_server.root / "sparse.bin").open("wb") as sparse:
        sparse.truncate(2 * 2**30)
    fs = sftp_filesystem(
        sftp_server.host,
        sftp_server.port,
        sftp_server.username,
        private_key=sftp_server.client_private_key,
        known_hosts=str(sftp_server.known_hosts),
    )

    found = fs.find("/many", detail=True)
    assert len(found) == 1000
    assert remote_stat("sftp", found["/many/f0999.csv"]).size == 999
    assert remote_stat("sftp", fs.info("/sparse.bin")).size == 2 * 2**30

    started, read = time.monotonic(), 0
    with fs.open("/sparse.bin", "rb") as reader:
        reader.seek(2 * 2**30 - 128 * 2**20)
        while block := reader.read(8 * 2**20):
            read += len(block)
    assert read == 128 * 2**20
    assert read / (time.monotonic() - started) > 10e6, "SFTP reads slower than 10 MB/s"


def test_sftp_encrypted_private_key(sftp_server: SftpServer) -> None:
    key = asyncssh.import_private_key(sftp_server.client_private_key)
    encrypted = key.export_private_key("pkcs8-pem", passphrase="key-passphrase-42").decode()
    arguments = (sftp_server.host, sftp_server.port, sftp_server.username)
    fs = sftp_filesystem(
        *arguments,
        private_key=encrypted,
        private_key_passphrase="key-passphrase-42",
        known_hosts=str(sftp_server.known_hosts),
    )
    assert fs.ls("/", detail=False) == []

    with pytest.raises(RemoteConnectError) as caught:
        sftp_filesystem(
            *arguments,
            private_key=encrypted,
            private_key_passphrase="wrong-passphrase-7",
            known_hosts=str(sftp_server.known_hosts),
        )
    message = str(caught.value)
    assert "private key could not be read" in message and "passphrase" in message
    assert "wrong-passphrase-7" not in message and "PRIVATE KEY" not in message


def test_sftp_unknown_host_key_stops_before_login(sftp_server: SftpServer, tmp_path) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sftp_server.port} {stranger}")

    with pytest.raises(RemoteConnectError) as caught:
        sftp_filesystem(
            sftp_server.host,
            sftp_server.port,
            sftp_server.username,
            password=sftp_server.password,
            known_hosts=str(known_hosts),
        )
    message = str(caught.value)
    assert f"127.0.0.1:{sftp_server.port}" in message
    assert "host key is unknown or changed" in message
    assert f"ssh-keyscan -p {sftp_server.port} 127.0.0.1 >> {known_hosts}" in message
    assert sftp_server.password not in message
    assert sftp_server.auth_attempts == [], "the client logged in despite the unknown host key"


def test_sftp_missing_known_hosts_file(sftp_server: SftpServer, tmp_path) -> None:
    missing = tmp_path / "nothing" / "known_hosts"
    with pytest.raises(RemoteConnectError, match="known_hosts file .* does not exist") as caught:
        sftp_filesystem(
            sftp_server.host,
            sftp_server.port,
            sftp_server.username,
            password=sftp_server.password,
            known_hosts=str(missing),
        )
    assert f"ssh-keyscan -p {sftp_server.port} 127.0.0.1 >> {missing}" in str(caught.value)
    assert sftp_server.auth_attempts == []


def test_sftp_default_known_hosts_is_the_users(
    sftp_server: SftpServer, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(RemoteConnectError, match=str(tmp_path / ".ssh" / "known_hosts")):
        sftp_filesystem(
            sftp_server.host, sftp_server.port, sftp_server.username, password=sftp_server.password
        )
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "known_hosts").write_text(sftp_server.known_hosts.read_text())
    fs = sftp_filesystem(
        sftp_server.host, sftp_server.port, sftp_server.username, password=sftp_server.password
    )
    assert fs.ls("/", detail=False) == []


def test_sftp_wrong_password(sftp_server: SftpServer) -> None:
    with pytest.raises(RemoteConnectError) as caught:
        sftp_filesystem(
            sftp_server.host,
            sftp_server.port,
            sftp_server.username,
            password="not-the-password-99",
            known_hosts=str(sftp_server.known_hosts),
            timeout=10,
        )
    message = str(caught.value)
    assert f"authentication failed for user {sftp_server.username}" in message
    assert f"127.0.0.1:{sftp_server.port}" in message
    assert "not-the-password-99" not in message and sftp_server.password not in message
    assert "not-the-password-99" not in repr(caught.value.__cause__)


def test_sftp_nothing_listening() -> None:
    from adlake_tests.servers._process import free_port

    port = free_port()
    with pytest.raises(RemoteConnectError, match=f"127.0.0.1:{port}: could not connect"):
        sftp_filesystem("127.0.0.1", port, "adlake", password="pw-123456789", host_key_check=False)


def test_azure_connection_string_and_sas(azurite_server: AzuriteServer) -> None:
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    container = f"adlake-{uuid.uuid4().hex[:10]}"
    by_string = azure_blob_filesystem(
        azurite_server.account_name, connection_string=azurite_server.connection_string
    )
    by_string.mkdir(container)
    by_string.pipe_file(f"{container}/a.csv", PAYLOAD)
    sas = generate_account_sas(
        azurite_server.account_name,
        azurite_server.account_key,
        resource_types=ResourceTypes(container=True, object=True),
        permission=AccountSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    by_sas = azure_blob_filesystem(
        azurite_server.account_name, sas_token=sas, endpoint_url=azurite_server.endpoint_url
    )
    assert by_sas.cat_file(f"{container}/a.csv") == PAYLOAD


def test_azure_wrong_key(azurite_server: AzuriteServer) -> None:
    wrong_key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk="
    fs = azure_blob_filesystem(
        azurite_server.account_name, account_key=wrong_key, endpoint_url=azurite_server.endpoint_url
    )
    with pytest.raises(RemoteConnectError) as caught:
        check_access(fs, "anything", "azure_blob devstoreaccount1")
    message = str(caught.value)
    assert (
        "authentication failed or access denied" in message and "check the credentials" in message
    )
    assert wrong_key not in message


def test_missing_bucket_is_named(aws: AwsTestAccount) -> None:
    fs = s3_compatible_filesystem(
        endpoint_url=aws.endpoint_url,
        region=aws.region,
        access_key_id="testing",
        secret_access_key="testing",
    )
    check_access(fs, aws.bucket, "s3")
    with pytest.raises(
        RemoteConnectError, match="no-such-bucket-x: the bucket, container or folder"
    ):
        check_access(fs, "no-such-bucket-x", "s3")


def test_gcs_credentials_that_are_not_json() -> None:
    secret = "-----BEGIN PRIVATE KEY----- abcdefghijklmnop"
    with pytest.raises(RemoteConnectError, match="not a JSON object") as caught:
        gcs_filesystem(credentials_json=secret, endpoint_url="http://127.0.0.1:9")
    assert secret not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@pytest.mark.parametrize(
    ("protocol", "info", "expected"),
    [
        (
            "s3",
            {
                "name": "b/k",
                "size": 9,
                "ETag": '"0471010bfb2fad1c98f2d019f79b4ea6-3"',
                "LastModified": datetime(2026, 3, 9, tzinfo=UTC),
            },
            RemoteStat("b/k", 9, 1773014400 * 10**9, "0471010bfb2fad1c98f2d019f79b4ea6-3", None),
        ),
        (
            "gcs",
            {
                "name": "b/k",
                "size": 5,
                "generation": "17",
                "crc32c": "mnG7TA==",
                "updated": "2026-03-09T00:00:00.5Z",
            },
            RemoteStat("b/k", 5, 1773014400 * 10**9 + 5 * 10**8, "17", ("crc32c", "9a71bb4c")),
        ),
        (
            "azure_blob",
            {
                "name": "c/k",
                "size": 5,
                "etag": '"0x1"',
                "content_settings": {"content_md5": None},
                "last_modified": datetime(2026, 3, 9, tzinfo=UTC),
            },
            RemoteStat("c/k", 5, 1773014400 * 10**9, "0x1", None),
        ),
        (
            "sftp",
            {"name": "/k", "size": 5, "mtime": datetime(2026, 3, 9, tzinfo=UTC)},
            RemoteStat("/k", 5, 1773014400 * 10**9, None, None),
        ),
    ],
)
def test_remote_stat_without_md5(protocol: str, info: dict, expected: RemoteStat) -> None:
    assert remote_stat(protocol, info) == expected


def test_remote_stat_unknown_protocol() -> None:
    with pytest.raises(ValueError, match="'ftp' is not one of sftp, gcs, azure_blob, s3"):
        remote_stat("ftp", {"name": "x", "size": 1})


def test_azure_anonymous_ignores_the_environment(
    azurite_server: AzuriteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.blob import BlobServiceClient, PublicAccess

    container = f"adlake-{uuid.uuid4().hex[:10]}"
    owner = BlobServiceClient.from_connection_string(azurite_server.connection_string)
    owner.create_container(container, public_access=PublicAccess.CONTAINER)
    owner.get_blob_client(container, "a.csv").upload_blob(PAYLOAD)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk=")

    anonymous = azure_blob_filesystem(
        azurite_server.account_name, endpoint_url=azurite_server.endpoint_url
    )
    assert anonymous.cat_file(f"{container}/a.csv") == PAYLOAD
