"""Amazon Ads API client: profiles and the Reporting v3 create -> poll -> download cycle.

Plain Python over :mod:`adlake.connectors.http` (retries, 429 Retry-After, token refresh on
401, polling, streaming downloads) and :mod:`adlake.connectors.lwa` (access tokens). A report
request is checked against the vendored Reporting v3 docs before it is sent.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ijson

from adlake.connectors.amazon_ads.errors import (
    API,
    AmazonAdsError,
    InvalidReportRequest,
    ReportFailed,
    ReportFileError,
    ReportNotFound,
)
from adlake.connectors.amazon_ads.models import AdsProfile, AdsReport, ReportRequest
from adlake.connectors.http import (
    DownloadResult,
    UrlExpired,
    json_field,
    json_of,
    poll,
    server_message,
)
from adlake.connectors.lwa import LwaApiClient

ADS_HOSTS = {
    "NA": "https://advertising-api.amazon.com",
    "EU": "https://advertising-api-eu.amazon.com",
    "FE": "https://advertising-api-fe.amazon.com",
}
CREATE_REQUEST_TYPE = "application/vnd.createasyncreportrequest.v3+json"
CREATE_RESPONSE_TYPE = "application/vnd.createasyncreportresponse.v3+json"
GET_RESPONSE_TYPE = "application/vnd.getasyncreportresponse.v3+json"
DELETE_RESPONSE_TYPE = "application/vnd.deleteasyncreportresponse.v3+json"
URL_REFRESHES = 3
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class AmazonAdsClient(LwaApiClient):
    """One Amazon Ads API region for one LWA client (see :class:`LwaApiClient`).

    ``endpoint`` is a regional host (:data:`ADS_HOSTS`) or an emulator.
    """

    api = API

    def profiles(self) -> list[AdsProfile]:
        """Every advertiser profile the refresh token may access in this region."""
        response = self._session.request(
            "GET",
            f"{self.endpoint}/v2/profiles",
            operation="listProfiles",
            headers={"Accept": "application/json"},
        )
        return [AdsProfile.from_api(item) for item in json_of(response, API, "listProfiles", list)]

    def create_report(self, profile_id: str, request: ReportRequest) -> str:
        """Request a report and return its reportId.

        The request is checked first (:class:`InvalidReportRequest` lists every problem). A
        425 means Amazon is already building an identical report: its id is returned, so a
        retried run never requests the same report twice.
        """
        problems = request.problems()
        if problems:
            raise InvalidReportRequest(request.report_type, problems)
        response = self._session.request(
            "POST",
            f"{self.endpoint}/reporting/reports",
            operation="createReport",
            passthrough=(425,),
            headers={
                **self._scope(profile_id),
                "Content-Type": CREATE_REQUEST_TYPE,
                "Accept": CREATE_RESPONSE_TYPE,
            },
            json=request.body(),
        )
        if response.status_code == 425:
            return self._duplicate_of(profile_id, request, server_message(response))
        return str(
            json_field(json_of(response, API, "createReport"), "reportId", API, "createReport")
        )

    def _duplicate_of(self, profile_id: str, request: ReportRequest, message: str) -> str:
        match = _UUID.search(message)
        if match is None:
            raise AmazonAdsError(
                API,
                "createReport",
                f"profile {profile_id}: a duplicate {request.report_type} report is in "
                f"progress but its id could not be read from: {message}",
                status=425,
                fix="wait for the in-flight report to finish, then run again",
            )
        return match.group(0).lower()

    def get_report(self, profile_id: str, report_id: str) -> AdsReport:
        """The current state of a report (status, and url once COMPLETED)."""
        response = self._session.request(
            "GET",
            f"{self.endpoint}/reporting/reports/{report_id}",
            operation="getReport",
            passthrough=(404,),
            headers={**self._scope(profile_id), "Accept": GET_RESPONSE_TYPE},
        )
        if response.status_code == 404:
            raise ReportNotFound(
                API,
                "getReport",
                f"profile {profile_id}, report {report_id}: {server_message(response)}",
                status=404,
            )
        return AdsReport.from_api(json_of(response, API, "getReport"))

    def delete_report(self, profile_id: str, report_id: str) -> None:
        """Cancel a pending report or delete a finished one."""
        response = self._session.request(
            "DELETE",
            f"{self.endpoint}/reporting/reports/{report_id}",
            operation="deleteReport",
            passthrough=(404,),
            headers={**self._scope(profile_id), "Accept": DELETE_RESPONSE_TYPE},
        )
        if response.status_code == 404:
            raise ReportNotFound(
                API, "deleteReport", f"profile {profile_id}, report {report_id}", status=404
            )

    def wait_for_report(
        self,
        profile_id: str,
        report_id: str,
        *,
        on_progress: Callable[[AdsReport, int], None] | None = None,
        interval: float = 15.0,
        max_interval: float = 120.0,
        timeout: float = 3 * 3600,
    ) -> AdsReport:
        """Poll a report until COMPLETED and return it; FAILED raises :class:`ReportFailed`.

        ``on_progress(report, attempt)`` runs after each check that is not final.
        """
        report = poll(
            lambda: self.get_report(profile_id, report_id),
            lambda current: current.done,
            api=API,
            operation="getReport",
            interval=interval,
            max_interval=max_interval,
            timeout=timeout,
            sleep=self._sleep,
            on_progress=on_progress,
            clock=self._clock,
        )
        if report.status == "FAILED":
            error = ReportFailed(
                API,
                "getReport",
                f"profile {profile_id}: report {report_id} ({report.report_type or 'unknown type'}"
                f", {report.start_date}..{report.end_date}) FAILED: "
                f"{report.failure_reason or 'Amazon gave no failureReason'}",
            )
            error.failure_reason = report.failure_reason
            raise error
        return report

    def download_report(
        self,
        profile_id: str,
        report_id: str,
        dest: Path,
        on_progress: Callable[[int], None] | None = None,
    ) -> DownloadResult:
        """Stream a COMPLETED report's gzip file to ``dest`` (atomic, bounded memory).

        When the presigned URL has expired, the report is fetched again for a fresh URL, up
        to three times.
        """
        report = self.get_report(profile_id, report_id)
        refreshes = 0
        while True:
            if report.status != "COMPLETED" or not report.url:
                raise AmazonAdsError(
                    API,
                    "downloadReport",
                    f"profile {profile_id}: {report} has no download URL",
                    fix="wait for the report to complete (wait_for_report) before downloading",
                )
            try:
                return self._session.download(
                    report.url, Path(dest), operation="downloadReport", on_progress=on_progress
                )
            except UrlExpired:
                refreshes += 1
                if refreshes > URL_REFRESHES:
                    raise
                report = self.get_report(profile_id, report_id)

    @staticmethod
    def iter_records(path: Path, *, use_float: bool = True) -> Iterator[dict[str, Any]]:
        """Stream the records of a downloaded report (a gzip JSON array), one dict at a time.

        Memory stays bounded whatever the file size. Numbers with a fraction become float
        (or Decimal with ``use_float=False``); integers stay int. A corrupt file raises
        :class:`ReportFileError` naming the file and the record reached.
        """
        index = 0
        try:
            with gzip.open(path, "rb") as stream:
                for index, record in enumerate(ijson.items(stream, "item", use_float=use_float)):
                    if not isinstance(record, dict):
                        raise ReportFileError(
                            f"{path}: record {index} is {type(record).__name__}, not an object"
                        )
                    yield record
        except (ijson.JSONError, OSError, EOFError, zlib.error) as exc:
            raise ReportFileError(
                f"{path}: not a complete gzip JSON array (stopped near record {index}): {exc}; "
                "download the report again"
            ) from exc

    @staticmethod
    def _scope(profile_id: str) -> dict[str, str]:
        return {"Amazon-Advertising-API-Scope": str(profile_id)}
