"""Amazon Ads connector against the spec-built emulators: profiles, the report cycle, faults."""

from __future__ import annotations

import gzip
import threading
from datetime import date, timedelta
from pathlib import Path

import psutil
import pytest
import requests

from adlake.connectors.amazon_ads import (
    AmazonAdsClient,
    InvalidReportRequest,
    ReportFailed,
    ReportFileError,
    ReportNotFound,
    ReportRequest,
    spec,
)
from adlake.connectors.http import UrlExpired
from adlake.connectors.lwa import LwaTokens
from adlake.pulls import plan_windows
from adlake_tests.emulators.amazon_ads import CREATE_TYPE, AmazonAdsEmulator
from adlake_tests.emulators.fixtures_ads import SleepRecorder
from adlake_tests.emulators.lwa import TEST_CLIENT_ID, TokenAuthority

US = "3243985820171590"
CA = "1573029104821339"
COLUMNS = ["date", "campaignId", "campaignName", "campaignStatus", "impressions", "clicks", "cost"]
REQUEST = ReportRequest(
    "spCampaigns", COLUMNS, ["campaign"], date(2026, 3, 1), date(2026, 3, 3), "DAILY"
)


def test_profiles(ads_client: AmazonAdsClient) -> None:
    profiles = {p.country_code: p for p in ads_client.profiles()}
    assert sorted(profiles) == ["CA", "MX", "US"]
    us = profiles["US"]
    assert (us.profile_id, us.currency_code, us.marketplace_id) == (US, "USD", "ATVPDKIKX0DER")
    assert (us.timezone, us.account_type) == ("America/Los_Angeles", "seller")
    assert us.account_name == "Adlake Test Store US"
    assert profiles["MX"].currency_code == "MXN" and profiles["MX"].account_type == "vendor"


def test_report_cycle_reads_exactly_the_emulated_rows(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient, tmp_path: Path
) -> None:
    ads_emulator.polls_to_complete = 4
    report_id = ads_client.create_report(US, REQUEST)
    states: list[tuple[str, int]] = []
    report = ads_client.wait_for_report(
        US, report_id, on_progress=lambda r, n: states.append((r.status, n))
    )
    assert states == [("PENDING", 1), ("PROCESSING", 2), ("PROCESSING", 3)]
    assert report.status == "COMPLETED" and report.report_type == "spCampaigns"
    assert report.url and report.url_expires_at and report.file_size
    assert "X-Amz-Signature" not in repr(report)

    dest = tmp_path / "raw" / f"{report_id}.json.gz"
    result = ads_client.download_report(US, report_id, dest)
    assert result.bytes == dest.stat().st_size == report.file_size
    records = list(AmazonAdsClient.iter_records(dest))
    assert records == list(ads_emulator.expected_rows(report_id))
    assert len(records) == 3 * ads_emulator.rows_per_day
    assert {r["date"] for r in records} == {"2026-03-01", "2026-03-02", "2026-03-03"}
    assert all(list(r) == COLUMNS for r in records)
    assert isinstance(records[0]["campaignId"], int) and isinstance(records[0]["cost"], float)

    create = next(r for r in ads_emulator.requests if r.method == "POST")
    assert create.headers["Content-Type"] == CREATE_TYPE
    assert create.headers["Amazon-Advertising-API-Scope"] == US
    assert create.headers["Amazon-Advertising-API-ClientId"] == TEST_CLIENT_ID
    assert all("Authorization" not in r.headers for r in ads_emulator.requests)


def test_request_body_follows_the_spec() -> None:
    body = REQUEST.body()
    assert body["startDate"] == "2026-03-01" and body["endDate"] == "2026-03-03"
    assert body["configuration"] == {
        "adProduct": "SPONSORED_PRODUCTS",
        "groupBy": ["campaign"],
        "columns": COLUMNS,
        "reportTypeId": "spCampaigns",
        "timeUnit": "DAILY",
        "format": "GZIP_JSON",
    }


def test_duplicate_in_flight_request_reuses_the_report(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient
) -> None:
    first = ads_client.create_report(US, REQUEST)
    assert ads_client.create_report(US, REQUEST) == first
    assert len(ads_emulator.created) == 1
    assert ads_emulator.calls["createReport"] == 2


def test_425_id_is_parsed_from_amazons_wording(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient
) -> None:
    detail = "The Request is a duplicate of : 8ADCA409-98E1-442C-9E74-28147F9F7BC8"
    ads_emulator.fail_next(425, body={"code": "425", "detail": detail})
    assert ads_client.create_report(US, REQUEST) == "8adca409-98e1-442c-9e74-28147f9f7bc8"
    assert ads_emulator.created == []


def test_429_retry_after_is_honoured_and_no_duplicate_is_created(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient, sleeps: SleepRecorder
) -> None:
    ads_emulator.fail_next(429, count=2, retry_after=3, path=r"^/reporting/reports$")
    report_id = ads_client.create_report(US, REQUEST)
    assert sleeps.delays == [3.0, 3.0]
    assert [body["configuration"]["reportTypeId"] for _, body in ads_emulator.created] == [
        "spCampaigns"
    ]
    assert report_id in ads_emulator.reports


def test_failed_report_names_id_type_and_reason(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient
) -> None:
    ads_emulator.fail_report_types = {"spCampaigns"}
    report_id = ads_client.create_report(US, REQUEST)
    with pytest.raises(ReportFailed) as caught:
        ads_client.wait_for_report(US, report_id)
    text = str(caught.value)
    assert report_id in text and "spCampaigns" in text and US in text
    assert "internal error" in text and caught.value.failure_reason
    assert "Fix:" in text


def test_expired_url_is_replaced_by_a_fresh_one(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient, tmp_path: Path
) -> None:
    report_id = ads_client.create_report(US, REQUEST)
    ads_client.wait_for_report(US, report_id)
    gets = ads_emulator.calls["getReport"]
    ads_emulator.expire_next_urls(2)
    result = ads_client.download_report(US, report_id, tmp_path / "r.json.gz")
    assert result.bytes > 0
    assert ads_emulator.calls["getReport"] == gets + 3


def test_url_that_keeps_expiring_gives_up(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient, tmp_path: Path
) -> None:
    report_id = ads_client.create_report(US, REQUEST)
    ads_client.wait_for_report(US, report_id)
    ads_emulator.url_ttl = 0
    with pytest.raises(UrlExpired):
        ads_client.download_report(US, report_id, tmp_path / "r.json.gz")
    assert not any(tmp_path.iterdir())


def test_unknown_or_foreign_report_is_not_found(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient
) -> None:
    report_id = ads_client.create_report(US, REQUEST)
    with pytest.raises(ReportNotFound) as caught:
        ads_client.get_report(CA, report_id)
    assert report_id in str(caught.value) and CA in str(caught.value)
    ads_client.delete_report(US, report_id)
    with pytest.raises(ReportNotFound):
        ads_client.get_report(US, report_id)


def test_expired_token_mid_cycle_is_refreshed(
    ads_client: AmazonAdsClient, token_authority: TokenAuthority, tmp_path: Path
) -> None:
    report_id = ads_client.create_report(US, REQUEST)
    token_authority.expire_all()
    assert ads_client.wait_for_report(US, report_id).status == "COMPLETED"
    assert token_authority.issued == 2


def test_invalid_request_is_refused_before_any_call(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient
) -> None:
    bad = ReportRequest(
        "spCampaigns", ["date", "clickz"], ["campaign"], date(2026, 3, 1), date(2026, 3, 1)
    )
    with pytest.raises(InvalidReportRequest) as caught:
        ads_client.create_report(US, bad)
    assert "clickz" in str(caught.value) and "clicks" in str(caught.value)
    assert ads_emulator.calls["createReport"] == 0


@pytest.mark.parametrize(
    ("report_type", "columns", "group_by", "time_unit", "filters", "expected"),
    [
        ("spCampaign", ["date"], ["campaign"], "DAILY", [], ["'spCampaign'", "spCampaigns"]),
        (
            "spCampaigns",
            ["date", "clickz"],
            ["campaign"],
            "DAILY",
            [],
            ["spCampaigns", "'clickz'", "clicks"],
        ),
        (
            "spCampaigns",
            ["date"],
            ["campain"],
            "DAILY",
            [],
            ["spCampaigns", "'campain'", "campaign"],
        ),
        (
            "spCampaigns",
            ["date", "adGroupName"],
            ["campaign"],
            "DAILY",
            [],
            ["'adGroupName'", "grouped by campaign"],
        ),
        (
            "spCampaigns",
            ["date", "cost"],
            ["campaign"],
            "SUMMARY",
            [],
            ["'date' needs timeUnit DAILY"],
        ),
        ("spCampaigns", ["cost"], ["campaign"], "DAILY", [], ["DAILY needs the column 'date'"]),
        (
            "spCampaigns",
            ["date", "startDate"],
            ["campaign"],
            "DAILY",
            [],
            ["'startDate' needs timeUnit SUMMARY"],
        ),
        (
            "dspAudioAndVideo",
            ["impressions"],
            ["campaign"],
            "DAILY",
            [],
            ["timeUnit 'DAILY' is not supported"],
        ),
        (
            "spCampaigns",
            ["date"],
            ["campaign"],
            "DAILY",
            [{"field": "campaignStatuss", "values": ["ENABLED"]}],
            ["filter field 'campaignStatuss'", "campaignStatus"],
        ),
        (
            "spCampaigns",
            ["date"],
            ["campaign"],
            "DAILY",
            [{"field": "campaignStatus", "values": ["LIVE"]}],
            ["ENABLED, PAUSED, ARCHIVED", "got LIVE"],
        ),
    ],
)
def test_spec_check_names_the_problem_and_close_names(
    report_type: str,
    columns: list[str],
    group_by: list[str],
    time_unit: str,
    filters: list[dict[str, object]],
    expected: list[str],
) -> None:
    problems = spec.check_report(report_type, columns, group_by, time_unit, filters)
    assert len(problems) == 1, problems
    for fragment in expected:
        assert fragment in problems[0]


def test_spec_accepts_a_valid_request_and_knows_limits() -> None:
    assert spec.check_report("spCampaigns", COLUMNS, ["campaign"], "DAILY") == []
    assert (
        spec.check_report("spCampaigns", ["adGroupId", "date"], ["campaign", "adGroup"], "DAILY")
        == []
    )
    assert spec.ad_product("sbPurchasedProduct") == "SPONSORED_BRANDS"
    assert (spec.max_days("spCampaigns"), spec.retention_days("spCampaigns")) == (31, 95)
    assert spec.max_days("sbPurchasedProduct") == 731
    assert "campaignPlacement" in spec.group_bys("sbCampaignPlacement")
    assert len(spec.report_types()) == 33
    days = [(date(2026, 1, 1) + timedelta(days=n)).isoformat() for n in range(64)]
    days.remove("2026-02-10")  # a day left out splits the run of days
    assert plan_windows(days, spec.max_days("spCampaigns")) == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 9)),
        (date(2026, 2, 11), date(2026, 3, 5)),
    ]
    assert spec.check_dates("spCampaigns", date(2026, 1, 1), date(2026, 2, 1))
    assert spec.check_dates("spCampaigns", date(2025, 1, 1), date(2025, 1, 2), date(2026, 1, 1))


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("campaignId", "bigint"),
        ("impressions", "bigint"),
        ("cost", "decimal"),
        ("sales14d", "decimal"),
        ("clickThroughRate", "double"),
        ("topOfSearchImpressionShare", "double"),
        ("addToListRate", "double"),
        ("campaignName", "string"),
        ("date", "date"),
        ("startDate", "date"),
        ("paidSubscriptionSignupRate", "double"),
        ("bids", "bigint"),
    ],
)
def test_column_types(column: str, kind: str) -> None:
    assert spec.column_type(column) == kind


def test_emulator_validates_against_the_vendored_docs(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient, lwa_tokens: LwaTokens
) -> None:
    url = f"{ads_emulator.base_url}/reporting/reports"
    headers = {
        "Authorization": f"Bearer {lwa_tokens.access_token()}",
        "Amazon-Advertising-API-ClientId": TEST_CLIENT_ID,
        "Amazon-Advertising-API-Scope": US,
    }
    body = REQUEST.body()
    body["configuration"]["columns"] = ["date", "clickz"]
    wrong_type = requests.post(url, json=REQUEST.body(), headers=headers, timeout=10)
    assert wrong_type.status_code == 415
    bad = requests.post(
        url, json=body, headers={**headers, "Content-Type": CREATE_TYPE}, timeout=10
    )
    assert bad.status_code == 400
    assert "clickz" in bad.json()["detail"] and bad.json()["code"] == "400"
    no_scope = {k: v for k, v in headers.items() if k != "Amazon-Advertising-API-Scope"}
    refused = requests.post(
        url, json=REQUEST.body(), headers={**no_scope, "Content-Type": CREATE_TYPE}, timeout=10
    )
    assert refused.status_code == 401
    assert ads_emulator.created == []


def test_corrupt_report_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "r.json.gz"
    path.write_bytes(gzip.compress(b'[{"a": 1}, {"a": '))
    with pytest.raises(ReportFileError) as caught:
        list(AmazonAdsClient.iter_records(path))
    assert str(path) in str(caught.value) and "download the report again" in str(caught.value)


def test_200k_row_report_streams_with_bounded_memory(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient, tmp_path: Path
) -> None:
    ads_emulator.rows_per_day = 200_000
    columns = ["date", "campaignId", "impressions", "clicks", "cost"]
    request = ReportRequest(
        "spCampaigns", columns, ["campaign"], date(2026, 3, 1), date(2026, 3, 1)
    )
    report_id = ads_client.create_report(US, request)
    ads_client.wait_for_report(US, report_id)

    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            stop.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        dest = tmp_path / "big.json.gz"
        ads_client.download_report(US, report_id, dest)
        count = clicks = 0
        for record in AmazonAdsClient.iter_records(dest):
            count += 1
            clicks += record["clicks"]
    finally:
        stop.set()
        sampler.join()
    assert count == 200_000 and clicks > 0
    growth_mb = (peak[0] - baseline) / 1e6
    assert growth_mb < 60, f"RSS grew by {growth_mb:.0f} MB while streaming 200k rows"
