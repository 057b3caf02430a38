"""Match keys per platform: normalize a clear value the platform's way and SHA-256 it.

The clean zone holds adlake's canonical hashes (see :mod:`adlake.transform.pii`): e-mail trimmed
and lower-cased, phone as E.164 with '+', names as lower-case letters, zip as 5 digits. Those
are what Google, TikTok and Amazon match on; Meta hashes the phone without '+', which the
segment supplies as ``phone_digits`` (a clean column with ``phone_format: digits``). A value that
already is lower-case SHA-256 hex is passed through untouched; a clear value (zip, country,
maid, external id, or any identifier of a segment over clear test data) is normalized by the
platform's published rules (shared/specs/README.md sections 2.6-2.8; for Amazon, the
normalizers of Amazon's own "AMC Uploader from AWS" solution) and hashed when the platform
wants it hashed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping

from adlake.config import PiiConfig
from adlake.transform import pii

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# Meta's SDK strips these around every value before normalising
_META_STRIP = " \t\r\n\x00\x0b."
# Amazon folds these letters before dropping everything but a-z and 0-9 from a name
_AMAZON_FOLD = str.maketrans({"ß": "ss", "ä": "ae", "ö": "oe", "ü": "ue", "ø": "o", "æ": "ae"})


def is_sha256(value: str) -> bool:
    """Whether ``value`` already is a lower-case SHA-256 hex digest."""
    return bool(SHA256_HEX.match(value))


def sha256_hex(text: str) -> str:
    """Lower-case hex SHA-256 of UTF-8 text."""
    return hashlib.sha256(text.encode()).hexdigest()


def hashed(value: str | None, normalize: Callable[[str], str | None]) -> str | None:
    """The match key of ``value``: passed through when hashed, else normalized and hashed."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if is_sha256(text):
        return text
    normalized = normalize(text)
    return sha256_hex(normalized) if normalized else None


def _canonical(identifier: str, **options: str) -> Callable[[str], str | None]:
    config = PiiConfig(policy="sha256", identifier=identifier, **options)  # type: ignore[arg-type]
    return lambda text: pii.normalize(text, config)


email = _canonical("email")
phone_e164 = _canonical("phone")
phone_digits = _canonical("phone", phone_format="digits")
first_name = _canonical("first_name")
last_name = _canonical("last_name")
zip_code = _canonical("zip")


# the canonical normalizer of each hashed identifier, as the clean zone applies it
NORMALIZERS: dict[str, Callable[[str], str | None]] = {
    "email": email,
    "phone": phone_e164,
    "phone_digits": phone_digits,
    "first_name": first_name,
    "last_name": last_name,
    "zip": zip_code,
}


def maid(value: str) -> str | None:
    """A mobile advertising id as platforms match it unhashed: trimmed, lower case."""
    text = value.strip().lower()
    return text or None


def country(value: str) -> str | None:
    """ISO 3166-1 alpha-2, lower case (Meta hashes it; Google wants it clear in upper case)."""
    text = re.sub(r"[^a-z]", "", value.strip().lower())
    return text if len(text) == 2 else None


def meta_clean(value: str) -> str:
    """Strip what Meta's SDK strips around a value before normalising it."""
    return value.strip(_META_STRIP)


def digits_phone(member: Mapping[str, str | None], skipped: dict[str, int]) -> str | None:
    """The phone of ``member`` for platforms that hash it without '+' (Meta, Amazon).

    ``phone_digits`` when the segment has it; else a clear ``phone`` (converted when hashed);
    a ``phone`` that is only the E.164 hash cannot be converted: it is counted in ``skipped``.
    """
    value = member.get("phone_digits")
    if value is not None:
        return value
    value = member.get("phone")
    if value is not None and is_sha256(value.strip()):
        skipped["phone"] = skipped.get("phone", 0) + 1
        return None
    return value


def amazon_email(value: str) -> str | None:
    """E-mail as Amazon hashes it: lower case, only word characters, '.', '@' and '-'."""
    text = re.sub(r"[^\w.@-]+", "", value.lower())
    return text if "@" in text else None


def amazon_name(value: str) -> str | None:
    """A first or last name as Amazon hashes it: lower case, umlauts folded, only a-z and 0-9."""
    return re.sub(r"[^a-z0-9]", "", value.lower().translate(_AMAZON_FOLD)) or None
