"""Real OpenPGP keys and files for tests and benchmarks, made with the gpg CLI.

Every helper works in its own temporary GnuPG home and kills that home's agent before removing
it, so nothing touches the user's keyring and no gpg-agent outlives the call. Keys are ed25519
(signing) with a cv25519 encryption subkey: generating them takes milliseconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

GPG = "gpg"
GPGCONF = "gpgconf"


@dataclass(frozen=True)
class KeyPair:
    """One OpenPGP identity: armored secret and public key, primary fingerprint, passphrase."""

    name: str
    fingerprint: str
    public: str = field(repr=False)
    private: str = field(repr=False)
    passphrase: str = field(repr=False)


@dataclass(frozen=True)
class PgpIdentities:
    """The three identities of a test session.

    ``ours`` decrypts (partners encrypt to it), ``partner`` signs what it sends, ``stranger`` is
    an unrelated key that files can be wrongly encrypted to or signed by.
    """

    ours: KeyPair
    partner: KeyPair
    stranger: KeyPair


@contextmanager
def gpg_home() -> Iterator[Path]:
    """A fresh, short-named GnuPG home (mode 0700); its agent is killed and it is removed after.

    Test keys are protected with a low passphrase-hashing count, which keeps generation fast.
    """
    home = Path(tempfile.mkdtemp(prefix="pgpt-", dir=tempfile.gettempdir()))
    # the agent's default calibrates passphrase hashing to ~2 s per protected key: too slow here
    (home / "gpg-agent.conf").write_text("s2k-count 65536\n")
    try:
        yield home
    finally:
        subprocess.run(
            [GPGCONF, "--homedir", str(home), "--kill", "all"], capture_output=True, check=False
        )
        shutil.rmtree(home, ignore_errors=True)


def run_gpg(home: Path, *args: str, input: bytes | None = None) -> bytes:
    """Run gpg non-interactively in ``home``; its stdout, or AssertionError with its stderr."""
    command = [GPG, "--homedir", str(home), "--batch", "--no-tty", "--pinentry-mode", "loopback"]
    done = subprocess.run([*command, *args], input=input, capture_output=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"gpg {' '.join(args[:2])} failed: {done.stderr.decode()}")
    return done.stdout


def _passphrase_file(home: Path, passphrase: str) -> str:
    path = home / "passphrase"
    path.write_text(passphrase)
    path.chmod(0o600)
    return str(path)


def make_key_pair(name: str, passphrase: str) -> KeyPair:
    """A new ed25519/cv25519 key pair for ``name`` protected by ``passphrase``, exported armored."""
    with gpg_home() as home:
        secret = ["--passphrase-file", _passphrase_file(home, passphrase)]
        uid = f"{name} <{name.lower()}@example.test>"
        run_gpg(home, *secret, "--quick-gen-key", uid, "ed25519", "sign", "never")
        listing = run_gpg(home, "--with-colons", "--list-keys", uid).decode()
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        run_gpg(home, *secret, "--quick-add-key", fingerprint, "cv25519", "encr", "never")
        public = run_gpg(home, "--armor", "--export", fingerprint).decode()
        private = run_gpg(home, *secret, "--armor", "--export-secret-keys", fingerprint).decode()
    return KeyPair(name, fingerprint, public, private, passphrase)


def _signing_args(home: Path, signer_private: str, signer_passphrase: str | None) -> list[str]:
    run_gpg(home, "--import", input=signer_private.encode())
    listing = run_gpg(home, "--with-colons", "--list-secret-keys").decode()
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
    )
    args = ["--local-user", fingerprint, "--sign"]
    if signer_passphrase is not None:
        args[:0] = ["--passphrase-file", _passphrase_file(home, signer_passphrase)]
    return args


def encrypt_file(
    src: Path,
    dst: Path,
    recipient_public: str,
    signer_private: str | None = None,
    signer_passphrase: str | None = None,
    armor: bool = False,
) -> None:
    """Encrypt ``src`` into ``dst`` for the armored public key ``recipient_public``, as partners do.

    With ``signer_private`` (armored secret key, unlocked by ``signer_passphrase``) the file is
    also signed, in the same pass. ``armor`` writes ASCII armor (``.asc``) instead of binary.
    The recipient key is used from a file (``--recipient-file``), so it needs no trust setup.
    """
    with gpg_home() as home:
        recipient = home / "recipient.asc"
        recipient.write_text(recipient_public)
        args = ["--yes", "--output", str(dst), "--recipient-file", str(recipient), "--encrypt"]
        if signer_private is not None:
            args += _signing_args(home, signer_private, signer_passphrase)
        if armor:
            args.append("--armor")
        run_gpg(home, *args, str(src))


def sign_file(
    src: Path,
    dst: Path,
    signer_private: str,
    signer_passphrase: str | None = None,
    armor: bool = False,
    clearsign: bool = False,
) -> None:
    """Sign ``src`` into ``dst`` without encrypting it: ``gpg --sign``, or ``--clearsign``."""
    with gpg_home() as home:
        args = ["--yes", "--output", str(dst)]
        args += _signing_args(home, signer_private, signer_passphrase)
        if clearsign:
            args[-1] = "--clearsign"
        elif armor:
            args.append("--armor")
        run_gpg(home, *args, str(src))


def key_ids(armored: str) -> list[str]:
    """The long key ids (primary first, then subkeys) of an armored key, without importing it."""
    with gpg_home() as home:
        listing = run_gpg(home, "--with-colons", "--show-keys", input=armored.encode()).decode()
    records = ("pub", "sub", "sec", "ssb")
    return [line.split(":")[4] for line in listing.splitlines() if line.split(":")[0] in records]


def gpg_agents_of(home: str | os.PathLike[str]) -> list[int]:
    """The ids of running processes (gpg-agent, dirmngr) whose command line names ``home``."""
    needle = os.fsencode(os.fspath(home))
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline and b"gpg" in cmdline.split(b"\0", 1)[0]:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="session")
def pgp_identities() -> PgpIdentities:
    """Fresh key pairs of ours, the partner's and a stranger's, made once per test session."""
    return PgpIdentities(
        ours=make_key_pair("Adlake", "our-test-passphrase-7c1"),
        partner=make_key_pair("Partner", "partner-test-passphrase-52e"),
        stranger=make_key_pair("Stranger", "stranger-test-passphrase-9d4"),
    )
