"""Selling Partner API Reports 2021-06-30 emulator, built from models/reports_2021-06-30.json.

createReport (202 + reportId, body validated like the model: known report type, 1..25
marketplaceIds, ISO 8601 times), getReport walking IN_QUEUE -> IN_PROGRESS -> DONE | FATAL |
CANCELLED, cancelReport (IN_QUEUE only), getReports, and getReportDocument returning a
presigned-style URL that expires after 5 minutes, to a GZIP document generated per format.
Per-operation token buckets use the usage plans of the model's rate-limit tables; every
response carries ``x-amzn-RequestId`` and ``x-amzn-RateLimit-Limit``; errors are ErrorLists.
Access tokens are checked with the shared :class:`TokenAuthority`: missing, unknown or expired
tokens get 403 ``Unauthorized`` (the model's 403: "Access Denied, Unauthorized, Expired Token").
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from adlake_tests.emulators.lwa import TokenAuthority
from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply
from adlake_tests.emulators.sp_documents import SALES_AND_TRAFFIC, ReportRequest
from adlake_tests.emulators.sp_reports import (
    XML_RECORD,
    DocumentSpec,
    EmulatedReport,
    StoredDocument,
    TokenBucket,
    can_generate,
    document_content,
    parse_create_body,
    usage_plans,
    write_document,
    write_error,
)

BASE = "/reports/2021-06-30"
ROUTES = [
    ("POST", rf"{BASE}/reports", "createReport"),
    ("GET", rf"{BASE}/reports", "getReports"),
    ("GET", rf"{BASE}/reports/(?P<report_id>[^/]+)", "getReport"),
    ("DELETE", rf"{BASE}/reports/(?P<report_id>[^/]+)", "cancelReport"),
    ("GET", rf"{BASE}/documents/(?P<document_id>[^/]+)", "getReportDocument"),
]
ERROR_CODES = {
    400: "InvalidInput",
    403: "Unauthorized",
    404: "NotFound",
    415: "UnsupportedMediaType",
    429: "QuotaExceeded",
    500: "InternalFailure",
    503: "ServiceUnavailable",
}
TOKEN_DETAILS = {
    "missing": "The request does not carry an x-amz-access-token header.",
    "unknown": "The access token you provided is revoked, malformed or invalid.",
    "expired": "The access token you provided has expired.",
    "client mismatch": "The access token you provided is revoked, malformed or invalid.",
}
DEFAULT_FATAL_DETAILS = (
    "Report processing failed: an internal error occurred while generating the report for the "
    "requested marketplaces and date range. Request the report again later."
)
__all__ = ["XML_RECORD", "SellingPartnerEmulator"]


class SellingPartnerEmulator(EmulatorServer):
    """The Reports API on loopback. Knobs are plain attributes a test may change at any time.

    - ``polls_to_complete`` (2): getReport calls answered IN_QUEUE then IN_PROGRESS before
      the final status; the first answer is always IN_QUEUE (cancellable).
    - ``fatal_report_types`` / ``fatal_details``: types that end FATAL, with an error document
      ``{"errorDetails": fatal_details}`` (``fatal_error_document`` False: none).
    - ``no_data_marketplaces`` / ``no_data_report_types``: reports whose marketplaces all have
      no data (or of such a type) end CANCELLED, as Amazon does when there is nothing to return.
    - ``rows_per_day`` (5), ``asins`` (5), ``seed``, ``extra_flat_columns`` (e.g. buyer-email),
      ``flat_file_encoding`` ("utf-8"; "cp1252" like some EU files), ``compress`` (GZIP).
    - ``url_ttl`` (300 s); ``rate_limits``: {operationId: (rate per second, burst)} overriding
      the model's usage plans; ``enforce_rate_limits``.
    - Logs: ``create_calls`` (every createReport body and the reportId it got, or None),
      ``throttled`` (operationIds answered 429), and the base ``requests``.
    """

    name = "selling-partner"

    def __init__(
        self,
        authority: TokenAuthority | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        polls_to_complete: int = 2,
        rows_per_day: int = 5,
        rate_limits: dict[str, tuple[float, int]] | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.authority = authority or TokenAuthority()
        self.polls_to_complete = polls_to_complete
        self.fatal_report_types: set[str] = set()
        self.fatal_details = DEFAULT_FATAL_DETAILS
        self.fatal_error_document = True
        self.no_data_marketplaces: set[str] = set()
        self.no_data_report_types: set[str] = set()
        self.rows_per_day = rows_per_day
        self.asins = 5
        self.seed = 0
        self.extra_flat_columns: tuple[str, ...] = ()
        self.flat_file_encoding = "utf-8"
        self.compress = True
        self.url_ttl = 300.0
        self.enforce_rate_limits = True
        self.rate_limits = {**usage_plans(), **(rate_limits or {})}
        self.create_calls: list[tuple[dict[str, Any], str | None]] = []
        self.throttled: list[str] = []
        self.reports: dict[str, EmulatedReport] = {}
        self.documents: dict[str, StoredDocument] = {}
        self._buckets: dict[str, TokenBucket] = {}
        for method, pattern, operation in ROUTES:
            self.route(method, pattern, self._guarded(operation, getattr(self, f"_{operation}")))

    def expected(self, report_id: str) -> Iterator[dict[str, Any]] | dict[str, Any]:
        """What the report's document holds: TSV rows or XML orders (an iterator, regenerated
        so nothing big stays in memory), or the whole JSON object of a JSON report."""
        document_id = self.reports[report_id].document_id
        if document_id is None:
            raise KeyError(f"report {report_id} has no document")
        return document_content(self.documents[document_id])

    @property
    def endpoint(self) -> str:
        """The base URL to give to ``SellingPartnerClient(endpoint=...)``."""
        return self.base_url

    def error_body(self, status: int, message: str) -> Any:
        """The model's ErrorList."""
        return {"errors": [{"code": ERROR_CODES.get(status, str(status)), "message": message}]}

    def sp_error(self, status: int, message: str, details: str | None = None) -> Reply:
        """An ErrorList reply with one error."""
        error = {"code": ERROR_CODES.get(status, str(status)), "message": message}
        if details is not None:
            error["details"] = details
        return json_reply(status, {"errors": [error]})

    def dispatch(self, request: Request) -> Reply:
        """Every API response (faults included) gets a request id and the operation's rate."""
        path = urlsplit(request.path).path
        reply = super().dispatch(request)
        operation = self._operation_of(request.method, path)
        if operation is not None:
            reply.headers["x-amzn-RequestId"] = str(uuid.uuid4())
            reply.headers["x-amzn-RateLimit-Limit"] = f"{self.rate_limits[operation][0]:g}"
        return reply

    def _operation_of(self, method: str, path: str) -> str | None:
        for route_method, pattern, operation in ROUTES:
            if route_method == method and re.fullmatch(pattern, path):
                return operation
        return None

    def _guarded(
        self, operation: str, handler: Callable[[Request, re.Match[str]], Reply]
    ) -> Callable[[Request, re.Match[str]], Reply]:
        """Check the access token, then the operation's token bucket, then handle."""

        def guarded(request: Request, match: re.Match[str]) -> Reply:
            """403 for a bad token, 429 for an empty bucket, else the operation's reply."""
            problem = self.authority.problem(request.headers.get("x-amz-access-token"))
            if problem is not None:
                return self.sp_error(
                    403, "Access to requested resource is denied.", TOKEN_DETAILS[problem]
                )
            if self.enforce_rate_limits and not self._take(operation):
                return self.sp_error(429, "You exceeded your quota for the requested resource.")
            with self.lock:
                return handler(request, match)

        return guarded

    def _take(self, operation: str) -> bool:
        """Spend a token of the operation's bucket; False (logged in ``throttled``) means 429."""
        with self.lock:
            rate, burst = self.rate_limits[operation]
            bucket = self._buckets.get(operation)
            if bucket is None or (bucket.rate, bucket.burst) != (rate, burst):
                bucket = self._buckets[operation] = TokenBucket(rate, burst, self.clock())
            if bucket.take(self.clock()):
                return True
            self.throttled.append(operation)
            return False

    def _createReport(self, request: Request, match: re.Match[str]) -> Reply:
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type != "application/json":
            return self.sp_error(415, f"Content-Type {content_type!r} is not application/json")
        body: Any = None
        try:
            body = request.json()
            report_id = f"{len(self.reports) + 50001000000}"
            now = datetime.now(UTC)
            report = EmulatedReport(parse_create_body(body, report_id, now), created=now)
        except ValueError as exc:
            self.create_calls.append((body if isinstance(body, dict) else {}, None))
            return self.sp_error(400, "Invalid input", str(exc))
        self.reports[report.request.report_id] = report
        self.create_calls.append((body, report.request.report_id))
        return json_reply(202, {"reportId": report.request.report_id})

    def _getReports(self, request: Request, match: re.Match[str]) -> Reply:
        token = request.param("nextToken")
        if token is not None:
            try:
                query = json.loads(base64.urlsafe_b64decode(token))
            except ValueError:
                return self.sp_error(400, "Invalid input", "nextToken is not valid")
        else:
            query = {
                "types": [t for v in request.query.get("reportTypes", []) for t in v.split(",")],
                "statuses": [
                    s for v in request.query.get("processingStatuses", []) for s in v.split(",")
                ],
                "size": int(request.param("pageSize") or 10),
                "offset": 0,
            }
            if not 1 <= len(query["types"]) <= 10:
                return self.sp_error(400, "Invalid input", "reportTypes (1 to 10) is required")
            if not 1 <= query["size"] <= 100:
                return self.sp_error(400, "Invalid input", "pageSize must be 1 to 100")
        found = [
            r
            for r in self.reports.values()
            if r.request.report_type in query["types"]
            and (not query["statuses"] or r.status in query["statuses"])
        ]
        offset, size = query["offset"], query["size"]
        payload: dict[str, Any] = {"reports": [r.to_json() for r in found[offset : offset + size]]}
        if offset + size < len(found):
            following = json.dumps({**query, "offset": offset + size}).encode()
            payload["nextToken"] = base64.urlsafe_b64encode(following).decode()
        return json_reply(200, payload)

    def _getReport(self, request: Request, match: re.Match[str]) -> Reply:
        report = self.reports.get(match["report_id"])
        if report is None:
            return self.sp_error(404, f"Report {match['report_id']} was not found")
        if report.advance(self.polls_to_complete, datetime.now(UTC)):
            self._finish(report)
        return json_reply(200, report.to_json())

    def _cancelReport(self, request: Request, match: re.Match[str]) -> Reply:
        report = self.reports.get(match["report_id"])
        if report is None:
            return self.sp_error(404, f"Report {match['report_id']} was not found")
        if report.status != "IN_QUEUE":
            return self.sp_error(
                400,
                "Invalid input",
                f"Report {report.request.report_id} is {report.status}; only reports with "
                "processingStatus IN_QUEUE can be cancelled",
            )
        report.cancel(datetime.now(UTC))
        return Reply(200, b"", {"Content-Type": "application/json"})

    def _getReportDocument(self, request: Request, match: re.Match[str]) -> Reply:
        document = self.documents.get(match["document_id"])
        if document is None:
            return self.sp_error(404, f"Report document {match['document_id']} was not found")
        url = self.publish(document.path, ttl=self.url_ttl, content_type=document.content_type)
        payload = {"reportDocumentId": match["document_id"], "url": url}
        if document.compressed:
            payload["compressionAlgorithm"] = "GZIP"
        return json_reply(200, payload)

    def _finish(self, report: EmulatedReport) -> None:
        """Reveal the final status: CANCELLED (no data), FATAL, or DONE with its document."""
        now = datetime.now(UTC)
        request = report.request
        spec = DocumentSpec(
            rows_per_day=self.rows_per_day,
            asins=self.asins,
            seed=self.seed,
            extra_columns=tuple(self.extra_flat_columns),
            encoding=self.flat_file_encoding,
            compress=self.compress,
        )
        if self._no_data(request):
            report.finish("CANCELLED", now)
            return
        document_id = f"amzn1.spdoc.1.4.na.{uuid.uuid4()}"
        path = self.workdir / f"{document_id}.{'gz' if spec.compress else 'txt'}"
        if request.report_type in self.fatal_report_types:
            if self.fatal_error_document:
                self.documents[document_id] = write_error(path, request, spec, self.fatal_details)
                report.finish("FATAL", now, document_id)
            else:
                report.finish("FATAL", now)
            return
        self.documents[document_id] = write_document(path, request, spec)
        report.finish("DONE", now, document_id)

    def _no_data(self, request: ReportRequest) -> bool:
        """Amazon cancels a report it has no data for: configured marketplaces or types, types
        without a generator here, or sales and traffic starting more than two years ago."""
        if request.report_type in self.no_data_report_types or not can_generate(
            request.report_type
        ):
            return True
        if set(request.marketplace_ids) <= self.no_data_marketplaces:
            return True
        two_years_ago = date.today() - timedelta(days=730)
        return request.report_type == SALES_AND_TRAFFIC and request.start.date() < two_years_ago
