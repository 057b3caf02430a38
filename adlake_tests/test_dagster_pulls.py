"""Amazon Ads report pulls as Dagster runs against the emulators: ledger, windows, re-pulls."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from adlake.lake.deliveries import DeliveryLedger, current_deliveries
from adlake.lake.storage import Lake
from adlake.pulls import ReportLedger
from adlake_tests.conftest import REPO
from adlake_tests.emulators.amazon_ads import AmazonAdsEmulator
from adlake_tests.emulators.lwa import TEST_CLIENT_SECRET, TEST_REFRESH_TOKEN, LwaEmulator
from adlake_tests.pull_project import (
    ads_source,
    days_ago,
    key,
    materialize,
    today,
    write_project,
)

RAW = "raw/amazon_ads/sp_campaigns"
CLEAN = "clean/amazon_ads/sp_campaigns"
CATALOG = "catalog/amazon_ads/sp_campaigns"


@pytest.fixture
def profiles(ads_emulator: AmazonAdsEmulator) -> list[str]:
    """The emulator's three profile ids."""
    return [str(p["profileId"]) for p in ads_emulator.profiles]


@pytest.fixture
def ads_project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lwa_emulator: LwaEmulator,
    ads_emulator: AmazonAdsEmulator,
    profiles: list[str],
):
    """A project pulling spCampaigns for the emulator's three profiles."""
    ads_emulator.polls_to_complete = 3
    source = ads_source(ads_emulator.base_url, lwa_emulator.token_url, profiles)
    return write_project(tmp_path, monkeypatch, {"amazon_ads": source})


def created_windows(emulator: AmazonAdsEmulator) -> list[tuple[str, str, str]]:
    """(profile, startDate, endDate) of every report the emulator was asked to create."""
    return [(p, body["startDate"], body["endDate"]) for p, body in emulator.created]


def test_a_range_is_one_request_per_profile_and_lands_one_delivery_per_day(
    ads_project, ads_emulator: AmazonAdsEmulator, profiles: list[str]
) -> None:
    defs = ads_project.defs()
    instance = dg.DagsterInstance.ephemeral()
    first, last = days_ago(5), days_ago(3)
    result = materialize(defs, [RAW], instance, key(first, profiles[0]), key(last, profiles[-1]))

    assert sorted(created_windows(ads_emulator)) == sorted((p, first, last) for p in profiles)
    lake = Lake(ads_project.lake_root())
    rows_per_window = 3 * ads_emulator.rows_per_day
    for profile in profiles:
        entry = ReportLedger(lake, "amazon_ads", "sp_campaigns").get(profile, first, last)
        assert entry is not None
        assert (entry.status, entry.requests, entry.rows) == ("landed", 1, rows_per_window)
        assert entry.report_type == "spCampaigns"
        assert entry.polls >= 2  # the emulator needed several polls; each was recorded
    deliveries = DeliveryLedger(lake, "amazon_ads", "sp_campaigns").for_dates(
        [first, days_ago(4), last]
    )
    assert len(deliveries) == 9 and {d.lines for d in deliveries} == {ads_emulator.rows_per_day}
    materializations = result.asset_materializations_for_node("raw__amazon_ads__sp_campaigns")
    metadata = materializations[0].metadata
    assert metadata["reports_requested"].value == 3
    assert metadata["rows"].value == 3 * rows_per_window
    assert len(materializations) == 9  # one per (day, profile) partition


def test_clean_and_catalog_of_pulled_days_are_typed_and_queryable(
    ads_project, ads_emulator: AmazonAdsEmulator, profiles: list[str]
) -> None:
    defs = ads_project.defs()
    instance = dg.DagsterInstance.ephemeral()
    first, last = days_ago(4), days_ago(3)
    materialize(defs, [RAW], instance, key(first, profiles[0]), key(last, profiles[-1]))
    materialize(defs, [CLEAN, CATALOG], instance, first, last)

    with duckdb.connect(
        str(ads_project.config.resolve(ads_project.config.catalog.duckdb_path))
    ) as con:
        rows = con.execute(
            "SELECT count(*), count(DISTINCT profile_id), min(date), max(date), "
            "typeof(any_value(campaign_id)), typeof(any_value(cost)) "
            "FROM amazon_ads.sp_campaigns"
        ).fetchone()
        ledger = con.execute(
            "SELECT count(*), sum(requests), min(status) FROM amazon_ads.report_ledger"
        ).fetchone()
    per_profile_day = ads_emulator.rows_per_day
    assert rows[0] == 2 * 3 * per_profile_day
    assert rows[1] == 3
    assert (str(rows[2]), str(rows[3])) == (first, last)
    assert rows[4] == "BIGINT"
    assert ledger == (3, 3, "landed")


def test_a_rerun_reuses_landed_reports_and_a_repull_replaces_the_days(
    ads_project, ads_emulator: AmazonAdsEmulator, profiles: list[str], tmp_path, monkeypatch
) -> None:
    defs = ads_project.defs()
    instance = dg.DagsterInstance.ephemeral()
    day = days_ago(6)
    first, last = key(day, profiles[0]), key(day, profiles[-1])
    materialize(defs, [RAW], instance, first, last)
    again = materialize(defs, [RAW], instance, first, last)
    metadata = again.asset_materializations_for_node("raw__amazon_ads__sp_campaigns")[0].metadata
    assert (metadata["reports_requested"].value, metadata["reports_reused"].value) == (0, 3)
    assert len(ads_emulator.created) == 3

    # the API restates the day with fewer rows; a re-pull (repull_after_hours: 0) replaces it
    source = ads_source(
        ads_emulator.base_url,
        ads_project.config.sources["amazon_ads"].token_url,
        profiles,
        repull_after_hours=0,
    )
    project = write_project(tmp_path, monkeypatch, {"amazon_ads": source})
    ads_emulator.rows_per_day = 2
    defs = project.defs()
    materialize(defs, [RAW], instance, first, last)
    materialize(defs, [CLEAN], instance, day, day)
    assert len(ads_emulator.created) == 6
    lake = Lake(project.lake_root())
    entry = ReportLedger(lake, "amazon_ads", "sp_campaigns").get(profiles[0], day, day)
    assert entry.requests == 2 and len(entry.earlier_report_ids) == 1
    current = current_deliveries(
        DeliveryLedger(lake, "amazon_ads", "sp_campaigns").for_dates([day])
    )
    assert [d.lines for d in current] == [2, 2, 2]
    files = f"{lake.full('clean/amazon_ads/sp_campaigns')}/**/*.parquet"
    clean_rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{files}')").fetchall()[0][0]
    assert clean_rows == 3 * 2  # the older 5 rows per profile are replaced, not left behind


def test_a_90_day_backfill_of_3_profiles_asks_for_each_31_day_window_once(
    ads_project, ads_emulator: AmazonAdsEmulator, profiles: list[str]
) -> None:
    ads_emulator.polls_to_complete = 1
    ads_emulator.rows_per_day = 1
    defs = ads_project.defs()
    instance = dg.DagsterInstance.ephemeral()
    first, last = days_ago(90), days_ago(1)
    materialize(defs, [RAW], instance, key(first, profiles[0]), key(last, profiles[-1]))
    materialize(defs, [RAW], instance, key(first, profiles[0]), key(last, profiles[-1]))

    windows = created_windows(ads_emulator)
    assert len(windows) == len(set(windows)) == 3 * 3  # 90 days = 31 + 31 + 28, per profile
    entries = ReportLedger(Lake(ads_project.lake_root()), "amazon_ads", "sp_campaigns").entries()
    assert len(entries) == 9 and {e.requests for e in entries} == {1}
    assert sum(e.rows for e in entries) == 90 * 3


def test_a_failed_report_fails_the_run_naming_it_while_the_other_profiles_land(
    ads_project, ads_emulator: AmazonAdsEmulator, profiles: list[str]
) -> None:
    ads_emulator.fail_profiles = {profiles[1]}
    defs = ads_project.defs()
    instance = dg.DagsterInstance.ephemeral()
    day = days_ago(2)
    result = materialize(
        defs, [RAW], instance, key(day, profiles[0]), key(day, profiles[-1]), raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure.event_specific_data.error.message + json.dumps(
        failure.event_specific_data.user_failure_data.description
        if failure.event_specific_data.user_failure_data
        else ""
    )
    assert profiles[1] in text and ads_emulator.failure_reason[:30] in text
    ledger = ReportLedger(Lake(ads_project.lake_root()), "amazon_ads", "sp_campaigns")
    assert ledger.get(profiles[1], day, day).status == "failed"
    assert ledger.get(profiles[0], day, day).status == "landed"

    ads_emulator.fail_profiles = set()
    materialize(defs, [RAW], instance, key(day, profiles[0]), key(day, profiles[-1]))
    assert len(ads_emulator.created) == 4  # only the failed window was requested again


def test_the_schedule_pulls_the_lookback_window_in_the_accounts_time_zone(ads_project) -> None:
    defs = ads_project.defs()
    schedule = defs.resolve_schedule_def("amazon_ads_pull_schedule")
    assert schedule.execution_timezone == "America/Los_Angeles"
    # 00:30 UTC is still the previous evening in Los Angeles: "yesterday" there is 2 UTC days ago
    moment = datetime.combine(today(), clock_time(0, 30), tzinfo=UTC)
    request = schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=moment)
    ).run_requests[0]
    profiles = ads_project.config.sources["amazon_ads"].profiles
    assert request.tags["dagster/asset_partition_range_start"] == key(days_ago(15), profiles[0])
    assert request.tags["dagster/asset_partition_range_end"] == key(days_ago(2), profiles[-1])


def test_killing_a_run_mid_poll_then_retrying_requests_no_second_report(
    ads_project, ads_emulator: AmazonAdsEmulator, profiles: list[str], tmp_path: Path
) -> None:
    ads_emulator.polls_to_complete = 10**9  # the report stays in progress while the run polls
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    day = days_ago(3)
    run = subprocess.Popen(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "adlake.definitions",
         "--select", RAW, "--partition", key(day, profiles[0])],
        cwd=tmp_path, env={**os.environ, "DAGSTER_HOME": str(home)}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    ledger = ReportLedger(Lake(ads_project.lake_root()), "amazon_ads", "sp_campaigns")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        entry = ledger.get(profiles[0], day, day)
        if entry is not None and entry.polls >= 2:
            break
        time.sleep(0.1)
    assert run.poll() is None, "the run ended before it could be killed mid-poll"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    killed = ledger.get(profiles[0], day, day)
    assert (killed.status, killed.remote_status) == ("requested", "PROCESSING")

    ads_emulator.polls_to_complete = killed.polls + 2
    retry = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "adlake.definitions",
         "--select", RAW, "--partition", key(day, profiles[0])],
        cwd=tmp_path, env={**os.environ, "DAGSTER_HOME": str(home)}, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert retry.returncode == 0, retry.stderr[-3000:]

    assert len(ads_emulator.created) == 1  # the retry polled the same report
    entry = ledger.get(profiles[0], day, day)
    assert (entry.status, entry.report_id, entry.requests) == ("landed", killed.report_id, 1)
    assert entry.rows == ads_emulator.rows_per_day


def test_a_profile_day_with_0_rows_after_a_day_with_rows_is_flagged(
    ads_project, ads_emulator: AmazonAdsEmulator, profiles: list[str]
) -> None:
    before, quiet = days_ago(8), days_ago(7)
    ads_emulator.empty_days = {(profiles[1], quiet)}
    defs = ads_project.defs()
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(defs, [RAW], instance, key(before, profiles[0]), key(quiet, profiles[-1]))

    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "no_empty_day_after_rows" and not check.passed
    assert check.metadata["empty_days"].value == f"{profiles[1]} {quiet}"
    assert check.severity == dg.AssetCheckSeverity.WARN
    # the empty day still landed (so it replaces older numbers), as a delivery of 0 rows
    deliveries = DeliveryLedger(Lake(ads_project.lake_root()), "amazon_ads", "sp_campaigns")
    quiet_day = [d for d in deliveries.for_dates([quiet]) if d.extra["scope"] == profiles[1]]
    assert [d.lines for d in quiet_day] == [0]

    ads_emulator.empty_days = set()
    clean = materialize(defs, [CLEAN], instance, quiet, quiet)
    assert clean.success


def test_days_past_the_apis_retention_are_skipped_and_old_days_are_settled(
    ads_project, ads_emulator: AmazonAdsEmulator, profiles: list[str]
) -> None:
    defs = ads_project.defs()
    instance = dg.DagsterInstance.ephemeral()
    expired = days_ago(100)  # spCampaigns data is kept 95 days
    materialize(defs, [RAW], instance, key(expired, profiles[0]), key(expired, profiles[-1]))
    assert ads_emulator.created == []

    node = "raw__amazon_ads__sp_campaigns"
    settled = materialize(
        defs, [RAW], instance, key(days_ago(40), profiles[0]), key(days_ago(40), profiles[0])
    ).asset_materializations_for_node(node)[0]
    recent = materialize(
        defs, [RAW], instance, key(days_ago(3), profiles[0]), key(days_ago(3), profiles[0])
    ).asset_materializations_for_node(node)[0]
    assert settled.tags["adlake/settlement"] == "settled"
    assert recent.tags["adlake/settlement"] == "provisional"
    assert recent.metadata["provisional_days"].value == f"{days_ago(3)}..{days_ago(3)}"


def test_no_credential_or_access_token_reaches_the_run_log_or_metadata(
    ads_project,
    ads_emulator: AmazonAdsEmulator,
    token_authority,
    profiles: list[str],
) -> None:
    ads_emulator.fail_profiles = {profiles[0]}  # a failure message is in the log too
    defs = ads_project.defs()
    instance = dg.DagsterInstance.ephemeral()
    day = days_ago(2)
    result = materialize(
        defs, [RAW], instance, key(day, profiles[0]), key(day, profiles[-1]), raise_on_error=False
    )
    logged = "\n".join(
        f"{entry.message} {entry.dagster_event!r}" for entry in instance.all_logs(result.run_id)
    )
    ledger_files = Path(ads_project.lake_root(), "state").rglob("*.json")
    stored = "\n".join(path.read_text() for path in ledger_files)
    secrets = [TEST_CLIENT_SECRET, TEST_REFRESH_TOKEN, *token_authority.tokens()]
    assert len(secrets) > 2, "the run fetched an access token"
    for secret in secrets:
        assert secret not in logged and secret not in stored
    assert ads_emulator.failure_reason[:30] in logged


def test_a_long_poll_logs_each_status_change_not_each_poll(
    ads_project, ads_emulator: AmazonAdsEmulator, profiles: list[str]
) -> None:
    ads_emulator.polls_to_complete = 10  # the interval grows 1.5x from 0.02 s: ~2 s of polls
    defs = ads_project.defs()
    instance = dg.DagsterInstance.ephemeral()
    day = days_ago(4)
    result = materialize(defs, [RAW], instance, key(day, profiles[0]), key(day, profiles[0]))

    entry = ReportLedger(Lake(ads_project.lake_root()), "amazon_ads", "sp_campaigns").get(
        profiles[0], day, day
    )
    assert entry is not None and entry.polls >= 9  # every poll saved in the ledger...
    lines = [
        record.user_message
        for record in instance.all_logs(result.run_id)
        if f"report {entry.report_id} (" in (record.user_message or "")
    ]
    # ...but the run log has a line per status the report went through, not one per poll
    assert [line.split(": ", 1)[1].split(",")[0] for line in lines] == ["PENDING", "PROCESSING"]
    messages = [record.user_message or "" for record in instance.all_logs(result.run_id)]
    assert any(f"{entry.report_id}: {entry.bytes:,} bytes kept in raw" in m for m in messages)
