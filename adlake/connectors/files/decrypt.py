"""The PGP step of a dataset as the delivery ledger calls it: which files, and how to decrypt.

Keys are read once per run into an isolated GnuPG home (:class:`~adlake.connectors.pgp.Decryptor`),
used for every file of the run, and removed with it; a failure becomes the quarantine reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import BinaryIO

from adlake.config import PgpConfig
from adlake.connectors.pgp import (
    Decryptor,
    PgpError,
    PgpKeys,
    decrypted_name,
    is_encrypted_name,
)
from adlake.lake.deliveries import DecryptFailed


class PgpDecrypt:
    """Decrypts the files whose names match ``patterns`` (all files with ``always``)."""

    def __init__(self, keys: PgpKeys, patterns: Sequence[str], always: bool = False) -> None:
        self.patterns = tuple(patterns)
        self.always = always
        self._decryptor = Decryptor(keys)

    def __enter__(self) -> PgpDecrypt:
        self._decryptor.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._decryptor.__exit__(*exc)

    def applies_to(self, name: str) -> bool:
        """Whether a file of this name is encrypted."""
        return self.always or is_encrypted_name(name, self.patterns)

    def plain_name(self, name: str) -> str:
        """The decrypted file's name: the PGP suffix removed."""
        return decrypted_name(name)

    def __call__(self, source: BinaryIO, output_path: str) -> dict[str, str]:
        """Decrypt (and verify) one file; facts for its manifest, or DecryptFailed."""
        try:
            result = self._decryptor.decrypt(source, output_path)
        except PgpError as exc:
            raise DecryptFailed(f"PGP: {exc}") from None
        return {"pgp_signed_by": result.signer_fingerprint} if result.signer_fingerprint else {}


def pgp_step(pgp: PgpConfig | None, secret: Callable[[str], str]) -> PgpDecrypt | None:
    """The decryption step a dataset's ``pgp`` settings ask for, keys read from secrets."""
    if pgp is None:
        return None
    keys = PgpKeys(
        private_key=secret(pgp.private_key),
        passphrase=secret(pgp.passphrase) if pgp.passphrase else None,
        partner_public_key=secret(pgp.partner_public_key) if pgp.partner_public_key else None,
    )
    return PgpDecrypt(keys, pgp.patterns, pgp.always)
