"""Which file names are encrypted, and the name of the plain file each decrypts to."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

ENCRYPTED_PATTERNS = ("*.pgp", "*.gpg", "*.asc")


def is_encrypted_name(name: str, patterns: Sequence[str] = ENCRYPTED_PATTERNS) -> bool:
    """Whether a file name matches one of ``patterns`` (case-insensitive), i.e. needs decrypting."""
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in patterns)


def decrypted_name(name: str) -> str:
    """The name of the plain file: ``a.csv.gz.pgp`` gives ``a.csv.gz``; other names are kept."""
    for pattern in ENCRYPTED_PATTERNS:
        suffix = pattern.lstrip("*")
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
