"""Streaming OpenPGP decryption of partner files with GnuPG (through python-gnupg).

A :class:`Decryptor` holds an isolated, temporary GnuPG home with our private key (and, when
configured, the partner's public key) for as long as it is open. :meth:`Decryptor.decrypt`
feeds a readable binary stream to ``gpg --decrypt`` in chunks and lets gpg write the plain file
itself, so memory stays flat for files of any size. gpg's status lines (read by
:mod:`~adlake.connectors.pgp.status`) become the typed errors of
:mod:`~adlake.connectors.pgp.errors`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import BinaryIO

import gnupg

from adlake.connectors.pgp import status
from adlake.connectors.pgp.errors import (
    BadKey,
    BadPassphrase,
    BadSignature,
    CorruptData,
    PgpError,
    WrongKey,
)

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class PgpKeys:
    """The keys a dataset decrypts with; ``repr`` never shows them.

    ``private_key`` is our ASCII-armored secret key (or keys), unlocked by ``passphrase``. When
    ``partner_public_key`` is set, every file must carry a valid signature made by that key.
    """

    private_key: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)
    partner_public_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Decrypted:
    """What one decryption produced: the plain size and who signed it (verified), if anyone."""

    bytes_out: int
    signer_fingerprint: str | None


class _Source:
    """The caller's stream as python-gnupg's copy thread reads it.

    Counts the bytes, keeps a read error (which is ours to raise, not gpg's), and once closed
    returns end-of-file, so that the copy thread never touches the stream after decrypt returns.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._closed = False
        self.bytes_in = 0
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        with self._lock:
            if self._closed:
                return b""
            try:
                data = self._stream.read(size)
            except BaseException as error:
                self.error = error
                raise
            self.bytes_in += len(data)
            return bytes(data)

    def close(self) -> None:
        with self._lock:
            self._closed = True


def _describe(source: BinaryIO, output_path: str) -> str:
    name = getattr(source, "name", None) or getattr(source, "path", None)
    if isinstance(name, str) and name:
        return f"file {name!r}"
    return f"the file decrypted to {output_path!r}"


class Decryptor:
    """Decrypts (and verifies) partner files with our keys in a temporary GnuPG home.

    Use as a context manager: entering creates the home and imports the keys (raising
    :class:`BadKey`); leaving kills its gpg-agent and removes it. ``decrypt`` may be called
    for many files in between, from several threads.
    """

    def __init__(self, keys: PgpKeys, gpg_binary: str = "gpg") -> None:
        if keys.passphrase and ("\n" in keys.passphrase or "\r" in keys.passphrase):
            raise BadPassphrase(
                "the configured passphrase contains a line break, which gpg cannot take; "
                "Fix: configure the passphrase without a trailing newline"
            )
        self.keys = keys
        self.gpg_binary = gpg_binary
        folder = os.path.dirname(gpg_binary)
        self.gpgconf_binary = os.path.join(folder, "gpgconf") if folder else "gpgconf"
        self.home: str | None = None
        self.our_fingerprints: tuple[str, ...] = ()
        self.our_key_ids: tuple[str, ...] = ()
        self.partner_fingerprints: frozenset[str] = frozenset()
        self._gpg: gnupg.GPG | None = None
        self._results = threading.local()

    def __repr__(self) -> str:
        return f"Decryptor(home={self.home!r}, our_fingerprints={self.our_fingerprints!r})"

    def __enter__(self) -> Decryptor:
        if self.home is not None:
            raise RuntimeError("this Decryptor is already open; use one `with` block at a time")
        self.home = tempfile.mkdtemp(prefix="pgp-", dir=tempfile.gettempdir())
        try:
            # The key copy here lives only while we are open, in a 0700 folder, and the process
            # holds the passphrase anyway: a low hashing count saves ~0.5 s per file.
            with open(os.path.join(self.home, "gpg-agent.conf"), "w") as conf:
                conf.write("s2k-count 65536\n")
            self._gpg = self._open_gpg(self.home)
            self._import_private_key()
            if self.keys.partner_public_key is not None:
                self._import_partner_key()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()

    def _open_gpg(self, home: str) -> gnupg.GPG:
        env = {name: value for name, value in os.environ.items() if name != "GPG_TTY"}
        env["LC_ALL"] = "C"
        try:
            gpg = gnupg.GPG(
                gpgbinary=self.gpg_binary,
                gnupghome=home,
                env=env,
                options=["--no-auto-key-retrieve", "--no-auto-check-trustdb"],
            )
        except (OSError, ValueError):
            raise PgpError(
                f"cannot run gpg ({self.gpg_binary!r}); "
                "Fix: install GnuPG 2.2 or later, or configure the path of its gpg binary"
            ) from None
        gpg.buffer_size = CHUNK_SIZE
        gpg.result_map = dict(gpg.result_map, crypt=self._new_result)
        return gpg

    def _new_result(self, gpg: gnupg.GPG) -> status.Recording:
        result = status.Recording(gpg)
        self._results.last = result
        return result

    def _import(self, armored: str) -> gnupg.ImportResult:
        # gpg is run here rather than through GPG.import_keys, which logs the key's first bytes
        assert self._gpg is not None
        command = self._gpg.make_args(["--import"], False)
        done = subprocess.run(
            command, input=armored.encode(), capture_output=True, env=self._gpg.env, check=False
        )
        result = gnupg.ImportResult(self._gpg)
        for line in done.stderr.decode("latin-1").splitlines():
            if line.startswith("[GNUPG:] "):
                key, _, value = line[9:].partition(" ")
                result.handle_status(key, value)
        return result

    def _import_private_key(self) -> None:
        assert self._gpg is not None
        export = "Fix: configure the output of `gpg --armor --export-secret-keys <fingerprint>`"
        result = self._import(self.keys.private_key)
        if not result.count:
            raise BadKey(f"the configured private key is not an OpenPGP key; {export}")
        if not result.sec_read:
            fingerprints = ", ".join(sorted(set(result.fingerprints)))
            raise BadKey(
                f"the configured private key is a public key only ({fingerprints}), "
                f"it holds no secret key to decrypt with; {export}"
            )
        secrets = self._gpg.list_keys(secret=True)
        usable = [key for key in secrets if "E" in (key.get("cap") or "")]
        if not usable:
            fingerprints = ", ".join(key["fingerprint"] for key in secrets)
            raise BadKey(
                f"the configured private key ({fingerprints}) has no usable encryption key "
                "(expired, revoked or signing-only); Fix: configure the secret key that the "
                "partner encrypts to, with its encryption subkey"
            )
        self.our_fingerprints = tuple(key["fingerprint"] for key in usable)
        self.our_key_ids = tuple(
            key_id for key in usable for key_id in [key["keyid"], *(s[0] for s in key["subkeys"])]
        )

    def _import_partner_key(self) -> None:
        assert self._gpg is not None and self.keys.partner_public_key is not None
        result = self._import(self.keys.partner_public_key)
        export = "Fix: configure the output of `gpg --armor --export <partner fingerprint>`"
        if not result.count:
            raise BadKey(f"the configured partner public key is not an OpenPGP key; {export}")
        if result.sec_read:
            raise BadKey(
                "the configured partner public key holds a secret key; "
                f"{export} (only their public key: their secret key must not leave them)"
            )
        primaries = sorted(set(result.fingerprints))
        fingerprints = set(primaries)
        for key in self._gpg.list_keys(keys=primaries):
            fingerprints.update(subkey[2] for subkey in key["subkeys"] if subkey[2])
        self.partner_fingerprints = frozenset(fingerprints)
        self._partner_primaries = tuple(primaries)

    def _close(self) -> None:
        home, self.home, self._gpg = self.home, None, None
        if home is None:
            return
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                [self.gpgconf_binary, "--homedir", home, "--kill", "all"],
                capture_output=True,
                check=False,
                timeout=30,
            )
        shutil.rmtree(home, ignore_errors=True)

    def decrypt(self, source: BinaryIO, output_path: str) -> Decrypted:
        """Decrypt (or just verify, for a signed-only file) ``source`` into ``output_path``.

        ``source`` is any readable binary stream; it is read in 1 MiB chunks while gpg writes
        the plain data to a temporary file beside ``output_path``, renamed on success and
        removed on failure, so a partial file never appears. Raises a :class:`PgpError`.
        """
        if self._gpg is None:
            raise RuntimeError("the Decryptor is not open; use it as `with Decryptor(keys) as d:`")
        folder = os.path.dirname(os.path.abspath(output_path))
        handle, partial = tempfile.mkstemp(
            prefix=f".{os.path.basename(output_path)}.", suffix=".part", dir=folder
        )
        os.close(handle)
        try:
            signer = self._run(source, partial, _describe(source, output_path))
            size = os.path.getsize(partial)
            os.replace(partial, output_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise
        return Decrypted(bytes_out=size, signer_fingerprint=signer)

    def _run(self, stream: BinaryIO, partial: str, what: str) -> str | None:
        assert self._gpg is not None
        source = _Source(stream)
        self._results.last = None
        copy_error: BaseException | None = None
        try:
            self._gpg.decrypt_file(
                source,
                passphrase=self.keys.passphrase or None,
                output=partial,
                always_trust=True,
                extra_args=["--pinentry-mode", "loopback"],
            )
        except OSError as error:
            # python-gnupg re-raises its copy thread's error: a broken pipe when gpg stopped
            # reading early (the status says why), or our stream's own read error
            copy_error = error
        finally:
            source.close()
        if source.error is not None:
            raise source.error
        result: status.Recording | None = self._results.last
        if result is None:
            raise copy_error or PgpError(f"gpg did not run for {what}")
        return self._check(result, what, copy_error)

    def _check(
        self, result: status.Recording, what: str, copy_error: BaseException | None
    ) -> str | None:
        lines = result.lines
        keys = {key for key, _ in lines}
        encrypted = "BEGIN_DECRYPTION" in keys or "ENC_TO" in keys
        decrypted = "DECRYPTION_OKAY" in keys
        if encrypted and not decrypted:
            self._raise_decryption_error(result, what)
        signatures = status.signatures(lines)
        if any(signature.state == "BADSIG" for signature in signatures):
            raise BadSignature(
                f"{what} carries a signature that does not match its content (altered after "
                "signing); Fix: ask the partner to resend the file, signed again"
            )
        failed = keys & {"NODATA", "BADMDC", "DECRYPTION_FAILED", "FAILURE"}
        if failed or "PLAINTEXT" not in keys or copy_error is not None:
            self._raise_corrupt(result, what, copy_error)
        if not encrypted and not signatures:
            raise CorruptData(
                f"{what} is OpenPGP data that is neither encrypted nor signed; "
                "Fix: ask the partner to encrypt the file to our public key "
                f"{self._our_key_text()}"
            )
        signer = self._check_signatures(signatures, what)
        unverified = any(s.state in ("ERRSIG", "EXPKEYSIG", "REVKEYSIG") for s in signatures)
        if result.returncode != 0 and not (unverified and not self.partner_fingerprints):
            self._raise_corrupt(result, what, copy_error)
        return signer

    def _check_signatures(self, signatures: list[status.Signature], what: str) -> str | None:
        good = [s for s in signatures if s.state == "GOODSIG" and s.fingerprint]
        if not self.partner_fingerprints:
            return good[0].primary_fingerprint if good else None
        for signature in good:
            if {signature.fingerprint, signature.primary_fingerprint} & self.partner_fingerprints:
                return signature.primary_fingerprint
        partner = ", ".join(self._partner_primaries)
        fix = f"Fix: ask the partner to sign with their key {partner}"
        if not signatures:
            raise BadSignature(
                f"{what} is not signed, but a signature by the partner key {partner} is "
                f"required; {fix} (gpg --sign --encrypt), or remove the partner public key "
                "from the configuration if files are not signed"
            )
        by = ", ".join(f"0x{s.key_id} ({self._signature_state(s)})" for s in signatures)
        raise BadSignature(
            f"{what} is signed by {by}, not by the partner key {partner}; {fix}, or configure "
            "the partner's current public key if they changed keys"
        )

    @staticmethod
    def _signature_state(signature: status.Signature) -> str:
        return {
            "GOODSIG": "a valid signature by another key",
            "ERRSIG": "a key we do not hold",
            "EXPSIG": "an expired signature",
            "EXPKEYSIG": "an expired key",
            "REVKEYSIG": "a revoked key",
        }.get(signature.state, signature.state)

    def _our_key_text(self) -> str:
        return " / ".join(self.our_fingerprints) or "(none)"

    def _raise_decryption_error(self, result: status.Recording, what: str) -> None:
        lines = result.lines
        keys = {key for key, _ in lines}
        codes = status.code(lines, ("ERROR", "FAILURE"))
        if "NO_SECKEY" in keys and "NEED_PASSPHRASE" not in keys:
            wanted = [value.split()[0] for key, value in lines if key == "ENC_TO"] or [
                value.split()[0] for key, value in lines if key == "NO_SECKEY"
            ]
            named = ", ".join(
                "a hidden recipient" if key_id == status.HIDDEN_RECIPIENT else f"0x{key_id}"
                for key_id in dict.fromkeys(wanted)
            )
            ours = ", ".join(f"0x{key_id}" for key_id in self.our_key_ids)
            raise WrongKey(
                f"{what} is encrypted to key {named}, which the configured private key is not "
                f"(it holds {self._our_key_text()}, key ids {ours}); Fix: ask the "
                "partner to encrypt to our "
                f"public key {self._our_key_text()}, or configure the matching private key"
            )
        if "BAD_PASSPHRASE" in keys or status.BAD_PASSPHRASE in codes:
            raise BadPassphrase(
                f"the passphrase of the private key {self._our_key_text()} is wrong (while "
                f"decrypting {what}); Fix: configure the passphrase that protects this key"
            )
        missing = (
            keys & {"NEED_PASSPHRASE", "MISSING_PASSPHRASE"} or codes & status.NO_PASSPHRASE_CODES
        )
        if missing and not self.keys.passphrase:
            raise BadPassphrase(
                f"the private key {self._our_key_text()} is protected by a passphrase but none "
                f"is configured (while decrypting {what}); Fix: configure its passphrase"
            )
        if missing:
            raise BadPassphrase(
                f"gpg could not unlock the private key {self._our_key_text()} with the "
                f"configured passphrase (while decrypting {what}); Fix: check the passphrase"
            )
        self._raise_corrupt(result, what, None)

    @staticmethod
    def _raise_corrupt(
        result: status.Recording, what: str, copy_error: BaseException | None
    ) -> None:
        lines = result.lines
        keys = {key for key, _ in lines}
        resend = (
            "Fix: ask the partner to resend the file, and make sure every transfer is binary "
            "(no text-mode or line-ending conversion)"
        )
        if "BADMDC" in keys:
            problem = "failed its integrity check (modified or damaged after encryption)"
        elif "NODATA" in keys and not keys & {"ENC_TO", "PLAINTEXT", "BEGIN_DECRYPTION"}:
            problem = "is not OpenPGP data (no encrypted or signed message found)"
            resend = (
                "Fix: check that the partner encrypts the file with PGP, or exclude the file "
                "name from the encrypted patterns if it is sent in the clear"
            )
        elif copy_error is not None:
            problem = "has data after the end of its OpenPGP message, which gpg did not read"
        else:
            problem = "is truncated or damaged"
        summary = status.status_summary(lines)
        raise CorruptData(
            f"{what} {problem} (gpg exit {result.returncode}; status {summary}); {resend}"
        )
