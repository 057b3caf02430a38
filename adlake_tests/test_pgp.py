"""PGP decryption against the real gpg: round trips, signatures, every typed failure, streaming."""

from __future__ import annotations

import io
import os
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adlake.connectors.pgp import (
    BadKey,
    BadPassphrase,
    BadSignature,
    CorruptData,
    Decrypted,
    Decryptor,
    PgpError,
    PgpKeys,
    WrongKey,
    decrypted_name,
    is_encrypted_name,
)
from adlake_tests.pgp_keys import (
    PgpIdentities,
    encrypt_file,
    gpg_agents_of,
    key_ids,
    sign_file,
)

PLAIN = b"order_id,amount\n" + b"".join(b"%d,%d.99\n" % (i, i % 97) for i in range(20_000))


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "report.csv"
    path.write_bytes(PLAIN)
    return path


@pytest.fixture(scope="module")
def decryptor(pgp_identities: PgpIdentities) -> Iterator[Decryptor]:
    """Our key only: no signature required."""
    ours = pgp_identities.ours
    with Decryptor(PgpKeys(ours.private, ours.passphrase)) as decryptor:
        yield decryptor


@pytest.fixture(scope="module")
def verifying(pgp_identities: PgpIdentities) -> Iterator[Decryptor]:
    """Our key and the partner's public key: every file must be signed by the partner."""
    ids = pgp_identities
    keys = PgpKeys(ids.ours.private, ids.ours.passphrase, ids.partner.public)
    with Decryptor(keys) as decryptor:
        yield decryptor


def decrypt_into(decryptor: Decryptor, encrypted: Path, folder: Path) -> Decrypted:
    folder.mkdir(exist_ok=True)
    with encrypted.open("rb") as source:
        return decryptor.decrypt(source, str(folder / decrypted_name(encrypted.name)))


@pytest.mark.parametrize(
    ("name", "encrypted", "plain_name"),
    [
        ("a.csv.gz.pgp", True, "a.csv.gz"),
        ("A.CSV.GPG", True, "A.CSV"),
        ("report.asc", True, "report"),
        ("report.csv", False, "report.csv"),
        ("pgp", False, "pgp"),
        (".pgp", True, ".pgp"),
    ],
)
def test_names(name: str, encrypted: bool, plain_name: str) -> None:
    assert is_encrypted_name(name) is encrypted
    assert decrypted_name(name) == plain_name


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armored"])
def test_round_trip(
    decryptor: Decryptor, pgp_identities: PgpIdentities, plain: Path, armor: bool
) -> None:
    encrypted = plain.with_name("report.csv.asc" if armor else "report.csv.pgp")
    encrypt_file(plain, encrypted, pgp_identities.ours.public, armor=armor)
    result = decrypt_into(decryptor, encrypted, plain.parent / "out")
    assert (plain.parent / "out" / "report.csv").read_bytes() == PLAIN
    assert result.bytes_out == len(PLAIN)
    assert result.signer_fingerprint is None


def test_signed_by_partner_is_verified(
    verifying: Decryptor, pgp_identities: PgpIdentities, plain: Path
) -> None:
    ids = pgp_identities
    encrypted = plain.with_name("report.csv.gpg")
    encrypt_file(plain, encrypted, ids.ours.public, ids.partner.private, ids.partner.passphrase)
    result = decrypt_into(verifying, encrypted, plain.parent / "out")
    assert result.signer_fingerprint == ids.partner.fingerprint
    assert (plain.parent / "out" / "report.csv").read_bytes() == PLAIN


@pytest.mark.parametrize("clearsign", [False, True], ids=["signed", "clearsigned"])
def test_signed_only_file_is_accepted(
    verifying: Decryptor, pgp_identities: PgpIdentities, plain: Path, clearsign: bool
) -> None:
    ids = pgp_identities
    signed = plain.with_name("report.csv.asc" if clearsign else "report.csv.gpg")
    sign_file(plain, signed, ids.partner.private, ids.partner.passphrase, clearsign=clearsign)
    result = decrypt_into(verifying, signed, plain.parent / "out")
    assert result.signer_fingerprint == ids.partner.fingerprint
    assert (plain.parent / "out" / "report.csv").read_bytes() == PLAIN


def test_signature_not_required_without_partner_key(
    decryptor: Decryptor, pgp_identities: PgpIdentities, plain: Path
) -> None:
    ids = pgp_identities
    encrypted = plain.with_name("report.csv.gpg")
    encrypt_file(plain, encrypted, ids.ours.public, ids.stranger.private, ids.stranger.passphrase)
    assert decrypt_into(decryptor, encrypted, plain.parent / "out").signer_fingerprint is None


def test_any_readable_stream(
    decryptor: Decryptor, pgp_identities: PgpIdentities, plain: Path, tmp_path: Path
) -> None:
    """A stream without a file descriptor or name (like a network file) that returns short reads."""
    encrypted = plain.with_name("report.csv.gpg")
    encrypt_file(plain, encrypted, pgp_identities.ours.public)

    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return self.data.read(min(size, 1000) if size > 0 else 1000)

    result = decryptor.decrypt(Trickle(encrypted.read_bytes()), str(tmp_path / "plain.csv"))
    assert result.bytes_out == len(PLAIN)
    assert (tmp_path / "plain.csv").read_bytes() == PLAIN


def _damaged(make: Callable[[bytes], bytes]) -> Callable[[PgpIdentities, Path, Path], None]:
    def build(ids: PgpIdentities, plain: Path, target: Path) -> None:
        good = target.with_suffix(".good")
        encrypt_file(plain, good, ids.ours.public)
        target.write_bytes(make(good.read_bytes()))
        good.unlink()

    return build


def _flip(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0x40
    return bytes(damaged)


FAILURES = {
    "wrong key": (
        lambda ids, plain, target: encrypt_file(plain, target, ids.stranger.public),
        "ours",
        WrongKey,
        "is encrypted to key 0x",
    ),
    "truncated": (_damaged(lambda data: data[: len(data) // 2]), "ours", CorruptData, "truncated"),
    "bit flipped": (_damaged(_flip), "ours", CorruptData, ""),
    "plain bytes": (
        lambda ids, plain, target: target.write_bytes(PLAIN),
        "ours",
        CorruptData,
        "is not OpenPGP data",
    ),
    "random bytes": (
        lambda ids, plain, target: target.write_bytes(os.urandom(5000)),
        "ours",
        CorruptData,
        "",
    ),
    "empty": (lambda ids, plain, target: target.write_bytes(b""), "ours", CorruptData, ""),
    "bad passphrase": (
        lambda ids, plain, target: encrypt_file(plain, target, ids.ours.public),
        "wrong passphrase",
        BadPassphrase,
        "is wrong",
    ),
    "missing passphrase": (
        lambda ids, plain, target: encrypt_file(plain, target, ids.ours.public),
        "no passphrase",
        BadPassphrase,
        "none is configured",
    ),
    "unsigned": (
        lambda ids, plain, target: encrypt_file(plain, target, ids.ours.public),
        "partner",
        BadSignature,
        "is not signed",
    ),
    "signed by stranger": (
        lambda ids, plain, target: encrypt_file(
            plain, target, ids.ours.public, ids.stranger.private, ids.stranger.passphrase
        ),
        "partner",
        BadSignature,
        "a key we do not hold",
    ),
    "signed by ourselves": (
        lambda ids, plain, target: encrypt_file(
            plain, target, ids.ours.public, ids.ours.private, ids.ours.passphrase
        ),
        "partner",
        BadSignature,
        "a valid signature by another key",
    ),
    "signed only, by stranger": (
        lambda ids, plain, target: sign_file(
            plain, target, ids.stranger.private, ids.stranger.passphrase
        ),
        "partner",
        BadSignature,
        "not by the partner key",
    ),
}


def keys_for(kind: str, ids: PgpIdentities) -> PgpKeys:
    ours = ids.ours
    return {
        "ours": PgpKeys(ours.private, ours.passphrase),
        "wrong passphrase": PgpKeys(ours.private, "not-the-passphrase"),
        "no passphrase": PgpKeys(ours.private),
        "partner": PgpKeys(ours.private, ours.passphrase, ids.partner.public),
    }[kind]


def assert_no_secrets(message: str, ids: PgpIdentities) -> None:
    """No passphrase, no line of any armored key body and no line of the file in ``message``."""
    for pair in (ids.ours, ids.partner, ids.stranger):
        assert pair.passphrase not in message
        for armored in (pair.private, pair.public):
            body = [line for line in armored.splitlines() if len(line) > 20 and " " not in line]
            assert body and not any(line in message for line in body)
    assert not any(line in message for line in PLAIN.decode().splitlines()[1:50])
    assert "order_id" not in message


@pytest.mark.parametrize("case", list(FAILURES))
def test_failures(
    case: str,
    pgp_identities: PgpIdentities,
    plain: Path,
    tmp_path: Path,
    decryptor: Decryptor,
    verifying: Decryptor,
) -> None:
    build, kind, error, words = FAILURES[case]
    encrypted = tmp_path / "report.csv.pgp"
    build(pgp_identities, plain, encrypted)
    out = tmp_path / "out"
    shared = {"ours": decryptor, "partner": verifying}
    if kind in shared:
        with pytest.raises(error) as caught:
            decrypt_into(shared[kind], encrypted, out)
    else:
        with Decryptor(keys_for(kind, pgp_identities)) as own, pytest.raises(error) as caught:
            decrypt_into(own, encrypted, out)
    message = str(caught.value)
    assert words in message
    assert "Fix:" in message
    assert "report.csv.pgp" in message
    assert_no_secrets(message, pgp_identities)
    assert list(out.iterdir()) == [], "no partial or temporary output is left"


def test_wrong_key_names_the_wanted_key_and_ours(
    decryptor: Decryptor, pgp_identities: PgpIdentities, plain: Path
) -> None:
    ids = pgp_identities
    encrypted = plain.with_name("report.csv.pgp")
    encrypt_file(plain, encrypted, ids.stranger.public)
    with pytest.raises(WrongKey) as caught:
        decrypt_into(decryptor, encrypted, plain.parent / "out")
    stranger_subkey = key_ids(ids.stranger.public)[1]
    assert f"encrypted to key 0x{stranger_subkey}," in str(caught.value)
    assert f"encrypt to our public key {ids.ours.fingerprint}" in str(caught.value)


def keys_of_kind(kind: str, ids: PgpIdentities) -> PgpKeys:
    ours = ids.ours
    return {
        "public as private": PgpKeys(ours.public, ours.passphrase),
        "not a key": PgpKeys("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nnonsense\n"),
        "partner secret given": PgpKeys(ours.private, ours.passphrase, ids.partner.private),
        "partner not a key": PgpKeys(ours.private, ours.passphrase, "partner key goes here"),
    }[kind]


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("public as private", "is a public key only"),
        ("not a key", "private key is not an OpenPGP key"),
        ("partner secret given", "partner public key holds a secret key"),
        ("partner not a key", "partner public key is not an OpenPGP key"),
    ],
)
def test_bad_keys(kind: str, words: str, pgp_identities: PgpIdentities) -> None:
    decryptor = Decryptor(keys_of_kind(kind, pgp_identities))
    with pytest.raises(BadKey) as caught, decryptor:
        pass
    assert words in str(caught.value) and "Fix:" in str(caught.value)
    assert_no_secrets(str(caught.value), pgp_identities)
    assert decryptor.home is None


def test_passphrase_with_line_break_is_refused(pgp_identities: PgpIdentities) -> None:
    with pytest.raises(BadPassphrase, match="line break"):
        Decryptor(PgpKeys(pgp_identities.ours.private, "secret\n"))


def test_keys_never_shown(pgp_identities: PgpIdentities) -> None:
    ids = pgp_identities
    keys = PgpKeys(ids.ours.private, ids.ours.passphrase, ids.partner.public)
    for text in (repr(keys), repr(Decryptor(keys))):
        assert_no_secrets(text, ids)


def test_home_and_agent_are_gone_after_exit(
    pgp_identities: PgpIdentities, plain: Path, tmp_path: Path
) -> None:
    ours = pgp_identities.ours
    encrypted = plain.with_name("report.csv.pgp")
    encrypt_file(plain, encrypted, ours.public)
    with Decryptor(PgpKeys(ours.private, ours.passphrase)) as decryptor:
        home = decryptor.home
        assert home is not None and os.stat(home).st_mode & 0o777 == 0o700
        decrypt_into(decryptor, encrypted, tmp_path / "out")
        assert gpg_agents_of(home), "the decryption ran an agent of this home"
    assert not os.path.exists(home)
    deadline = time.monotonic() + 5
    while gpg_agents_of(home) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gpg_agents_of(home) == []


def test_source_read_error_is_raised_and_leaves_nothing(
    decryptor: Decryptor, pgp_identities: PgpIdentities, plain: Path, tmp_path: Path
) -> None:
    encrypted = plain.with_name("report.csv.pgp")
    encrypt_file(plain, encrypted, pgp_identities.ours.public)

    class Failing(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > 100:
                raise ConnectionResetError("connection reset by peer")
            return super().read(min(size or 100, 100))

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ConnectionResetError):
        decryptor.decrypt(Failing(encrypted.read_bytes()), str(out / "report.csv"))
    assert list(out.iterdir()) == []


def test_large_file_streams_in_bounded_memory(
    decryptor: Decryptor, pgp_identities: PgpIdentities, tmp_path: Path
) -> None:
    """110 MB of incompressible data decrypts with a Python memory peak far below its size."""
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(110):
            out.write(os.urandom(1 << 20))
    encrypted = tmp_path / "big.bin.gpg"
    encrypt_file(source, encrypted, pgp_identities.ours.public)
    source.unlink()
    tracemalloc.start()
    try:
        result = decrypt_into(decryptor, encrypted, tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.bytes_out == 110 << 20
    assert peak < 20 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_missing_gpg_binary(pgp_identities: PgpIdentities) -> None:
    decryptor = Decryptor(PgpKeys(pgp_identities.ours.private), gpg_binary="/nonexistent/gpg")
    with pytest.raises(PgpError, match="cannot run gpg .*Fix: install GnuPG"), decryptor:
        pass
    assert decryptor.home is None


def test_not_open_is_an_error(pgp_identities: PgpIdentities, tmp_path: Path) -> None:
    decryptor = Decryptor(PgpKeys(pgp_identities.ours.private))
    with pytest.raises(RuntimeError, match="not open"):
        decryptor.decrypt(io.BytesIO(b""), str(tmp_path / "x"))
    assert issubclass(WrongKey, PgpError)
