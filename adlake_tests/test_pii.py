"""PII normalization and hashing: the DuckDB SQL, its Python twin and the reference libraries agree.

A match key is only useful if it equals what ad platforms compute, so the SQL that fills the clean
zone is held to ``hashlib``/``hmac`` and, for phones, to the ``phonenumbers`` library's E.164.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import sys
import unicodedata

import duckdb
import phonenumbers
import pyarrow as pa
import pytest

from adlake.config import PiiConfig
from adlake.transform import pii

E164 = phonenumbers.PhoneNumberFormat.E164


@functools.cache
def connection() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB for the module, with the key table the clean run creates."""
    con = duckdb.connect(":memory:")
    con.execute("CREATE TEMP TABLE adlake_hmac_keys (name VARCHAR, ipad BLOB, opad BLOB)")
    return con


def run_sql(
    expression: str, values: list[str | None], keys: dict[str, bytes] | None = None
) -> list:
    """Evaluate a SQL expression over column ``v`` of a table of values, in input order.

    HMAC keys go into the ``adlake_hmac_keys`` table exactly as the clean run fills it.
    """
    con = connection()
    con.execute("DELETE FROM adlake_hmac_keys")
    for name, key in (keys or {}).items():
        ipad, opad = pii.hmac_pads(key)
        con.execute("INSERT INTO adlake_hmac_keys VALUES (?, ?, ?)", [name, ipad, opad])
    table = pa.table({"i": list(range(len(values))), "v": pa.array(values, pa.string())})
    con.register("input_values", table)
    rows = con.execute(f"SELECT {expression} FROM input_values ORDER BY i").fetchall()
    con.unregister("input_values")
    return [row[0] for row in rows]


def sql_normalized(values: list[str | None], config: PiiConfig) -> list[str | None]:
    return run_sql(pii.normalize_sql("v", config), values)


def sha256_config(identifier: str, region: str = "US") -> PiiConfig:
    return PiiConfig(policy="sha256", identifier=identifier, region=region)


# (identifier, clear value as partners send it, normalized value that is hashed)
NORMALIZED = [
    ("email", "  John.Doe@Example.COM ", "john.doe@example.com"),
    ("email", "jane+ads@Mail.Example.co.uk", "jane+ads@mail.example.co.uk"),
    ("email", "ÉLODIE@exemple.fr", "élodie@exemple.fr"),
    ("email", "john doe@example.com", None),
    ("email", "not-an-email", None),
    ("email", "   ", None),
    ("first_name", "  José ", "josé"),
    ("first_name", "Jose\u0301", "josé"),  # decomposed accent, as macOS writes it
    ("first_name", "O'Brien", "obrien"),
    ("first_name", "Anne-Marie", "annemarie"),
    ("first_name", "Zoë", "zoë"),
    ("last_name", "Müller-Lüdenscheidt", "müllerlüdenscheidt"),
    ("last_name", "de la Cruz", "delacruz"),
    ("last_name", "ΣΊΣΥΦΟΣ", "σίσυφοσ"),
    ("last_name", "'-.", None),
    ("zip", "98101-1234", "98101"),
    ("zip", " 98101 ", "98101"),
    ("zip", "981011234", "98101"),
    ("zip", "SW1A 1AA", "sw1a1aa"),
    ("maid", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
    ("maid", " 6d92078a-8246-4ba4-ae5b-76104861e7dc ", "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
    ("maid", "6D92078A82464BA4AE5B76104861E7DC", None),
    ("other", "  LOYAL-0042 ", "LOYAL-0042"),
    ("phone", "(206) 555-0134", "+12065550134"),
    ("phone", "n/a", None),
    ("phone", "555-0134", None),
]


@pytest.mark.parametrize(("identifier", "value", "expected"), NORMALIZED)
def test_sql_and_python_normalize_alike(identifier: str, value: str, expected: str | None) -> None:
    config = sha256_config(identifier)
    assert sql_normalized([value], config) == [expected]
    assert pii.normalize(value, config) == expected


def test_missing_values_stay_missing() -> None:
    for identifier in ("email", "phone", "first_name", "zip", "maid", "other"):
        config = sha256_config(identifier)
        assert sql_normalized([None, "", "  "], config) == [None, None, None]
        assert [pii.normalize(v, config) for v in (None, "", "  ")] == [None, None, None]
        assert pii.protect(None, config) is None


# phone numbers as partners write them, all valid numbers of their region
PHONES = [
    ("US", "(206) 555-0134"),
    ("US", "206-555-0134"),
    ("US", "206.555.0134"),
    ("US", "2065550134"),
    ("US", "1 206 555 0134"),
    ("US", "1-206-555-0134"),
    ("US", "+1 (206) 555-0134"),
    ("US", "  +12065550134  "),
    ("US", "+1-206-555-0134 ext. 12"),
    ("US", "(206) 555-0134 x12"),
    ("US", "011 44 20 7946 0958"),
    ("US", "+44 20 7946 0958"),
    ("GB", "020 7946 0958"),
    ("GB", "020-7946-0958"),
    ("GB", "+44 20 7946 0958"),
    ("GB", "+44 (0)20 7946 0958"),
    ("GB", "00 44 20 7946 0958"),
    ("GB", "0044 20 7946 0958"),
    ("GB", "44 20 7946 0958"),
    ("GB", "07400 123456"),
    ("GB", "+44 7400 123456"),
    ("GB", "7400 123456"),
    ("GB", "+1 206 555 0134"),
]


@pytest.mark.parametrize(("region", "value"), PHONES)
def test_phone_matches_phonenumbers_e164(region: str, value: str) -> None:
    parsed = phonenumbers.parse(value, region)
    assert phonenumbers.is_valid_number(parsed), f"test value {value!r} should be a valid number"
    expected = phonenumbers.format_number(parsed, E164)
    config = sha256_config("phone", region)
    assert sql_normalized([value], config) == [expected]
    assert pii.normalize(value, config) == expected


def example_numbers() -> list[tuple[str, str, str]]:
    """(region, written form, E.164) of phonenumbers' example numbers in three spellings."""
    found = []
    kinds = (
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    )
    spellings = (
        phonenumbers.PhoneNumberFormat.NATIONAL,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        E164,
    )
    for region in ("US", "CA", "GB", "IE", "DE", "FR", "ES", "IT", "NL", "AU", "IN", "BR", "JP"):
        for kind in kinds:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                e164 = phonenumbers.format_number(number, E164)
                found += [(region, phonenumbers.format_number(number, s), e164) for s in spellings]
    return found


def test_phone_example_numbers_of_many_regions() -> None:
    examples = example_numbers()
    assert len(examples) > 90
    wrong = []
    for region in sorted({r for r, _, _ in examples}):
        config = sha256_config("phone", region)
        cases = [(text, e164) for r, text, e164 in examples if r == region]
        from_sql = sql_normalized([text for text, _ in cases], config)
        for (text, e164), got in zip(cases, from_sql, strict=True):
            if (got, pii.normalize(text, config)) != (e164, e164):
                wrong.append((region, text, e164, got))
    assert not wrong


def test_sha256_is_plain_sha256_of_the_normalized_value() -> None:
    for identifier, value, expected in NORMALIZED:
        config = sha256_config(identifier)
        digest = run_sql(pii.hash_sql("v", config), [value])[0]
        want = hashlib.sha256(expected.encode()).hexdigest() if expected is not None else None
        assert digest == want, (identifier, value)
        assert pii.protect(value, config) == want


def test_sha256_of_a_known_email() -> None:
    # the match key documented by ad platforms for "test@example.com"
    known = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    assert run_sql(pii.hash_sql("v", sha256_config("email")), [" Test@Example.com "]) == [known]


@pytest.mark.parametrize(
    "key", [b"k", b"test-hmac-key-not-a-secret", bytes(range(64)), b"x" * 100], ids=len
)
def test_hmac_equals_python_hmac(key: bytes) -> None:
    config = PiiConfig(policy="hmac", identifier="email", secret="crm_hmac_key")
    values = ["  John.Doe@Example.COM ", "élodie@exemple.fr", "not-an-email", None]
    got = run_sql(pii.hash_sql("v", config), values, keys={"crm_hmac_key": key})
    want = [
        hmac.new(key, n.encode(), hashlib.sha256).hexdigest() if n else None
        for n in (pii.normalize(v, config) for v in values)
    ]
    assert got == want
    assert [pii.protect(v, config, key) for v in values] == want
    assert got[0] != hashlib.sha256(b"john.doe@example.com").hexdigest()


def test_hmac_key_never_appears_in_sql() -> None:
    key = b"super-secret-hmac-key-123"
    config = PiiConfig(policy="hmac", identifier="phone", secret="pos_hmac")
    sql = pii.hash_sql("v", config)
    assert sql is not None and "pos_hmac" in sql and "adlake_hmac_keys" in sql
    ipad, opad = pii.hmac_pads(key)
    for shown in (key.decode(), key.hex(), ipad.hex(), opad.hex()):
        assert shown not in sql


def test_drop_policy_keeps_nothing() -> None:
    config = PiiConfig(policy="drop", identifier="email")
    assert pii.hash_sql("v", config) is None
    assert pii.protect("john@example.com", config) is None


def test_hmac_without_key_fails_clearly() -> None:
    config = PiiConfig(policy="hmac", identifier="other", secret="crm_hmac_key")
    with pytest.raises(ValueError, match="crm_hmac_key"):
        pii.protect("L-1", config)


def test_mask_text_hides_emails_and_phone_numbers() -> None:
    line = (
        'T1,Store 7,12.50,"John.Doe+ads@Example.COM",+44 (0)20 7946 0958,(206) 555-0134,'
        "00 44 7400 123456,SKU-9"
    )
    masked = pii.mask_text(line)
    for clear in ("John.Doe", "Example.COM", "7946", "0958", "555-0134", "206", "123456"):
        assert clear not in masked, (clear, masked)
    assert masked.startswith("T1,Store 7,12.50,")
    assert masked.endswith(",SKU-9")
    assert masked.count("<email>") == 1 and masked.count("<digits>") == 3


def test_python_twin_tolerates_every_unicode_form() -> None:
    composed = unicodedata.normalize("NFC", "Zoë Ångström")
    decomposed = unicodedata.normalize("NFD", composed)
    config = sha256_config("last_name")
    assert pii.protect(composed, config) == pii.protect(decomposed, config)
    assert sql_normalized([composed, decomposed], config) == ["zoëångström"] * 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [("+1 (650) 555-1212", "16505551212"), ("(206) 555-0134", "12065550134"), ("n/a", None)],
)
def test_phone_digits_format_is_e164_without_the_plus(value: str, expected: str | None) -> None:
    # Meta matches SHA-256 of the digits with the country code and no '+' (specs README 2.6)
    config = PiiConfig(policy="sha256", identifier="phone", phone_format="digits")
    assert sql_normalized([value], config) == [expected]
    assert pii.normalize(value, config) == expected


def test_both_twins_trim_every_space_python_knows() -> None:
    assert "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()) == pii.SPACES
    config = sha256_config("email")
    values = [f"{space}Ann@Example.com{space}" for space in pii.SPACES]
    assert sql_normalized(values, config) == ["ann@example.com"] * len(values)
