"""Client of the Selling Partner API Reports 2021-06-30: request, wait for, and download reports.

The flow is Amazon's: createReport (202 + reportId), poll getReport until DONE, FATAL or
CANCELLED, getReportDocument for a presigned URL valid 5 minutes, then download the document
as delivered (still gzip-compressed when compressionAlgorithm is GZIP). Retries, 429 handling,
token refresh and per-operation pacing from ``x-amzn-RateLimit-Limit`` are the shared
:class:`~adlake.connectors.http.ApiSession`'s; operation names are the model's operationIds.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from adlake.connectors.http import (
    ApiError,
    ApiSession,
    DownloadResult,
    HttpSettings,
    UrlExpired,
    json_field,
    json_of,
    poll,
)
from adlake.connectors.selling_partner.documents import is_gzip
from adlake.connectors.selling_partner.errors import (
    InvalidReportRequest,
    ReportFailed,
    SellingPartnerError,
)
from adlake.connectors.selling_partner.models import SpDocument, SpReport, format_time
from adlake.connectors.selling_partner.spec import MAX_MARKETPLACES, REPORTS_BASE, USAGE_PLANS

if TYPE_CHECKING:
    from adlake.connectors.lwa import LwaTokens

API = "Selling Partner API"
ACCESS_TOKEN_HEADER = "x-amz-access-token"
URL_REFRESHES = 3
ERROR_TEXT_LIMIT = 1000
DEFAULT_SETTINGS = HttpSettings()


class SellingPartnerClient:
    """Reports API calls against one regional endpoint (see ``SP_HOSTS``) for one seller.

    ``tokens`` supplies LWA access tokens (refreshed before expiry, invalidated on 401/403);
    ``sleep`` is injectable so tests never wait for real.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        tokens: LwaTokens,
        settings: HttpSettings = DEFAULT_SETTINGS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._sleep = sleep
        self._session = ApiSession(
            API,
            auth=lambda: {ACCESS_TOKEN_HEADER: tokens.access_token()},
            on_unauthorized=tokens.invalidate,
            settings=settings,
            sleep=sleep,
            # the usage plans' bursts: calls up to the burst go out at once, later ones wait
            bursts={operation: burst for operation, (_, burst) in USAGE_PLANS.items()},
        )

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._session.close()

    def __enter__(self) -> SellingPartnerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_report(
        self,
        report_type: str,
        marketplace_ids: list[str],
        start: datetime,
        end: datetime,
        options: dict[str, str] | None = None,
    ) -> str:
        """Request a report of ``report_type`` over [start, end]; return its reportId.

        Checked before sending (1..25 marketplaces, start not after end) so that a mistake
        fails with a clear message instead of a 400 after a rate-limited call.
        """
        if not 1 <= len(marketplace_ids) <= MAX_MARKETPLACES:
            raise InvalidReportRequest(
                f"{API}: createReport of {report_type} got {len(marketplace_ids)} marketplace ids;"
                f" 1 to {MAX_MARKETPLACES} are allowed. Fix: split the marketplaces into groups"
            )
        if start > end:
            raise InvalidReportRequest(
                f"{API}: createReport of {report_type}: start {format_time(start)} is after end "
                f"{format_time(end)}. Fix: swap or correct the dates"
            )
        body: dict[str, Any] = {
            "reportType": report_type,
            "marketplaceIds": list(marketplace_ids),
            "dataStartTime": format_time(start),
            "dataEndTime": format_time(end),
        }
        if options:
            body["reportOptions"] = dict(options)
        response = self._session.request(
            "POST", self._url("reports"), operation="createReport", ok=(202,), json=body
        )
        body = json_of(response, API, "createReport")
        return str(json_field(body, "reportId", API, "createReport"))

    def get_report(self, report_id: str) -> SpReport:
        """The report's current state (getReport)."""
        response = self._session.request(
            "GET", self._url("reports", report_id), operation="getReport"
        )
        return SpReport.from_json(json_of(response, API, "getReport"))

    def cancel_report(self, report_id: str) -> None:
        """Cancel a report that is still IN_QUEUE (cancelReport); Amazon refuses it otherwise."""
        self._session.request("DELETE", self._url("reports", report_id), operation="cancelReport")

    def wait_for_report(
        self,
        report_id: str,
        *,
        on_progress: Callable[[SpReport, int], None] | None = None,
        interval: float = 15.0,
        max_interval: float = 120.0,
        timeout: float = 4 * 3600,
    ) -> SpReport:
        """Poll getReport until the report is final and return it.

        DONE and CANCELLED (``no_data``: an empty result, not an error) are returned; FATAL
        raises :class:`ReportFailed` with the text of Amazon's error document when there is
        one. Raises PollTimeout after ``timeout`` seconds of waiting.
        """
        report = poll(
            lambda: self.get_report(report_id),
            lambda current: current.finished,
            api=API,
            operation="getReport",
            interval=interval,
            max_interval=max_interval,
            timeout=timeout,
            sleep=self._sleep,
            on_progress=on_progress,
        )
        if report.processing_status == "FATAL":
            details = self._error_text(report) if report.document_id else None
            raise ReportFailed(report.report_id, report.report_type, details)
        return report

    def get_document(self, document_id: str) -> SpDocument:
        """Where to download a report document (getReportDocument); the URL lives 5 minutes."""
        response = self._session.request(
            "GET", self._url("documents", document_id), operation="getReportDocument"
        )
        return SpDocument.from_json(json_of(response, API, "getReportDocument"))

    def download_report(
        self,
        report: SpReport,
        dest: Path,
        on_progress: Callable[[int], None] | None = None,
    ) -> DownloadResult:
        """Stream a DONE report's document to ``dest`` exactly as delivered (gzip stays gzip).

        The write is atomic (the shared download). When the presigned URL has expired, a
        fresh one is fetched with getReportDocument, up to three times.
        """
        if not report.done or not report.document_id:
            raise SellingPartnerError(
                f"{API}: {report} has no document to download. Fix: wait for the report "
                "(wait_for_report) and download only DONE reports; CANCELLED means no data"
            )
        document = self.get_document(report.document_id)
        refreshes = 0
        while True:
            try:
                return self._session.download(
                    document.url,
                    Path(dest),
                    operation="downloadReportDocument",
                    on_progress=on_progress,
                )
            except UrlExpired:
                if refreshes == URL_REFRESHES:
                    raise
                refreshes += 1
                document = self.get_document(report.document_id)

    def _error_text(self, report: SpReport) -> str:
        """The (trimmed) text of a FATAL report's error document, or why it could not be read."""
        assert report.document_id is not None
        try:
            document = self.get_document(report.document_id)
            with tempfile.TemporaryDirectory(prefix="adlake-sp-") as folder:
                path = Path(folder) / "error-document"
                self._session.download(document.url, path, operation="downloadReportDocument")
                opener = gzip.open if is_gzip(path) else open
                with opener(path, "rb") as handle:
                    text = handle.read(ERROR_TEXT_LIMIT * 4).decode("utf-8", errors="replace")
        except (ApiError, OSError, EOFError) as exc:
            return f"its error document {report.document_id} could not be read ({exc})"
        text = " ".join(_error_details(text).split())
        if len(text) > ERROR_TEXT_LIMIT:
            text = text[:ERROR_TEXT_LIMIT].rstrip() + "…"
        return text or f"its error document {report.document_id} is empty"

    def _url(self, collection: str, identifier: str | None = None) -> str:
        url = f"{self.endpoint}{REPORTS_BASE}/{collection}"
        return url if identifier is None else f"{url}/{quote(identifier, safe='')}"


def _error_details(text: str) -> str:
    """The ``errorDetails`` of a JSON error document, else the document's text as it is."""
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if isinstance(body, dict) and isinstance(body.get("errorDetails"), str):
        return body["errorDetails"]
    return text
