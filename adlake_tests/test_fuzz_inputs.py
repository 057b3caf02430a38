"""Generated deliveries: every row ends in clean or in quarantine, and the counts reconcile.

Hypothesis writes CSV files for the sample POS dataset and JSON-lines files for the sample CRM
contacts: well-formed rows mixed with ragged rows, stray quotes and delimiters, line breaks in
fields, huge fields, bytes that are not UTF-8, latin-1 files, BOMs, blank lines, broken JSON,
JSON that is not an object, wrong types and duplicates. Each file is landed, taken into raw
and cleaned as the assets do it. Then:

- the file is in raw or in quarantine, never lost, and the run never raises;
- ``rows_in = rows_out + duplicates + quarantined``, and the published Parquet holds
  ``rows_out`` rows and the quarantine file ``quarantined`` rows;
- every PII column of the clean file holds hashes (64 hex characters) or nulls, nothing clear.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adlake.config import DatasetConfig, EngineConfig, load_config
from adlake.lake.deliveries import DeliveryLedger
from adlake.lake.landing import landing_prefix, scan_landing
from adlake.lake.storage import Lake
from adlake.transform.clean import CleanInput, DatasetRef, clean_partitions
from adlake_tests.conftest import SAMPLE_CONFIG

CASES = int(os.environ.get("ADLAKE_FUZZ_INPUT_CASES", "60"))
DAY = "2026-03-10"
CONFIG = load_config(SAMPLE_CONFIG)
HMAC_KEYS = {"crm_hmac_key": b"fuzz-hmac-key-0123456789abcdef01"}
HASHED = re.compile(r"^[0-9a-f]{64}$")
SEEN = {"cases": 0, "rows_in": 0, "rows_out": 0, "quarantined": 0, "files_quarantined": 0}

POS_HEADER = [
    "transaction_id", "store_id", "transaction_ts", "amount", "currency", "email", "phone",
    "sku", "quantity",
]  # fmt: skip

junk_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40
) | st.sampled_from(['"', '""', ",", ";", "\t", "\n", "\r\n", "a\nb", "'", "\\", "\x00", ""])
huge = st.integers(10_000, 100_000).map(lambda n: "x" * n)


@st.composite
def pos_field(draw: st.DrawFn, column: str, n: int) -> str:
    """A field of the POS dataset: usually plausible, sometimes junk or huge."""
    good = {
        "transaction_id": f"T{n}",
        "store_id": "S1",
        "transaction_ts": f"{DAY}T10:{n % 60:02d}:00Z",
        "amount": f"{n}.25",
        "currency": "USD",
        "email": f"buyer{n}@example.com",
        "phone": f"(206) 555-{n % 10000:04d}",
        "sku": f"SKU-{n}",
        "quantity": str(n % 7),
    }[column]
    return draw(
        st.sampled_from([good] * 6 + ["", "n/a", "2026-02-30", "-1e999"]) | junk_text | huge
    )


@st.composite
def pos_file(draw: st.DrawFn) -> bytes:
    """A CSV delivery of the POS dataset, quoted properly or not, in an encoding."""
    rows = []
    for n in range(draw(st.integers(0, 25))):
        width = draw(st.sampled_from([9] * 8 + [1, 8, 10, 15]))  # ragged now and then
        fields = [draw(pos_field(POS_HEADER[i % 9], n)) for i in range(width)]
        rows.append(fields)
        if draw(st.integers(0, 9)) == 0:
            rows.append(list(fields))  # re-sent
    if draw(st.booleans()):
        out = io.StringIO()
        csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(
            [POS_HEADER, *rows]
        )
        text = out.getvalue()
    else:
        text = "\n".join(",".join(r) for r in [POS_HEADER, *rows]) + "\n"
    if draw(st.integers(0, 4)) == 0:
        text = text.replace("\n", "\n\n", draw(st.integers(1, 3)))  # blank lines
    data = text.encode("utf-8", "surrogatepass")
    choice = draw(st.sampled_from(["utf-8"] * 6 + ["bom", "latin-1", "bad-bytes"]))
    if choice == "bom":
        data = codecs.BOM_UTF8 + data
    elif choice == "latin-1":
        data = text.encode("latin-1", "replace")
    elif choice == "bad-bytes" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + b"\xff\xfe\x80" + data[at:]
    return data


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | junk_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(junk_text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def contact_line(draw: st.DrawFn, n: int) -> str:
    """One line of the CRM contacts file: a contact, a damaged one, or not JSON at all."""
    contact: dict[str, Any] = {
        "contact_id": f"C{n}",
        "email": f"Person{n}@Example.com",
        "phone": "+1 206 555 0100",
        "first_name": "Ann",
        "birth_date": "1990-01-31",
        "address": {"zip": "98101", "city": "Seattle", "country": "US"},
        "device": {"maid": "6D92078A-8246-4BA4-AE5B-76104861E7DC"},
        "opted_in": True,
        "updated_at": f"{DAY}T08:00:00Z",
    }
    kind = draw(st.sampled_from(["good"] * 5 + ["field", "drop", "junk", "array", "huge", "blank"]))
    if kind == "field":
        contact[draw(st.sampled_from(sorted(contact)))] = draw(json_value)
    elif kind == "drop":
        contact.pop(draw(st.sampled_from(sorted(contact))))
    elif kind == "junk":
        return draw(st.sampled_from(["{", "}", "null", "[1,2", "{'a': 1}", "NaN"]) | junk_text)
    elif kind == "array":
        return json.dumps([contact])
    elif kind == "huge":
        contact["first_name"] = draw(huge)
    elif kind == "blank":
        return ""
    return json.dumps(contact, ensure_ascii=draw(st.booleans()))


@st.composite
def contacts_file(draw: st.DrawFn) -> bytes:
    """A JSON-lines delivery of the CRM contacts, with duplicates and damaged lines."""
    lines = [draw(contact_line(n)) for n in range(draw(st.integers(0, 25)))]
    if lines and draw(st.booleans()):
        lines.append(lines[0])  # re-sent
    text = "\n".join(line.replace("\n", " ") for line in lines)
    data = (text + ("\n" if draw(st.booleans()) else "")).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 5)) == 0 and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + b"\xc3\x28" + data[at:]
    return data


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A folder of lakes, one per case, removed at the end."""
    with tempfile.TemporaryDirectory(prefix="adlake-fuzz-inputs-") as name:
        yield Path(name)


def land_and_clean(scratch: Path, source: str, dataset: str, name: str, data: bytes) -> None:
    """Land ``data`` as a delivery of DAY, take it into raw, clean DAY, check the promises."""
    spec: DatasetConfig = CONFIG.sources[source].datasets[dataset]
    root = Path(tempfile.mkdtemp(dir=scratch))
    lake = Lake(root / "lake")
    folder = f"dt={DAY}/" if spec.landing.date_from == "folder" else ""
    target = Path(lake.full(f"{landing_prefix(source, dataset)}/{folder}{name}"))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    placed, unplaced = scan_landing(lake, source, dataset, spec.landing)
    assert not unplaced and len(placed) == 1
    ledger = DeliveryLedger(lake, source, dataset)
    ingested = ledger.ingest(placed[0], spec.format)
    SEEN["cases"] += 1
    if ingested.action == "quarantined":  # the file as a whole: kept with its reason
        SEEN["files_quarantined"] += 1
        kept = list((root / "lake" / "quarantine").rglob("*"))
        assert any(p.name == "reason.json" for p in kept), kept
        assert not data or any(p.is_file() and p.stat().st_size == len(data) for p in kept)
        shutil.rmtree(root)
        return
    assert ingested.action == "ingested", ingested
    inputs = [
        CleanInput(d.delivery_id, lake.local_path(d.raw_path), d.dt, d.landing_path, d.lines)
        for d in ledger.for_dates([DAY])
        if d.status == "raw"
    ]
    outcome = clean_partitions(
        lake, DatasetRef(source, dataset, spec), inputs, [DAY], HMAC_KEYS, EngineConfig()
    )
    (part,) = outcome.partitions
    assert part.rows_in == part.rows_out + part.duplicates + part.quarantined, part
    clean = root / "lake" / "clean" / source / dataset / f"dt={DAY}" / "data.parquet"
    quarantine = root / "lake" / "quarantine" / source / dataset / f"dt={DAY}" / "rows.parquet"
    with duckdb.connect() as con:
        if part.clear_pii:  # a quote gone astray put an e-mail in a column without a policy
            assert not clean.exists()  # the day is NOT published, and the run log says why
        elif part.rows_out:
            assert con.execute(f"SELECT count(*) FROM '{clean}'").fetchone()[0] == part.rows_out
            for column, rule in spec.columns.items():
                if rule.pii and rule.pii.policy in ("sha256", "hmac"):
                    values = con.execute(f"SELECT DISTINCT \"{column}\" FROM '{clean}'").fetchall()
                    assert all(v is None or HASHED.match(v) for (v,) in values), (column, values)
        if part.quarantined:  # a row per line, or one row for a whole unreadable file
            lines, whole = con.execute(
                f"SELECT count(*) FILTER (error_type <> 'FILE'), count(*) FILTER "
                f"(error_type = 'FILE') FROM '{quarantine}'"
            ).fetchone()
            file_rows = max(inputs[0].lines - (1 if spec.format == "csv" else 0), 0)
            assert lines + whole * file_rows == part.quarantined, (lines, whole, part)
    SEEN["rows_in"] += part.rows_in
    SEEN["rows_out"] += part.rows_out
    SEEN["quarantined"] += part.quarantined
    shutil.rmtree(root)


FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)  # fmt: skip


@FUZZ
@given(data=pos_file())
def test_a_generated_csv_delivery_ends_in_clean_or_quarantine(data: bytes, scratch: Path) -> None:
    land_and_clean(scratch, "retail_partner", "pos_transactions", f"pos_{DAY}.csv", data)


@FUZZ
@given(data=contacts_file())
def test_a_generated_jsonl_delivery_ends_in_clean_or_quarantine(data: bytes, scratch: Path) -> None:
    land_and_clean(scratch, "crm", "contacts", "contacts.jsonl", data)


def test_the_cases_that_ran_are_reported() -> None:
    """Runs after the properties (file order): the cases and rows they pushed through."""
    print(f"\ninput fuzz: {SEEN}")
    assert SEEN["cases"] >= 2 and SEEN["rows_in"] > 0
