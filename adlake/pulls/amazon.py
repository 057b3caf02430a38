"""Amazon Ads and Selling Partner reports as :class:`~adlake.pulls.api.ReportApi` s.

Each adapter turns one configured report into the runner's five calls; the clients do the HTTP
(retries, polling, rate limits, fresh download URLs) in :mod:`adlake.connectors`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from adlake.config import (
    AdsReportConfig,
    AmazonAdsSourceConfig,
    AmcSourceConfig,
    PullSourceConfig,
    SellingPartnerSourceConfig,
)
from adlake.config.pulls import SpReportConfig
from adlake.connectors import amazon_ads, selling_partner
from adlake.connectors.http import ApiError, DownloadResult
from adlake.connectors.lwa import LWA_TOKEN_URLS, LwaCredentials, LwaTokens
from adlake.pulls.api import Progress, RemoteFailed, RemoteGone, RemoteReport, ReportApi
from adlake.pulls.runner import plan_windows

SecretLookup = Callable[[str], str]


@dataclass(frozen=True)
class Polling:
    """How often a report's status is checked, and for how long at most (seconds)."""

    interval: float
    timeout: float


def lwa_tokens(
    source: AmazonAdsSourceConfig | SellingPartnerSourceConfig, secret: SecretLookup
) -> LwaTokens:
    """The Login with Amazon token cache of a source, credentials read from the secrets."""
    names = source.credentials
    credentials = LwaCredentials(
        client_id=secret(names.client_id),
        client_secret=secret(names.client_secret),
        refresh_token=secret(names.refresh_token),
    )
    return LwaTokens(source.token_url or LWA_TOKEN_URLS[source.region], credentials)


def row_day(value: Any) -> str | None:
    """The UTC day of a date or timestamp value as written in a report, or None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()


class AdsReports:
    """One Amazon Ads Reporting v3 report, per profile."""

    api = "amazon_ads"
    noun = "report"
    scope_field = "profile_id"
    file_name = "report.json.gz"
    daily_limit: int | None = None

    def __init__(
        self,
        client: amazon_ads.AmazonAdsClient,
        name: str,
        report: AdsReportConfig,
        polling: Polling,
    ):
        self.client = client
        self.name = name
        self.report = report
        self.report_type = report.report_type
        self.polling = polling
        self.max_days = amazon_ads.spec.max_days(report.report_type)
        self.retention_days = amazon_ads.spec.retention_days(report.report_type)

    def windows(self, days: list[str]) -> list[tuple[date, date]]:
        """Consecutive days, at most the report type's maximum range per request."""
        return plan_windows(days, self.max_days)

    def request(self, scope: str, start: date, end: date) -> str:
        """Create the report (an identical one still in progress is reused by the client)."""
        return self.client.create_report(
            scope,
            amazon_ads.ReportRequest(
                report_type=self.report.report_type,
                columns=list(self.report.columns),
                group_by=list(self.report.group_by),
                start_date=start,
                end_date=end,
                time_unit=self.report.time_unit,
                filters=[f.model_dump() for f in self.report.filters],
                name=f"adlake {self.name} {start}..{end}",
            ),
        )

    def wait(self, scope: str, report_id: str, on_progress: Progress) -> RemoteReport:
        """Poll until COMPLETED; FAILED raises the client's error."""
        try:
            self.client.wait_for_report(
                scope,
                report_id,
                on_progress=lambda report, polls: on_progress(report.status, polls),
                interval=self.polling.interval,
                timeout=self.polling.timeout,
            )
        except amazon_ads.ReportNotFound as exc:
            raise RemoteGone(str(exc)) from None
        except amazon_ads.ReportFailed as exc:
            raise RemoteFailed(str(exc)) from None
        return RemoteReport(report_id)

    def download(
        self, scope: str, report: RemoteReport, dest: Path, on_bytes: Callable[[int], None]
    ) -> DownloadResult:
        """Stream the gzip JSON document (a fresh URL is fetched if one expired)."""
        return self.client.download_report(scope, report.report_id, dest, on_progress=on_bytes)

    def records(self, path: Path) -> Iterator[dict[str, Any]]:
        """The report's rows, streamed from the gzip JSON array."""
        return amazon_ads.AmazonAdsClient.iter_records(path)

    def row_day(self, record: dict[str, Any]) -> str | None:
        """DAILY rows carry their day in ``date``."""
        return row_day(record.get("date"))

    def close(self) -> None:
        """Close the client's pooled connections."""
        self.client.close()


class SpReports:
    """One Selling Partner report, per marketplace."""

    api = "selling_partner"
    noun = "report"
    scope_field = "marketplace_id"
    file_name = "document"
    retention_days: int | None = None  # SP reports have no documented retention limit
    daily_limit: int | None = None

    def __init__(
        self,
        client: selling_partner.SellingPartnerClient,
        name: str,
        report: SpReportConfig,
        polling: Polling,
    ):
        self.client = client
        self.name = name
        self.report = report
        self.report_type = report.report_type
        self.polling = polling
        self.max_days = report.window_days
        self.format = selling_partner.report_format(report.report_type)
        self._done: dict[str, Any] = {}

    def windows(self, days: list[str]) -> list[tuple[date, date]]:
        """Consecutive days, at most the report's window_days per request."""
        return plan_windows(days, self.max_days)

    def request(self, scope: str, start: date, end: date) -> str:
        """createReport for the marketplace and the whole days of the window (UTC)."""
        return self.client.create_report(
            self.report.report_type,
            [scope],
            datetime.combine(start, time.min, tzinfo=UTC),
            datetime.combine(end, time(23, 59, 59), tzinfo=UTC),
            dict(self.report.options) or None,
        )

    def wait(self, scope: str, report_id: str, on_progress: Progress) -> RemoteReport:
        """Poll until DONE; CANCELLED means no data; FATAL raises with the error document."""
        try:
            report = self.client.wait_for_report(
                report_id,
                on_progress=lambda r, polls: on_progress(r.processing_status, polls),
                interval=self.polling.interval,
                timeout=self.polling.timeout,
            )
        except ApiError as exc:
            if exc.status == 404:
                raise RemoteGone(str(exc)) from None
            raise
        except selling_partner.ReportFailed as exc:
            raise RemoteFailed(str(exc)) from None
        self._done[report_id] = report
        return RemoteReport(report_id, no_data=report.no_data)

    def download(
        self, scope: str, report: RemoteReport, dest: Path, on_bytes: Callable[[int], None]
    ) -> DownloadResult:
        """Stream the document as delivered (still gzip when the API compressed it)."""
        done = self._done.get(report.report_id) or self.client.get_report(report.report_id)
        return self.client.download_report(done, dest, on_progress=on_bytes)

    def records(self, path: Path) -> Iterator[dict[str, Any]]:
        """The document's records (TSV, CSV, JSON or XML), streamed."""
        return selling_partner.iter_records(path, self.format, record_path=self.report.record_path)

    def row_day(self, record: dict[str, Any]) -> str | None:
        """The UTC day of the record's partition field."""
        value: Any = record
        for part in self.report.date_field().split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return row_day(value)

    def close(self) -> None:
        """Close the client's pooled connections."""
        self.client.close()


def report_api(
    source: PullSourceConfig, report: str, secret: SecretLookup, log: Callable[[str], None]
) -> ReportApi:
    """One configured report of a source as a ReportApi, with its own client (close it)."""
    if isinstance(source, AmcSourceConfig):
        from adlake.pulls.amc import AmcWorkflows

        return AmcWorkflows(source, report, secret, log=log)
    tokens = lwa_tokens(source, secret)
    polling = Polling(source.poll_interval_seconds, source.poll_timeout_minutes * 60.0)
    if isinstance(source, AmazonAdsSourceConfig):
        ads = amazon_ads.AmazonAdsClient(
            endpoint=source.endpoint or amazon_ads.ADS_HOSTS[source.region],
            client_id=secret(source.credentials.client_id),
            tokens=tokens,
        )
        return AdsReports(ads, report, source.reports[report], polling)
    sp = selling_partner.SellingPartnerClient(
        endpoint=source.endpoint or selling_partner.SP_HOSTS[source.region], tokens=tokens
    )
    return SpReports(sp, report, source.reports[report], polling)
