"""Segments over the clean zone and their guarded, resumable export (adlake.segments).

The destination here is an in-memory platform that records what it received, so the runner's
own promises can be checked exactly: deltas, guards, dry runs and resume after a crash. The
platform clients themselves are tested against their emulators.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pydantic import TypeAdapter

from adlake.config.segments import DestinationConfig, ExportConfig, SegmentConfig
from adlake.destinations.base import AudienceSpec, BatchInfo, BatchResult, FinishResult, Member
from adlake.lake import Lake
from adlake.segments.export import ExportRefused, export_folder, run_export
from adlake.segments.members import SegmentError, segment_members


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Platform:
    """An audience platform in memory; ``crash_after`` raises after that many batches."""

    platform = "memory"
    min_members = 0
    supports_replace = True

    def __init__(self, batch_size: int = 100) -> None:
        self.batch_size = batch_size
        self.members: set[str] = set()
        self.batches: list[tuple[str, int]] = []
        self.crash_after: int | None = None
        self.created = 0

    def prepare(self, audience: AudienceSpec, state: dict) -> str:
        if "audience_id" not in state:
            self.created += 1
            state["audience_id"] = f"aud-{audience.name}"
        return state["audience_id"]

    def send(self, members: Sequence[Member], info: BatchInfo, state: dict) -> BatchResult:
        if self.crash_after is not None and len(self.batches) >= self.crash_after:
            raise ConnectionError("the platform went away")
        emails = {m["email"] for m in members}
        if info.op == "replace" and info.first:
            self.members = set()
        if info.op == "remove":
            self.members -= emails
        else:
            self.members |= emails
        self.batches.append((info.op, len(members)))
        return BatchResult(sent=len(members))

    def finish(self, state: dict) -> FinishResult:
        return FinishResult(audience_id=state["audience_id"], match_rate="MATCH_RANGE_91_TO_100")

    def close(self) -> None:
        pass


def write_contacts(lake: Lake, count: int, start: int = 0) -> None:
    """Clean crm.contacts with ``count`` hashed members (half of them opted in)."""
    rows = range(start, start + count)
    table = pa.table(
        {
            "contact_id": [f"c{n}" for n in rows],
            "email": [sha(f"user{n}@example.com") for n in rows],
            "phone": [sha(f"+1206555{n:04d}") for n in rows],
            "opted_in": [n % 2 == 0 for n in rows],
        }
    )
    path = Path(lake.full("clean/crm/contacts/dt=2026-01-01/part-0.parquet"))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


SEGMENT = SegmentConfig(
    sql="SELECT email, phone, opted_in FROM crm.contacts",
    identifiers={"email": "email", "phone": "phone"},
    consent={"ad_personalization": "opted_in"},
)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def members(lake: Lake, segment: SegmentConfig = SEGMENT) -> pa.Table:
    return segment_members(lake, [("crm", "contacts")], "buyers", segment)


def test_members_are_hashed_identifiers_with_consent_and_a_fingerprint(lake: Lake) -> None:
    write_contacts(lake, 10)
    table = members(lake)
    assert table.num_rows == 10
    assert set(table.column_names) == {"member", "email", "phone", "consent__ad_personalization"}
    assert sha("user3@example.com") in table.column("email").to_pylist()
    assert sum(table.column("consent__ad_personalization").to_pylist()) == 5


def test_a_segment_over_clear_emails_is_refused(lake: Lake) -> None:
    write_contacts(lake, 3)
    segment = SEGMENT.model_copy(
        update={"sql": "SELECT 'dana@example.com' AS email, phone, opted_in FROM crm.contacts"}
    )
    with pytest.raises(SegmentError, match="not SHA-256 hex") as failure:
        members(lake, segment)
    assert "dana@example.com" not in str(failure.value)


def test_bad_sql_names_the_segment_and_the_fix(lake: Lake) -> None:
    write_contacts(lake, 3)
    segment = SEGMENT.model_copy(update={"sql": "SELECT email FROM crm.nope"})
    with pytest.raises(SegmentError, match="segment 'buyers': its SQL failed"):
        members(lake, segment)


def test_second_run_sends_only_adds_and_removes(lake: Lake) -> None:
    write_contacts(lake, 1000)
    platform = Platform(batch_size=300)
    export = ExportConfig(destination="memory")
    first = run_export(lake, "buyers", "memory", members(lake), export, platform)
    assert (first.added, first.removed, first.target) == (1000, 0, 1000)
    assert [n for _, n in platform.batches] == [300, 300, 300, 100]
    write_contacts(lake, 1000, start=50)  # 50 left, 50 joined
    platform.batches.clear()
    second = run_export(lake, "buyers", "memory", members(lake), export, platform)
    assert (second.added, second.removed) == (50, 50)
    assert platform.batches == [("remove", 50), ("add", 50)]
    assert platform.members == {sha(f"user{n}@example.com") for n in range(50, 1050)}
    assert platform.created == 1 or second.audience_id == "aud-buyers"


def test_consent_excludes_and_counts(lake: Lake) -> None:
    write_contacts(lake, 100)
    export = ExportConfig(destination="memory", purpose="ad_personalization")
    report = run_export(lake, "buyers", "memory", members(lake), export, Platform())
    assert (report.target, report.excluded_no_consent) == (50, 50)


def test_shrink_guard_stops_a_broken_segment(lake: Lake) -> None:
    write_contacts(lake, 1000)
    platform = Platform()
    export = ExportConfig(destination="memory")
    run_export(lake, "buyers", "memory", members(lake), export, platform)
    write_contacts(lake, 3)  # the broken SQL: three rows left
    platform.batches.clear()
    with pytest.raises(ExportRefused, match=r"remove 997 of the 1,000 .*allow_shrink"):
        run_export(lake, "buyers", "memory", members(lake), export, platform)
    assert platform.batches == [] and len(platform.members) == 1000
    report = run_export(
        lake, "buyers", "memory", members(lake), export, platform, allow_shrink=True
    )
    assert report.removed == 997 and len(platform.members) == 3


def test_minimum_size_guard(lake: Lake) -> None:
    write_contacts(lake, 3)
    export = ExportConfig(destination="memory", min_members=100)
    with pytest.raises(ExportRefused, match="3 member.*minimum of 100"):
        run_export(lake, "buyers", "memory", members(lake), export, Platform())


def test_dry_run_sends_nothing_and_keeps_no_state(lake: Lake) -> None:
    write_contacts(lake, 500)
    platform = Platform()
    report = run_export(
        lake,
        "buyers",
        "memory",
        members(lake),
        ExportConfig(destination="m"),
        platform,
        dry_run=True,
    )
    assert report.dry_run and report.added == 500
    assert platform.batches == [] and platform.created == 0
    assert not lake.list_files(export_folder("buyers", "memory"))


def test_a_crash_halfway_resumes_without_resending(lake: Lake) -> None:
    write_contacts(lake, 1000)
    platform = Platform(batch_size=100)
    platform.crash_after = 4
    export = ExportConfig(destination="memory")
    with pytest.raises(ConnectionError):
        run_export(lake, "buyers", "memory", members(lake), export, platform)
    platform.crash_after = None
    report = run_export(lake, "buyers", "memory", members(lake), export, platform)
    assert len(platform.batches) == 10  # 4 before the crash + 6 after, none twice
    assert report.resumed_batches == 4 and platform.created == 1
    assert len(platform.members) == 1000
    again = run_export(lake, "buyers", "memory", members(lake), export, platform)
    assert (again.added, again.removed) == (0, 0)


def test_full_refresh_replaces(lake: Lake) -> None:
    write_contacts(lake, 200)
    platform = Platform()
    platform.members = {"stale"}
    export = ExportConfig(destination="memory", full_refresh=True)
    report = run_export(lake, "buyers", "memory", members(lake), export, platform)
    assert report.mode == "replace" and "stale" not in platform.members
    assert len(platform.members) == 200


def test_the_readme_destinations_and_segments_example_is_valid_config() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Audience segments and exports", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    example = yaml.safe_load(block)
    destinations = TypeAdapter(dict[str, DestinationConfig]).validate_python(
        example["destinations"]
    )
    assert {d.kind for d in destinations.values()} == {
        "file_drop",
        "meta",
        "google_ads",
        "amazon_ads",
    }
    for segment in example["segments"].values():
        for export in SegmentConfig.model_validate(segment).exports:
            assert export.destination in destinations
