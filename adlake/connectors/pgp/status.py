"""gpg's status lines (``[GNUPG:] KEY value``) of one decryption, and what they say.

:class:`Recording` keeps every line in order; the helpers here pick out the signatures, the
gpg-agent error codes and a short summary of the failure lines, which the
:class:`~adlake.connectors.pgp.decryptor.Decryptor` turns into typed errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import gnupg

# gpg-agent error codes (the low 16 bits of gpg's ERROR/FAILURE codes)
BAD_PASSPHRASE = 11
NO_PASSPHRASE_CODES = {67, 79, 99, 177}  # no passphrase, no pin, cancelled, no pinentry
HIDDEN_RECIPIENT = "0000000000000000"


class Recording(gnupg.Crypt):
    """python-gnupg's decrypt result, keeping every status line in order for our own checks."""

    def __init__(self, gpg: gnupg.GPG) -> None:
        super().__init__(gpg)
        self.lines: list[tuple[str, str]] = []

    def handle_status(self, key: str, value: str) -> None:
        self.lines.append((key, value))
        super().handle_status(key, value)


@dataclass
class Signature:
    """One signature of a file, gathered from gpg's NEWSIG/GOODSIG/VALIDSIG/... lines."""

    state: str = ""
    key_id: str = ""
    fingerprint: str = ""
    primary_fingerprint: str = ""


def signatures(lines: list[tuple[str, str]]) -> list[Signature]:
    """Every signature the status ``lines`` report, in order, each with its state and keys."""
    found: list[Signature] = []
    states = ("GOODSIG", "BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG")
    for key, value in lines:
        if key == "NEWSIG" or (key in states and (not found or found[-1].state)):
            found.append(Signature())
        if key in states:
            found[-1].state = key
            found[-1].key_id = value.split()[0] if value else ""
        elif key == "VALIDSIG" and found:
            parts = value.split()
            found[-1].fingerprint = parts[0]
            found[-1].primary_fingerprint = parts[9] if len(parts) >= 10 else parts[0]
    return [signature for signature in found if signature.state]


def code(lines: list[tuple[str, str]], keys: tuple[str, ...]) -> set[int]:
    """The gpg-agent error codes (low 16 bits) that the lines named ``keys`` end with."""
    codes = set()
    for key, value in lines:
        if key in keys and value.split()[-1:] and value.split()[-1].isdigit():
            codes.add(int(value.split()[-1]) & 0xFFFF)
    return codes


def status_summary(lines: list[tuple[str, str]]) -> str:
    """gpg's failure status lines for a message; values only where they hold just codes."""
    shown = []
    for key, value in lines:
        if key in ("ERROR", "FAILURE", "NODATA"):
            shown.append(f"{key} {value}".strip())
        elif key in ("BADMDC", "DECRYPTION_FAILED", "UNEXPECTED", "NO_SECKEY"):
            shown.append(key)
    return ", ".join(dict.fromkeys(shown)) or "none"
