"""Streaming OpenPGP decryption of partner files with GnuPG (through python-gnupg).

A :class:`Decryptor` holds an isolated, temporary GnuPG home with our private key (and, when
configured, the partner's public key) for as long as it is open. :meth:`Decryptor.decrypt`
feeds a readable binary stream to ``gpg --decrypt`` in chunks and lets gpg write the plain file
itself, so memory stays flat for files of any size. gpg's status lines become typed errors
whose messages say what is wrong and how to fix it, and never hold a key, a passphrase or any
byte of the file.

Modules: :mod:`.decryptor` (the keys, the Decryptor and what it returns), :mod:`.errors` (the
typed errors), :mod:`.status` (reading gpg's status lines) and :mod:`.names` (which file names
are encrypted, and the plain name of each).
"""

from __future__ import annotations

from adlake.connectors.pgp.decryptor import CHUNK_SIZE, Decrypted, Decryptor, PgpKeys
from adlake.connectors.pgp.errors import (
    BadKey,
    BadPassphrase,
    BadSignature,
    CorruptData,
    PgpError,
    WrongKey,
)
from adlake.connectors.pgp.names import ENCRYPTED_PATTERNS, decrypted_name, is_encrypted_name

__all__ = [
    "CHUNK_SIZE",
    "ENCRYPTED_PATTERNS",
    "BadKey",
    "BadPassphrase",
    "BadSignature",
    "CorruptData",
    "Decrypted",
    "Decryptor",
    "PgpError",
    "PgpKeys",
    "WrongKey",
    "decrypted_name",
    "is_encrypted_name",
]
