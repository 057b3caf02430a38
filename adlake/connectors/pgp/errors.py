"""The typed errors of PGP decryption and verification.

Each message says what is wrong and how to fix it, and never holds a key, a passphrase or any
byte of the file.
"""

from __future__ import annotations


class PgpError(Exception):
    """A file could not be decrypted or verified, or the keys could not be used.

    The message says what is wrong and the fix; it never holds a key, a passphrase or any
    content of the file.
    """


class BadKey(PgpError):
    """A configured key cannot be imported, or is not the right kind (public given as private)."""


class WrongKey(PgpError):
    """The file is encrypted to a key we do not hold; the message names the key it wants."""


class BadPassphrase(PgpError):
    """The passphrase of our private key is wrong, or missing while the key needs one."""


class CorruptData(PgpError):
    """The data is not OpenPGP, or is truncated or damaged (integrity check failed)."""


class BadSignature(PgpError):
    """A signature by the partner was required but is missing, by another key, or invalid."""
