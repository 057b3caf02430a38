"""The Selling Partner Reports client against the spec-built emulator: the whole report flow,
failures (FATAL, CANCELLED, 429, expired URLs and tokens) and a 200k-row document."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
import requests

from adlake.connectors.http import (
    ApiError,
    PollTimeout,
    Throttled,
    Unauthorized,
    UrlExpired,
)
from adlake.connectors.selling_partner import (
    MAX_MARKETPLACES,
    USAGE_PLANS,
    InvalidReportRequest,
    ReportFailed,
    SellingPartnerError,
    is_gzip,
    iter_records,
    report_columns,
    report_format,
)
from adlake.connectors.selling_partner.spec import INDEX_FILE
from adlake_tests.emulators.selling_partner import XML_RECORD
from adlake_tests.emulators.sp_reports import MODEL, usage_plans

US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
START, END = datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 9, 12, tzinfo=UTC)
ORDERS = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
XML_ORDERS = "GET_XML_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
SALES = "GET_SALES_AND_TRAFFIC_REPORT"
S3_EXPIRED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Request has expired</Message></Error>"
)


def fetch(client, report_type, dest: Path, *, options=None, marketplaces=(US,)):
    """Create, wait for and download one report; return it and the statuses seen on the way."""
    seen: list[str] = []
    report_id = client.create_report(report_type, list(marketplaces), START, END, options)
    report = client.wait_for_report(
        report_id, on_progress=lambda current, attempt: seen.append(current.processing_status)
    )
    if report.done:
        client.download_report(report, dest)
    return report, seen


def api_calls(emulator, method: str, fragment: str) -> int:
    return sum(1 for r in emulator.requests if r.method == method and fragment in r.path)


@pytest.mark.parametrize(
    ("encoding", "extra", "compress"),
    [
        ("utf-8", (), True),
        ("cp1252", ("buyer-email", "buyer-phone-number"), True),
        ("utf-8", (), False),
    ],
    ids=["utf8-gzip", "cp1252-with-pii", "uncompressed"],
)
def test_flat_file_report_round_trip(
    sp_client, sp_emulator, tmp_path: Path, encoding: str, extra: tuple[str, ...], compress: bool
) -> None:
    sp_emulator.flat_file_encoding = encoding
    sp_emulator.extra_flat_columns = extra
    sp_emulator.compress = compress
    report, seen = fetch(sp_client, ORDERS, tmp_path / "orders", marketplaces=(US, DE))

    assert seen == ["IN_QUEUE", "IN_PROGRESS"] and report.done
    assert report.marketplace_ids == (US, DE) and report.data_start_time == START
    assert sp_client.get_document(report.document_id).compression == ("GZIP" if compress else None)
    assert is_gzip(tmp_path / "orders") is compress, "kept as delivered"
    records = list(iter_records(tmp_path / "orders", report_format(ORDERS), encoding=encoding))
    assert records == list(sp_emulator.expected(report.report_id))
    assert len(records) == 3 * sp_emulator.rows_per_day
    assert list(records[0]) == [*report_columns(ORDERS), *extra]
    assert all(START.isoformat() <= r["last-updated-date"] < END.isoformat() for r in records)
    assert api_calls(sp_emulator, "POST", "/2021-06-30/reports") == 1, (
        "one createReport, no duplicate"
    )
    assert api_calls(sp_emulator, "GET", "/2021-06-30/reports/") == 3
    assert api_calls(sp_emulator, "GET", "/2021-06-30/documents/") == 2


def test_sales_and_traffic_json_round_trip(sp_client, sp_emulator, tmp_path: Path) -> None:
    options = {"dateGranularity": "DAY", "asinGranularity": "SKU"}
    report, _ = fetch(sp_client, SALES, tmp_path / "sales.json.gz", options=options)

    document = sp_emulator.expected(report.report_id)
    assert sp_emulator.create_calls[0][0]["reportOptions"] == options
    path = tmp_path / "sales.json.gz"
    by_date = list(iter_records(path, "json", record_path="salesAndTrafficByDate"))
    by_asin = list(iter_records(path, "json", record_path="salesAndTrafficByAsin"))
    assert by_date == document["salesAndTrafficByDate"]
    assert by_asin == document["salesAndTrafficByAsin"]
    assert [day["date"] for day in by_date] == ["2026-03-07", "2026-03-08", "2026-03-09"]
    assert all("sku" in row for row in by_asin)
    sales = by_asin[0]["salesByAsin"]
    assert isinstance(sales["orderedProductSales"]["amount"], float)
    assert isinstance(sales["unitsOrdered"], int)


def test_xml_report_round_trip(sp_client, sp_emulator, tmp_path: Path) -> None:
    report, _ = fetch(sp_client, XML_ORDERS, tmp_path / "orders.xml.gz")

    records = list(iter_records(tmp_path / "orders.xml.gz", "xml", record_path=XML_RECORD))
    assert records == list(sp_emulator.expected(report.report_id))
    assert len(records) == 3 * sp_emulator.rows_per_day
    first_item = records[0]["OrderItem"][0]
    assert first_item["ItemPrice"]["Component"][0]["Amount"]["@currency"] == "USD"
    assert records[0]["FulfillmentData"]["Address"]["Country"]


def test_fatal_report_raises_with_the_error_document(sp_client, sp_emulator) -> None:
    sp_emulator.fatal_report_types.add(ORDERS)
    sp_emulator.fatal_details = "Report date range exceeds the 30 day maximum for this report."
    report_id = sp_client.create_report(ORDERS, [US], START, END)

    with pytest.raises(ReportFailed) as failed:
        sp_client.wait_for_report(report_id)

    assert failed.value.report_id == report_id and failed.value.report_type == ORDERS
    assert failed.value.details == sp_emulator.fatal_details
    assert report_id in str(failed.value) and ORDERS in str(failed.value)
    assert "Fix:" in str(failed.value)


def test_fatal_report_without_error_document(sp_client, sp_emulator) -> None:
    sp_emulator.fatal_report_types.add(ORDERS)
    sp_emulator.fatal_error_document = False
    report_id = sp_client.create_report(ORDERS, [US], START, END)

    with pytest.raises(ReportFailed, match="no error document"):
        sp_client.wait_for_report(report_id)


def test_cancelled_report_means_no_data(sp_client, sp_emulator, tmp_path: Path) -> None:
    sp_emulator.no_data_marketplaces.add(DE)
    report, _ = fetch(sp_client, ORDERS, tmp_path / "none", marketplaces=(DE,))

    assert report.no_data and not report.done and report.document_id is None
    assert not (tmp_path / "none").exists()
    with pytest.raises(SellingPartnerError, match="CANCELLED means no data"):
        sp_client.download_report(report, tmp_path / "none")


@pytest.mark.parametrize(
    ("report_type", "start"),
    [
        (SALES, datetime(2023, 1, 1, tzinfo=UTC)),
        ("GET_VENDOR_SALES_REPORT", START),
    ],
    ids=["sales-older-than-two-years", "type-without-data"],
)
def test_other_no_data_cases_end_cancelled(sp_client, report_type, start) -> None:
    report_id = sp_client.create_report(report_type, [US], start, END)
    assert sp_client.wait_for_report(report_id).no_data


def test_get_reports_pages_with_next_token(sp_client, sp_emulator, lwa_tokens) -> None:
    created = [sp_client.create_report(ORDERS, [US], START, END) for _ in range(3)]
    sp_client.create_report(SALES, [US], START, END)
    url = f"{sp_emulator.endpoint}/reports/2021-06-30/reports"
    headers = {"x-amz-access-token": lwa_tokens.access_token()}

    first = requests.get(url, params={"reportTypes": ORDERS, "pageSize": 2}, headers=headers)
    rest = requests.get(url, params={"nextToken": first.json()["nextToken"]}, headers=headers)
    missing = requests.get(url, headers=headers)

    pages = first.json()["reports"] + rest.json()["reports"]
    assert [report["reportId"] for report in pages] == created
    assert "nextToken" not in rest.json()
    assert missing.status_code == 400 and "reportTypes" in missing.text


def test_cancel_only_while_in_queue(sp_client) -> None:
    queued = sp_client.create_report(ORDERS, [US], START, END)
    sp_client.cancel_report(queued)
    assert sp_client.get_report(queued).no_data

    running = sp_client.create_report(ORDERS, [US], START, END)
    sp_client.get_report(running)
    sp_client.get_report(running)
    with pytest.raises(ApiError, match="only reports with processingStatus IN_QUEUE") as refused:
        sp_client.cancel_report(running)
    assert refused.value.status == 400 and refused.value.operation == "cancelReport"


def test_429_quota_exceeded_is_retried_at_the_announced_rate(
    sp_client_factory, sp_emulator, sp_clock
) -> None:
    rate = USAGE_PLANS["createReport"][0]
    sp_emulator.rate_limits["createReport"] = (rate, 1)
    first, second = sp_client_factory(), sp_client_factory()
    first.create_report(ORDERS, [US], START, END)
    before = sp_clock.now

    second.create_report(ORDERS, [US], START, END)

    assert sp_emulator.throttled == ["createReport"]
    assert sp_clock.now - before >= 1 / rate * 0.999, "waited for the bucket to refill"
    accepted = [report_id for _, report_id in sp_emulator.create_calls if report_id]
    assert len(accepted) == 2, "the throttled call created nothing; the retry created one"


def test_server_error_on_create_is_retried_without_a_duplicate(sp_client, sp_emulator) -> None:
    sp_emulator.fail_next(503, path="/reports$")

    report_id = sp_client.create_report(ORDERS, [US], START, END)

    assert api_calls(sp_emulator, "POST", "/2021-06-30/reports") == 2
    assert [created for _, created in sp_emulator.create_calls] == [report_id]


def test_quota_still_exceeded_after_retries_is_throttled(sp_client, sp_emulator) -> None:
    sp_emulator.fail_next(429, count=100, path="/reports$")

    with pytest.raises(Throttled, match="QuotaExceeded") as throttled:
        sp_client.create_report(ORDERS, [US], START, END)

    assert throttled.value.status == 429 and throttled.value.operation == "createReport"
    assert sp_emulator.create_calls == [], "no attempt got through"


@pytest.mark.parametrize(
    ("fault", "headers", "path", "status", "code"),
    [
        (None, True, "/reports/2021-06-30/reports/404", 404, "NotFound"),
        (None, False, "/reports/2021-06-30/reports/404", 403, "Unauthorized"),
        (503, True, "/reports/2021-06-30/documents/x", 503, "ServiceUnavailable"),
    ],
    ids=["not-found", "no-token", "injected-fault"],
)
def test_every_response_has_request_id_rate_and_error_list(
    sp_emulator, lwa_tokens, fault, headers, path, status, code
) -> None:
    if fault:
        sp_emulator.fail_next(fault)
    token = {"x-amz-access-token": lwa_tokens.access_token()} if headers else {}

    response = requests.get(sp_emulator.endpoint + path, headers=token, timeout=10)

    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == code
    assert response.headers["x-amzn-RequestId"]
    expected_rate = "2" if "/reports/" in path.removeprefix("/reports") else "0.0167"
    assert response.headers["x-amzn-RateLimit-Limit"] == expected_rate


def test_expired_url_gets_a_fresh_document_url(sp_client, sp_emulator, tmp_path: Path) -> None:
    report_id = sp_client.create_report(ORDERS, [US], START, END)
    report = sp_client.wait_for_report(report_id)
    sp_emulator.fail_next(403, body=S3_EXPIRED, path=r"^/_download/")

    result = sp_client.download_report(report, tmp_path / "orders")

    assert api_calls(sp_emulator, "GET", "/documents/") == 2
    assert result.bytes == (tmp_path / "orders").stat().st_size
    assert len(list(iter_records(tmp_path / "orders", "tsv"))) == 3 * sp_emulator.rows_per_day


def test_url_that_keeps_expiring_gives_up_after_three_refreshes(
    sp_client, sp_emulator, tmp_path: Path
) -> None:
    report = sp_client.wait_for_report(sp_client.create_report(ORDERS, [US], START, END))
    sp_emulator.url_ttl = 0

    with pytest.raises(UrlExpired, match="Request has expired") as expired:
        sp_client.download_report(report, tmp_path / "orders")

    assert api_calls(sp_emulator, "GET", "/documents/") == 4
    assert "X-Amz-Signature" not in str(expired.value)
    assert not (tmp_path / "orders").exists() and not list(tmp_path.glob("*.part"))


def test_expired_access_token_is_refreshed(sp_client, sp_emulator, lwa_emulator, token_authority):
    report_id = sp_client.create_report(ORDERS, [US], START, END)
    token_authority.expire_all()

    assert sp_client.get_report(report_id).processing_status == "IN_QUEUE"
    assert lwa_emulator.grants == ["refresh_token", "refresh_token"]
    polls = [r for r in sp_emulator.requests if r.method == "GET"]
    assert len(polls) == 2, "refused once (403 expired token), then accepted"
    assert all("x-amz-access-token" not in r.headers for r in polls), "log holds no token"


def test_refused_credentials_are_reported_without_secrets(
    sp_client, sp_emulator, lwa_tokens
) -> None:
    token = lwa_tokens.access_token()
    sp_emulator.fail_next(
        403, count=2, body={"errors": [{"code": "Unauthorized", "message": token}]}
    )

    with pytest.raises(Unauthorized) as refused:
        sp_client.get_report("50001000000")

    assert token not in str(refused.value) and "Atza|" not in str(refused.value)
    assert "getReport" in str(refused.value) and "Fix:" in str(refused.value)
    report = sp_client.wait_for_report(sp_client.create_report(ORDERS, [US], START, END))
    document = sp_client.get_document(report.document_id)
    assert "X-Amz-Signature" not in repr(document)


def test_requests_the_api_would_refuse(sp_client, sp_emulator) -> None:
    with pytest.raises(InvalidReportRequest, match="1 to 25"):
        sp_client.create_report(ORDERS, [US] * (MAX_MARKETPLACES + 1), START, END)
    with pytest.raises(InvalidReportRequest, match="after end"):
        sp_client.create_report(ORDERS, [US], END, START)
    assert sp_emulator.requests == [], "caught before any call"

    with pytest.raises(ApiError, match="'GET_NOT_A_REPORT' is not a valid report type") as bad:
        sp_client.create_report("GET_NOT_A_REPORT", [US], START, END)
    assert bad.value.status == 400 and "InvalidInput" in str(bad.value)
    with pytest.raises(ApiError, match="dateGranularity must be one of"):
        sp_client.create_report(SALES, [US], START, END, {"dateGranularity": "YEAR"})
    with pytest.raises(ApiError, match="cannot be requested"):
        sp_client.create_report("GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2", [US], START, END)


def test_poll_timeout_names_the_report(sp_client, sp_emulator) -> None:
    sp_emulator.polls_to_complete = 10_000
    report_id = sp_client.create_report(ORDERS, [US], START, END)

    with pytest.raises(PollTimeout, match=report_id):
        sp_client.wait_for_report(report_id, timeout=300)


def test_200k_row_document_is_parsed_with_bounded_memory(
    sp_client, sp_emulator, tmp_path: Path
) -> None:
    sp_emulator.rows_per_day = 100_000
    start, end = datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)
    report_id = sp_client.create_report(ORDERS, [US], start, end)
    report = sp_client.wait_for_report(report_id)
    sp_client.download_report(report, tmp_path / "big.tsv.gz")
    with gzip.open(tmp_path / "big.tsv.gz", "rb") as unzipped:
        size = sum(len(chunk) for chunk in iter(lambda: unzipped.read(1 << 20), b""))
    first = next(iter(sp_emulator.expected(report_id)))
    process = psutil.Process()
    before = peak = process.memory_info().rss

    count = 0
    for count, record in enumerate(iter_records(tmp_path / "big.tsv.gz", "tsv"), 1):
        if count == 1:
            assert record == first
        if count % 5_000 == 0:
            peak = max(peak, process.memory_info().rss)

    assert count == 200_000
    assert size > 40 * 2**20, "the document is about as big as the memory bound"
    assert peak - before < 60 * 2**20, f"parsing grew RSS by {(peak - before) / 2**20:.0f} MiB"


def test_usage_plans_are_the_models() -> None:
    if not MODEL.is_file():
        pytest.skip("shared/specs is not checked out next to the repository")
    assert usage_plans(MODEL) == USAGE_PLANS


def test_vendored_index_is_the_shared_copy() -> None:
    shared = MODEL.parents[1] / "report-types.index.json"
    if not shared.is_file():
        pytest.skip("shared/specs is not checked out next to the repository")
    assert INDEX_FILE.read_bytes() == shared.read_bytes()
