"""Bad deliveries get a clear message and go to quarantine; what is already clean is never lost.

Each test publishes a good delivery for a day first, then lands a bad file for the same day and
runs the real library (landing scan, delivery ledger, clean) the way the assets do. A re-run of
the partition replaces it with the result of all its deliveries, so the good rows must survive.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from adlake.config import DatasetConfig, EngineConfig, load_config
from adlake.lake.deliveries import DeliveryLedger, IngestOutcome
from adlake.lake.landing import landing_prefix, scan_landing
from adlake.lake.storage import Lake
from adlake.transform.clean import CleanInput, CleanOutcome, DatasetRef, clean_partitions
from adlake_tests.conftest import SAMPLE_CONFIG

SOURCE, DATASET = "retail_partner", "pos_transactions"
DAY = "2026-03-10"
HEADER = "transaction_id,store_id,transaction_ts,amount,currency,email,phone,sku,quantity\n"
GOOD_IDS = ["G0", "G1", "G2"]


def row(tid: str, n: int = 0, **fields: str) -> str:
    """One CSV line of the sample POS dataset; keyword arguments replace fields."""
    values = {
        "transaction_id": tid,
        "store_id": "S1",
        "transaction_ts": f"{DAY}T10:00:{n % 60:02d}Z",
        "amount": f"{n}.50",
        "currency": "USD",
        "email": f"buyer{n}.{tid.lower()}@example.com",
        "phone": f"(206) 555-{n % 10000:04d}",
        "sku": f"SKU-{n}",
        "quantity": str(n),
    }
    values.update(fields)
    return ",".join(values.values()) + "\n"


def records(con: duckdb.DuckDBPyConnection, path: str) -> list[dict]:
    """Every row of a Parquet file as a dict."""
    relation = con.sql(f"SELECT * FROM read_parquet('{path}')")
    return [dict(zip(relation.columns, values, strict=True)) for values in relation.fetchall()]


@dataclass
class PosLake:
    """A fresh lake holding the sample config's POS dataset, driven like the assets drive it."""

    lake: Lake
    spec: DatasetConfig

    @property
    def ledger(self) -> DeliveryLedger:
        return DeliveryLedger(self.lake, SOURCE, DATASET)

    def deliver(self, name: str, data: bytes) -> str:
        """Land a file as the partner would; returns its lake path."""
        path = f"{landing_prefix(SOURCE, DATASET)}/{name}"
        target = Path(self.lake.full(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return path

    def ingest(self, name: str) -> IngestOutcome:
        """Take the landed file of this name into raw (or quarantine) through the ledger."""
        placed, unplaced = scan_landing(self.lake, SOURCE, DATASET, self.spec.landing)
        assert not unplaced
        (file,) = [f for f in placed if f.name == name]
        return self.ledger.ingest(file, self.spec.format)

    def land(self, name: str, data: bytes) -> IngestOutcome:
        self.deliver(name, data)
        return self.ingest(name)

    def clean(self) -> CleanOutcome:
        """Re-run the day's clean partition from every delivery in raw, as the clean asset does."""
        inputs = [
            CleanInput(
                d.delivery_id, self.lake.local_path(d.raw_path), d.dt, d.landing_path, d.lines
            )
            for d in self.ledger.for_dates([DAY])
            if d.status == "raw"
        ]
        outcome = clean_partitions(
            self.lake, DatasetRef(SOURCE, DATASET, self.spec), inputs, [DAY], {}, EngineConfig()
        )
        (part,) = outcome.partitions
        assert part.rows_in == part.rows_out + part.duplicates + part.quarantined
        return outcome

    def clean_rows(self) -> dict[str, dict]:
        """The published clean partition, by transaction id."""
        path = self.lake.local_path(f"clean/{SOURCE}/{DATASET}/dt={DAY}/data.parquet")
        with duckdb.connect() as con:
            return {r["transaction_id"]: r for r in records(con, path)}

    def quarantined(self) -> list[dict]:
        """Rows of the day's quarantine file, in file and line order."""
        path = Path(self.lake.local_path(f"quarantine/{SOURCE}/{DATASET}/dt={DAY}/rows.parquet"))
        if not path.exists():
            return []
        with duckdb.connect() as con:
            return records(con, str(path))


@pytest.fixture
def pos(tmp_path: Path) -> PosLake:
    """A lake whose POS partition for DAY is already published from one good delivery."""
    spec = load_config(SAMPLE_CONFIG).sources[SOURCE].datasets[DATASET]
    store = PosLake(Lake(tmp_path / "lake"), spec)
    good = HEADER + "".join(row(tid, n) for n, tid in enumerate(GOOD_IDS))
    assert store.land(f"pos_{DAY}_a.csv", good.encode()).action == "ingested"
    outcome = store.clean()
    assert outcome.file_problems == [] and outcome.total("quarantined") == 0
    assert sorted(store.clean_rows()) == GOOD_IDS
    return store


def landing(name: str) -> str:
    return f"{landing_prefix(SOURCE, DATASET)}/{name}"


def test_empty_file_is_quarantined_with_reason(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    outcome = pos.land(name, b"")
    assert outcome.action == "quarantined"
    assert outcome.delivery.problem == "the file is empty (0 bytes)"
    reason = pos.lake.read_json(
        f"quarantine/{SOURCE}/{DATASET}/dt={DAY}/files/{outcome.delivery.delivery_id}/reason.json"
    )
    assert reason["file"] == landing(name)
    assert "deliver the file again" in reason["fix"]
    assert not pos.lake.exists(landing(name))
    assert pos.clean().file_problems == []
    assert sorted(pos.clean_rows()) == GOOD_IDS


def test_header_only_file_is_accepted_with_a_note(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    assert pos.land(name, HEADER.encode()).action == "ingested"
    outcome = pos.clean()
    assert outcome.total("quarantined") == 0
    assert any(landing(name) in w and "header but no rows" in w for w in outcome.warnings)
    assert sorted(pos.clean_rows()) == GOOD_IDS


def test_wrong_delimiter_names_the_setting_to_change(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    text = (HEADER + row("B0", 5) + row("B1", 6)).replace(",", ";")
    pos.land(name, text.encode())
    outcome = pos.clean()
    (problem,) = outcome.file_problems
    assert problem.startswith(f"{landing(name)} line 1: ")
    assert "looks ';'-delimited" in problem and "set csv.delimiter: ';'" in problem
    (quarantined,) = pos.quarantined()
    assert (quarantined["file"], quarantined["line"], quarantined["error_type"]) == (
        landing(name),
        1,
        "FILE",
    )
    assert outcome.total("quarantined") == 2  # the file's rows are counted, not lost silently
    assert sorted(pos.clean_rows()) == GOOD_IDS


def test_missing_declared_column_is_named(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    header = HEADER.replace(",quantity", "")
    pos.land(name, (header + row("B0", 5).rsplit(",", 1)[0] + "\n").encode())
    (problem,) = pos.clean().file_problems
    assert problem.startswith(
        f"{landing(name)} line 1: the header lacks declared column(s) quantity"
    )
    assert "Fix: ask the partner to add them" in problem
    assert sorted(pos.clean_rows()) == GOOD_IDS


def test_renamed_header_field_suggests_source(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    pos.land(name, (HEADER.replace("quantity", "Quantity") + row("B0", 5)).encode())
    (problem,) = pos.clean().file_problems
    assert "quantity: source: Quantity" in problem
    assert sorted(pos.clean_rows()) == GOOD_IDS


def test_extra_column_is_ignored_with_a_warning(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    lines = [HEADER.rstrip("\n") + ",loyalty_tier\n"]
    lines += [row(tid, n).rstrip("\n") + ",gold\n" for n, tid in enumerate(["B0", "B1"], 5)]
    pos.land(name, "".join(lines).encode())
    outcome = pos.clean()
    assert any(landing(name) in w and "loyalty_tier" in w for w in outcome.warnings)
    assert outcome.total("quarantined") == 0
    assert sorted(pos.clean_rows()) == ["B0", "B1", *GOOD_IDS]
    assert "loyalty_tier" not in pos.clean_rows()["B0"]


def test_non_utf8_line_is_quarantined_by_line(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    text = HEADER + row("B0", 5) + row("B1", 6, store_id="Cafe Ren\xe9e") + row("B2", 7)
    pos.land(name, text.encode("latin-1"))
    outcome = pos.clean()
    (bad,) = pos.quarantined()
    assert (bad["file"], bad["line"], bad["error_type"]) == (landing(name), 3, "INVALID ENCODING")
    assert bad["reason"].startswith(f"{landing(name)} line 3: ")
    assert "Fix: set csv.encoding" in bad["reason"]
    assert outcome.total("quarantined") == 1
    assert sorted(pos.clean_rows()) == ["B0", "B2", *GOOD_IDS]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (  # found by test_fuzz_inputs: DuckDB's strict reader stops the whole query
            (HEADER + row("M0", 5) + row("M1", 6).replace("\n", "\r\n") + row("M2", 7)).encode(),
            "line endings switch between",
        ),
        (
            (HEADER + row("U0", 5)).encode() + b"U1,S1,\xff\xfe\x80" + row("U1", 6).encode()[6:],
            "a field holds bytes that are not valid utf-8",
        ),
    ],
    ids=["mixed-line-endings", "invalid-utf8-in-a-field"],
)
def test_a_file_the_csv_reader_cannot_follow_is_quarantined_whole_with_the_fix(
    pos: PosLake, data: bytes, reason: str
) -> None:
    name = f"pos_{DAY}_m.csv"
    pos.land(name, data)
    outcome = pos.clean()  # the day is still published from the other delivery
    (problem,) = outcome.file_problems
    assert problem.startswith(f"{landing(name)}: ") and reason in problem and "Fix:" in problem
    (whole,) = pos.quarantined()
    assert (whole["file"], whole["error_type"]) == (landing(name), "FILE")
    assert outcome.total("quarantined") == data.count(b"\n") - 1  # every row of the file
    assert sorted(pos.clean_rows()) == GOOD_IDS


def test_truncated_gzip_is_quarantined_and_kept_in_raw(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv.gz"
    data = gzip.compress((HEADER + "".join(row(f"B{n}", n) for n in range(200))).encode())
    outcome = pos.land(name, data[: len(data) // 2])
    assert outcome.action == "quarantined"
    assert outcome.delivery.problem.startswith("truncated gzip")
    assert pos.lake.exists(outcome.delivery.raw_path)
    assert outcome.delivery.raw_path.startswith(f"raw/{SOURCE}/{DATASET}/dt={DAY}/")
    assert pos.clean().file_problems == []
    assert sorted(pos.clean_rows()) == GOOD_IDS


@pytest.mark.parametrize("compressed", [False, True], ids=["csv", "csv.gz"])
def test_quoted_newlines_are_accepted_and_later_lines_numbered(
    pos: PosLake, compressed: bool
) -> None:
    name = f"pos_{DAY}_b.csv" + (".gz" if compressed else "")
    text = (
        HEADER  # line 1
        + row("B0", 5, sku='"SKU with\nnewline"')  # lines 2-3
        + row("B1", 6, store_id='"Store ""7""\n\nannex"')  # lines 4-6
        + "\n"  # line 7: blank
        + row("B2", 7, amount="12,50")  # line 8: too many fields
        + row("B3", 8, amount="xx")  # line 9: not a decimal
        + row("", 9)  # line 10: no transaction id
        + row("B5", 10)  # line 11
        + row("B6", 11, transaction_ts="2026-01-02T10:00:00Z")  # line 12: outside the window
    )
    data = text.encode()
    pos.land(name, gzip.compress(data) if compressed else data)
    outcome = pos.clean()
    clean = pos.clean_rows()
    assert sorted(clean) == ["B0", "B1", "B5", *GOOD_IDS]
    assert clean["B0"]["sku"] == "SKU with\nnewline"
    assert clean["B1"]["store_id"] == 'Store "7"\n\nannex'
    lines = {(q["line"], q["error_type"]) for q in pos.quarantined()}
    assert lines == {(8, "TOO MANY COLUMNS"), (9, "CAST"), (10, "VALIDATION"), (12, "VALIDATION")}
    for quarantined in pos.quarantined():
        assert quarantined["reason"].startswith(f"{landing(name)} line {quarantined['line']}: ")
        assert "Fix: " in quarantined["reason"]
    assert outcome.total("quarantined") == 4


def test_row_with_too_many_fields(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    text = HEADER + row("B0", 5) + row("B1", 6).rstrip("\n") + ",EXTRA\n" + row("B2", 7)
    pos.land(name, text.encode())
    pos.clean()
    (bad,) = pos.quarantined()
    assert (bad["line"], bad["error_type"]) == (3, "TOO MANY COLUMNS")
    assert "Found: 10" in bad["reason"] and "Fix: " in bad["reason"]
    assert sorted(pos.clean_rows()) == ["B0", "B2", *GOOD_IDS]


def test_row_with_too_few_fields_is_one_quarantined_row(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    text = (
        HEADER + row("B0", 5) + f"B1,S1,{DAY}T10:00:00Z\n" + row("B2", 7) + row("B3", 8, amount="x")
    )
    pos.land(name, text.encode())
    outcome = pos.clean()
    found = [(q["line"], q["error_type"]) for q in pos.quarantined()]
    assert found == [(3, "MISSING COLUMNS"), (5, "CAST")]
    assert "Found: 3" in pos.quarantined()[0]["reason"]
    assert outcome.total("quarantined") == 2
    assert sorted(pos.clean_rows()) == ["B0", "B2", *GOOD_IDS]


def test_unparseable_date_says_how_to_write_it(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    text = HEADER + row("B0", 5) + row("B1", 6, transaction_ts="10/03/2026 10:00")
    pos.land(name, text.encode())
    pos.clean()
    (bad,) = pos.quarantined()
    assert (bad["line"], bad["error_type"]) == (3, "CAST")
    assert bad["reason"].startswith(f"{landing(name)} line 3: ")
    assert '"transaction_ts"' in bad["reason"] and "10/03/2026 10:00" in bad["reason"]
    assert "Fix: write timestamp_tz values like 2026-03-10T14:30:00Z" in bad["reason"]
    assert sorted(pos.clean_rows()) == ["B0", *GOOD_IDS]


def test_unterminated_quote_is_quarantined_with_fix(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    text = HEADER + row("B0", 5) + row("B1", 6, store_id='"S1') + row("B2", 7)
    pos.land(name, text.encode())
    pos.clean()
    (bad,) = pos.quarantined()
    assert (bad["line"], bad["error_type"]) == (3, "UNQUOTED VALUE")
    assert "fix the quoting" in bad["reason"]
    assert sorted(pos.clean_rows()) == ["B0", *GOOD_IDS]


def test_ten_times_longer_field_is_accepted(pos: PosLake) -> None:
    name = f"pos_{DAY}_b.csv"
    usual = len(row("B0", 5))
    long_sku = "L" * (10 * usual)
    pos.land(name, (HEADER + row("B0", 5) + row("B1", 6, sku=long_sku)).encode())
    outcome = pos.clean()
    assert outcome.total("quarantined") == 0
    assert pos.clean_rows()["B1"]["sku"] == long_sku


def test_clear_pii_never_reaches_quarantine(pos: PosLake) -> None:
    clear = {n: (f"Secret.Person{n}@Example.com", f"(206) 555-77{n:02d}") for n in range(1, 8)}

    def bad(tid: str, n: int, **fields: str) -> str:
        return row(tid, n, **{"email": clear[n][0], "phone": clear[n][1], **fields})

    text = (
        HEADER
        + bad("P1", 1, amount="not-a-number")
        + bad("P2", 2).rstrip("\n")
        + ",EXTRA\n"
        + f"P3,S1,{DAY}T10:00:00Z,1.00,USD,{clear[3][0]},{clear[3][1]}\n"
        + bad("", 4)
        + bad("P5", 5, transaction_ts="2025-01-01T00:00:00Z")
        + bad("P6", 6, amount="bad", email=f'"{clear[6][0]}\nsecond line"')
    )
    pos.land(f"pos_{DAY}_b.csv", text.encode())
    latin = HEADER + bad("P7", 7, store_id="Ren\xe9e")
    pos.land(f"pos_{DAY}_c.csv", latin.encode("latin-1"))
    broken = gzip.compress(text.encode())
    assert pos.land(f"pos_{DAY}_d.csv.gz", broken[: len(broken) // 2]).action == "quarantined"
    pos.clean()
    assert len(pos.quarantined()) >= 6

    texts = []
    for stored in pos.lake.list_files("quarantine"):
        path = pos.lake.local_path(stored.path)
        if stored.path.endswith(".parquet"):
            with duckdb.connect() as con:
                rows = con.execute(f"SELECT * FROM read_parquet('{path}')").fetchall()
            texts.append(json.dumps(rows, default=str))
        else:
            texts.append(Path(path).read_bytes().decode("utf-8", "replace"))
    everything = "\n".join(texts).lower()
    for email, phone in clear.values():
        assert email.split("@")[0].lower() not in everything
        assert phone[-4:] not in everything.replace("-", "")  # e.g. 7701 of (206) 555-7701
