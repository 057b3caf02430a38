"""PII normalization and hashing, written once for every engine and every connector.

Ad platforms and clean rooms match on SHA-256 of a *normalized* identifier (trimmed, lower-case
e-mail; E.164 phone; letters-only lower-case names; 5-digit US zip; lower-case MAID), so the
normalization rules decide whether a hash matches at all. Each rule exists here twice: as a SQL
expression for the bulk engine and as a Python function that the tests hold the SQL to and that
masks quarantined values.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata

import phonenumbers

from adlake.config import PiiConfig

HMAC_BLOCK = 64

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_MAID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# an extension after the number ("x12", "ext. 12", "#12") is not part of the E.164 number
_EXTENSION = r"\s*(ext\.?|extension|x|#)\s*[0-9]{1,6}\s*$"
_E164 = r"^\+[1-9][0-9]{7,14}$"


@functools.cache
def _phone_rules(region: str) -> tuple[str, str, tuple[int, ...], str]:
    """Country calling code, trunk prefix, national lengths and international prefix of a region.

    The international prefix is the region's own (011 in the US) when it is a plain digit
    string; "00" is always taken as one too.
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    lengths = tuple(sorted(set(metadata.general_desc.possible_length)))
    exit_code = metadata.international_prefix or ""
    exit_code = exit_code if exit_code.isdigit() and exit_code != "00" else ""
    return str(metadata.country_code), metadata.national_prefix or "", lengths, exit_code


# What Python's str.strip() removes around a value (every str.isspace() character). DuckDB's
# trim() alone keeps tabs, line breaks and \x1c-\x1f, so an e-mail sent as "a@b.com\t" would
# lose its hash in SQL while its Python twin kept it; both engines trim exactly this set.
SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SQL_SPACES = " || ".join(f"chr({ord(ch)})" for ch in SPACES)


def normalize_sql(expr: str, config: PiiConfig) -> str:
    """A DuckDB SQL expression that normalizes ``expr`` by identifier type (NULL if unusable)."""
    value = f"nullif(trim({expr}, {_SQL_SPACES}), '')"
    identifier = config.identifier
    if identifier == "email":
        return f"(CASE WHEN regexp_matches(lower({value}), '{_EMAIL}') THEN lower({value}) END)"
    if identifier in ("first_name", "last_name"):
        return rf"nullif(regexp_replace(lower(nfc_normalize({value})), '[^\pL]', '', 'g'), '')"
    if identifier == "zip":
        compact = rf"regexp_replace(lower({value}), '[\s-]', '', 'g')"
        return (
            f"(CASE WHEN regexp_matches({compact}, '^[0-9]{{5}}([0-9]{{4}})?$') "
            f"THEN left({compact}, 5) ELSE nullif({compact}, '') END)"
        )
    if identifier == "maid":
        return f"(CASE WHEN regexp_matches(lower({value}), '{_MAID}') THEN lower({value}) END)"
    if identifier == "phone":
        e164 = _phone_sql(value, config.region)
        return f"ltrim({e164}, '+')" if config.phone_format == "digits" else e164
    return value


def _phone_sql(value: str, region: str) -> str:
    """E.164 of a trimmed phone value, by the rules of :func:`_phone_python`."""
    code, trunk, lengths, exit_code = _phone_rules(region)
    possible = _sql_tuple(lengths)
    text, digits, e164 = "_pii_phone", "_pii_digits", "_pii_e164"
    national = digits
    if trunk:
        national = (
            f"(CASE WHEN starts_with({digits}, '{trunk}') AND length({digits}) - {len(trunk)} "
            f"IN {possible} THEN substr({digits}, {len(trunk) + 1}) ELSE {digits} END)"
        )
    exit_branch = (
        f"WHEN starts_with({digits}, '{exit_code}') "
        f"THEN '+' || substr({digits}, {len(exit_code) + 1}) "
        if exit_code
        else ""
    )
    written = (
        f"CASE WHEN starts_with(ltrim({text}), '+') THEN '+' || {digits} "
        f"WHEN starts_with({digits}, '00') THEN '+' || substr({digits}, 3) "
        f"WHEN length({national}) IN {possible} THEN '+{code}' || {national} "
        f"{exit_branch}"
        f"WHEN starts_with({digits}, '{code}') AND length({digits}) - {len(code)} "
        f"IN {possible} THEN '+' || {digits} END"
    )
    checked = _let(written, e164, f"CASE WHEN regexp_matches({e164}, '{_E164}') THEN {e164} END")
    # "+44 (0)20 ..." writes the trunk prefix that international dialing leaves out
    cleaned = f"replace(regexp_replace({value}, '{_EXTENSION}', '', 'i'), '(0)', '')"
    return _let(cleaned, text, _let(f"regexp_replace({text}, '[^0-9]', '', 'g')", digits, checked))


def _let(value: str, name: str, body: str) -> str:
    """SQL of ``body`` with ``name`` bound to ``value``, so that ``value`` is computed once.

    DuckDB evaluates a sub-expression again wherever it is repeated (in every CASE branch);
    a one-element list mapped by a lambda computes it once per row. ``name`` is a lambda
    parameter and must differ from the column names of the query.
    """
    return f"list_transform([{value}], lambda {name}: {body})[1]"


def _sql_tuple(values: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(v) for v in values) + ")"


def hash_sql(expr: str, config: PiiConfig) -> str | None:
    """SQL for the clean value of a PII column: hex digest, or None when the column is dropped.

    HMAC keys are never written into SQL text: they are read from the ``adlake_hmac_keys``
    table that the engine fills with bound parameters.
    """
    if config.policy == "drop":
        return None
    normalized = normalize_sql(expr, config)
    if config.policy == "sha256":
        return f"sha256({normalized})"
    key = f"(SELECT {{pad}} FROM adlake_hmac_keys WHERE name = '{config.secret}')"
    inner = f"sha256({key.format(pad='ipad')} || encode({normalized}))"
    return f"sha256({key.format(pad='opad')} || unhex({inner}))"


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The inner and outer HMAC-SHA256 pads of a key (RFC 2104), for the engine's key table."""
    if len(key) > HMAC_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(HMAC_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def normalize(value: str | None, config: PiiConfig) -> str | None:
    """The Python twin of :func:`normalize_sql`, used by tests and to mask quarantined values."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    identifier = config.identifier
    if identifier == "email":
        text = text.lower()
        return text if re.match(_EMAIL, text) else None
    if identifier in ("first_name", "last_name"):
        # character by character, as DuckDB's lower() does (no final-sigma rule)
        lowered = "".join(ch.lower() for ch in unicodedata.normalize("NFC", text))
        return "".join(ch for ch in lowered if ch.isalpha()) or None
    if identifier == "zip":
        compact = re.sub(r"[ \t\n\f\r-]", "", text.lower())  # RE2's \s, as the SQL twin
        return compact[:5] if re.fullmatch(r"[0-9]{5}([0-9]{4})?", compact) else compact or None
    if identifier == "maid":
        text = text.lower()
        return text if re.match(_MAID, text) else None
    if identifier == "phone":
        e164 = _phone_python(text, config.region)
        return e164.lstrip("+") if e164 and config.phone_format == "digits" else e164
    return text


def _phone_python(text: str, region: str) -> str | None:
    code, trunk, lengths, exit_code = _phone_rules(region)
    text = re.sub(_EXTENSION, "", text, flags=re.IGNORECASE).replace("(0)", "")
    digits = re.sub(r"[^0-9]", "", text)
    national = digits
    if trunk and digits.startswith(trunk) and len(digits) - len(trunk) in lengths:
        national = digits[len(trunk) :]
    if text.startswith("+"):
        e164 = "+" + digits
    elif digits.startswith("00"):
        e164 = "+" + digits[2:]
    elif len(national) in lengths:
        e164 = f"+{code}{national}"
    elif exit_code and digits.startswith(exit_code):
        e164 = "+" + digits[len(exit_code) :]
    elif digits.startswith(code) and len(digits) - len(code) in lengths:
        e164 = "+" + digits
    else:
        return None
    return e164 if re.fullmatch(r"\+[1-9][0-9]{7,14}", e164) else None


def protect(value: str | None, config: PiiConfig, hmac_key: bytes | None = None) -> str | None:
    """The Python twin of :func:`hash_sql`: what the clean zone holds for a clear value."""
    if config.policy == "drop":
        return None
    normalized = normalize(value, config)
    if normalized is None:
        return None
    if config.policy == "sha256":
        return hashlib.sha256(normalized.encode()).hexdigest()
    if hmac_key is None:
        raise ValueError(f"the HMAC key '{config.secret}' is needed to protect this value")
    return hmac.new(hmac_key, normalized.encode(), hashlib.sha256).hexdigest()


# An e-mail's local part starts where a run of local-part characters starts: a match is never
# tried from inside a run, so a 100,000-character field costs one pass, not 100,000.
_EMAIL_ANYWHERE = re.compile(r"(?<![^@\s,;\"'])[^@\s,;\"']++@[^@\s,;\"']+\.[A-Za-z]{2,}")
# From a digit to the last digit of the run of phone characters after it: one pass per run.
_DIGITS_CORE = re.compile(r"\+?\d(?:[\d\s().-]*\d)?")
_MIN_DIGITS_CORE = 8  # a digit, six more characters, a digit: "555 0134" and longer


def mask_text(text: str) -> str:
    """Mask anything in free text that looks like an e-mail or phone number.

    Used on lines that could not be parsed into columns, where the PII columns cannot be told
    apart from the rest: quarantine keeps the shape of the line, never the identifier. Both
    patterns run in time linear in the line, however long its fields (a line DuckDB rejects
    as too long is exactly the one to mask).
    """
    while (masked := _EMAIL_ANYWHERE.sub("<email>", text)) != text:  # glued: a@b.coc@d.com
        text = masked
    return _DIGITS_CORE.sub(_digits, text)


def _digits(core: re.Match[str]) -> str:
    """Digits from first to last with what separates them, masked when long enough."""
    text = core.group()
    return "<digits>" if len(text.lstrip("+")) >= _MIN_DIGITS_CORE else text
