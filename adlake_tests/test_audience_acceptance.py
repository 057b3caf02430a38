"""Acceptance: a 250,000-member segment exported, then 5% churn sends only the adds and removes.

The segment is read from clean Parquet by its SQL; each destination is a real server (the SFTP
server for the file drop, the platform emulators for the ad platforms) and the test reads back
what it holds, not only what adlake reports.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from adlake.config.segments import ExportConfig, SegmentConfig
from adlake.destinations import open_destination
from adlake.lake import Lake
from adlake.segments.export import run_export
from adlake.segments.members import segment_members
from adlake_tests.emulators.amazon_audiences import AmazonAudiencesEmulator
from adlake_tests.emulators.fixtures_ads import SleepRecorder
from adlake_tests.emulators.google_ads import GoogleAdsEmulator
from adlake_tests.emulators.lwa import LwaEmulator
from adlake_tests.emulators.meta import MetaEmulator
from adlake_tests.file_sources import sftp_drop
from adlake_tests.servers.sftp import SftpServer
from adlake_tests.test_amazon_audience_destination import destination as amazon_destination
from adlake_tests.test_google_ads_destination import destination as google_destination
from adlake_tests.test_meta_destination import destination as meta_destination

MEMBERS = 250_000
CHURN = MEMBERS // 20
SEGMENT = SegmentConfig(
    sql="SELECT email, phone_digits, phone FROM crm.contacts WHERE lifetime_value > 100",
    identifiers={"email": "email", "phone": "phone", "phone_digits": "phone_digits"},
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_clean(lake: Lake, start: int) -> None:
    """Clean crm.contacts: MEMBERS high-value contacts from ``start`` and as many low-value."""
    numbers = range(start, start + MEMBERS)
    low = range(10_000_000, 10_000_000 + MEMBERS)
    table = pa.table(
        {
            "email": [sha(f"user{n}@example.com") for n in (*numbers, *low)],
            "phone": [sha(f"+1206{n:07d}") for n in (*numbers, *low)],
            "phone_digits": [sha(f"1206{n:07d}") for n in (*numbers, *low)],
            "lifetime_value": [250.0] * MEMBERS + [5.0] * MEMBERS,
        }
    )
    path = Path(lake.full("clean/crm/contacts/dt=2026-01-01/part-0.parquet"))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def delivered_emails(root: Path) -> set[str]:
    """The audience an onboarder rebuilds from every manifest's parts, in order."""
    audience: set[str] = set()
    for folder in sorted(root.iterdir()):
        manifest = json.loads((folder / "manifest.json").read_text())
        for part in manifest["files"]:
            rows = csv.DictReader(io.StringIO((folder / part["name"]).read_text()))
            emails = {row["email"] for row in rows}
            audience = audience - emails if part["op"] == "remove" else audience | emails
    return audience


def test_250k_members_then_five_percent_churn(sftp_server: SftpServer, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    config, secrets = sftp_drop(sftp_server, rows_per_file=100_000)
    export = ExportConfig(destination="onboarder")

    def deliver():  # noqa: ANN202
        members = segment_members(lake, [("crm", "contacts")], "high_value", SEGMENT)
        return run_export(
            lake,
            "high_value",
            "onboarder",
            members,
            export,
            open_destination(config, secrets.__getitem__),
        )

    write_clean(lake, start=0)
    first = deliver()
    assert (first.target, first.added, first.removed) == (MEMBERS, MEMBERS, 0)
    write_clean(lake, start=CHURN)  # the first 5% left, as many joined
    second = deliver()
    assert (second.added, second.removed) == (CHURN, CHURN)
    drops = sftp_server.root / "drops" / "high_value"
    [_, newest] = sorted(drops.iterdir())
    manifest = json.loads((newest / "manifest.json").read_text())
    assert manifest["rows"] == {"add": CHURN, "remove": CHURN, "replace": 0}
    expected = {sha(f"user{n}@example.com") for n in range(CHURN, CHURN + MEMBERS)}
    assert delivered_emails(drops) == expected


def test_250k_members_to_meta_google_and_amazon_then_churn(
    meta_emulator: MetaEmulator,
    google_ads_emulator: GoogleAdsEmulator,
    amazon_audiences: AmazonAudiencesEmulator,
    lwa_emulator: LwaEmulator,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    targets = {
        "meta": lambda: meta_destination(meta_emulator),
        "google": lambda: google_destination(google_ads_emulator),
        "amazon": lambda: amazon_destination(amazon_audiences, lwa_emulator, sleeps),
    }
    expected = {sha(f"user{n}@example.com") for n in range(CHURN, CHURN + MEMBERS)}
    for name, make in targets.items():
        export = ExportConfig(destination=name)
        write_clean(lake, start=0)
        members = segment_members(lake, [("crm", "contacts")], "high_value", SEGMENT)
        first = run_export(lake, "high_value", name, members, export, make())
        assert (first.added, first.removed) == (MEMBERS, 0)
        write_clean(lake, start=CHURN)
        members = segment_members(lake, [("crm", "contacts")], "high_value", SEGMENT)
        second = run_export(lake, "high_value", name, members, export, make())
        assert (second.added, second.removed) == (CHURN, CHURN)
        if name == "meta":
            assert meta_emulator.values(second.audience_id, "EMAIL") == expected
            assert sha(f"1206{CHURN:07d}") in meta_emulator.values(second.audience_id, "PHONE")
            # the second run sent one removal batch and two addition batches of 12,500
            assert [len(b.rows) for b in meta_emulator.received[-3:]] == [2_500, 10_000, 2_500]
        elif name == "google":
            held = google_ads_emulator.identifiers(second.audience_id, "hashedEmail")
            assert held == expected
        else:
            assert amazon_audiences.values(second.audience_id, "email") == expected
            assert sha(f"1206{CHURN:07d}") in amazon_audiences.values(second.audience_id, "phone")
            # the second run: 12,500 DELETE then 12,500 CREATE records, at most 6,000 a request
            assert [(b.actions, b.size) for b in amazon_audiences.received[-6:]] == [
                ({"DELETE": 6_000}, 6_000),
                ({"DELETE": 6_000}, 6_000),
                ({"DELETE": 500}, 500),
                ({"CREATE": 6_000}, 6_000),
                ({"CREATE": 6_000}, 6_000),
                ({"CREATE": 500}, 500),
            ]
