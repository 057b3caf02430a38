"""The Selling Partner emulator's report state machine, token buckets and document writing.

Kept apart from the HTTP side so each piece stays small: :class:`EmulatedReport` walks the
model's processingStatus values, :class:`TokenBucket` is one usage plan (rate, burst),
:func:`write_document` writes the document of a finished report in its format, and
:func:`document_content` regenerates what that document holds for a test to compare with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from adlake_tests.emulators.sp_documents import (
    REPO,
    REPORT_TYPES,
    SALES_AND_TRAFFIC,
    ReportRequest,
    flat_file_records,
    report_format,
    write_flat_file,
)
from adlake_tests.emulators.sp_structured import (
    sales_and_traffic,
    write_error_document,
    write_json,
    write_xml_orders,
    xml_orders,
)

MODEL = REPO.parent / "shared/specs/amazon-selling-partner/models/reports_2021-06-30.json"
# the model's tables, for a checkout without ../shared/specs
FALLBACK_PLANS = {
    "getReports": (0.0222, 10),
    "createReport": (0.0167, 15),
    "cancelReport": (0.0222, 10),
    "getReport": (2.0, 15),
    "getReportSchedules": (0.0222, 10),
    "createReportSchedule": (0.0222, 10),
    "cancelReportSchedule": (0.0222, 10),
    "getReportSchedule": (0.0222, 10),
    "getReportDocument": (0.0167, 15),
}
_PLAN_ROW = re.compile(r"\|\s*([\d.]+)\s*\|\s*(\d+)\s*\|")
XML_RECORD = "Order"
NOT_REQUESTABLE = {"GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"}
CLOCK_SKEW = timedelta(minutes=5)
CREATE_FIELDS = {"reportType", "marketplaceIds", "dataStartTime", "dataEndTime", "reportOptions"}


@cache
def usage_plans(model: Path = MODEL) -> dict[str, tuple[float, int]]:
    """operationId -> (rate per second, burst), read from the model's "Usage Plan" tables.

    Cached: callers copy the result before changing it.
    """
    if not model.is_file():
        return dict(FALLBACK_PLANS)
    plans: dict[str, tuple[float, int]] = {}
    for operations in json.loads(model.read_text(encoding="utf-8"))["paths"].values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            row = _PLAN_ROW.search(operation.get("description", ""))
            if row:
                plans[operation["operationId"]] = (float(row[1]), int(row[2]))
    return plans


class TokenBucket:
    """One usage plan: ``burst`` requests at once, refilled at ``rate`` per second."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one (refilling first); False means 429."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class DocumentSpec:
    """The generation knobs in force when a report finished, so its records can be redone."""

    rows_per_day: int = 5
    asins: int = 5
    seed: int = 0
    extra_columns: tuple[str, ...] = ()
    encoding: str = "utf-8"
    compress: bool = True


@dataclass(frozen=True)
class StoredDocument:
    """A document the emulator wrote: where it is and how getReportDocument describes it."""

    path: Path
    compressed: bool
    content_type: str
    request: ReportRequest
    spec: DocumentSpec
    error: bool = False


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


@dataclass
class EmulatedReport:
    """A report and its processingStatus: IN_QUEUE -> IN_PROGRESS -> DONE|FATAL|CANCELLED."""

    request: ReportRequest
    created: datetime
    status: str = "IN_QUEUE"
    polls: int = 0
    started: datetime | None = None
    ended: datetime | None = None
    document_id: str | None = None
    history: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        """Whether the status can no longer change."""
        return self.status in ("DONE", "FATAL", "CANCELLED")

    def advance(self, polls_to_complete: int, now: datetime) -> bool:
        """Count one getReport; True when this one must reveal the final status.

        The first answer is IN_QUEUE, the next ``polls_to_complete - 1`` IN_PROGRESS, then
        the report is final (``polls_to_complete`` 0 makes the first answer final).
        """
        if self.final:
            return False
        self.polls += 1
        if self.polls > polls_to_complete:
            return True
        if self.polls > 1 and self.status == "IN_QUEUE":
            self.status, self.started = "IN_PROGRESS", now
        return False

    def finish(self, status: str, now: datetime, document_id: str | None = None) -> None:
        """Enter a final status, with the document (report or error) it produced."""
        self.status = status
        self.started = self.started or now
        self.ended = now
        self.document_id = document_id

    def cancel(self, now: datetime) -> None:
        """cancelReport: only an IN_QUEUE report may be cancelled (checked by the caller)."""
        self.status, self.ended = "CANCELLED", now

    def to_json(self) -> dict[str, Any]:
        """The model's Report object."""
        request = self.request
        body = {
            "reportId": request.report_id,
            "reportType": request.report_type,
            "marketplaceIds": list(request.marketplace_ids),
            "dataStartTime": _stamp(request.start),
            "dataEndTime": _stamp(request.end),
            "createdTime": _stamp(self.created),
            "processingStatus": self.status,
            "processingStartTime": _stamp(self.started),
            "processingEndTime": _stamp(self.ended),
            "reportDocumentId": self.document_id,
        }
        return {key: value for key, value in body.items() if value is not None}


def can_generate(report_type: str) -> bool:
    """Whether the emulator has a generator for this type (others end CANCELLED: no data)."""
    fmt = report_format(report_type)
    return fmt == "tsv" or report_type == SALES_AND_TRAFFIC or fmt == "xml"


def write_document(path: Path, request: ReportRequest, spec: DocumentSpec) -> StoredDocument:
    """Write the document of a DONE report in its format, streaming; gzip unless disabled."""
    fmt = report_format(request.report_type)
    if fmt == "tsv":
        write_flat_file(
            path,
            request,
            rows_per_day=spec.rows_per_day,
            seed=spec.seed,
            extra_columns=spec.extra_columns,
            encoding=spec.encoding,
            compress=spec.compress,
        )
        content_type = "text/tab-separated-values"
    elif fmt == "xml":
        write_xml_orders(
            path, request, rows_per_day=spec.rows_per_day, seed=spec.seed, compress=spec.compress
        )
        content_type = "text/xml"
    else:
        document = sales_and_traffic(request, asins=spec.asins, seed=spec.seed)
        write_json(path, document, compress=spec.compress)
        content_type = "application/json"
    return StoredDocument(path, spec.compress, content_type, request, spec)


def write_error(
    path: Path, request: ReportRequest, spec: DocumentSpec, details: str
) -> StoredDocument:
    """Write the error document of a FATAL report."""
    write_error_document(path, details, compress=spec.compress)
    return StoredDocument(path, spec.compress, "application/json", request, spec, error=True)


def document_content(document: StoredDocument) -> Iterator[dict[str, Any]] | dict[str, Any]:
    """What a report document holds: records (TSV, XML orders) or the whole JSON object."""
    request, spec = document.request, document.spec
    fmt = REPORT_TYPES[request.report_type]["format"]
    if fmt == "tsv":
        return flat_file_records(
            request,
            rows_per_day=spec.rows_per_day,
            seed=spec.seed,
            extra_columns=spec.extra_columns,
        )
    if fmt == "xml":
        return xml_orders(request, rows_per_day=spec.rows_per_day, seed=spec.seed)
    return sales_and_traffic(request, asins=spec.asins, seed=spec.seed)


def _iso(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date-time (naive means UTC); ValueError naming the field otherwise."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} {value!r} is not an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_create_body(body: Any, report_id: str, now: datetime) -> ReportRequest:
    """The report a createReport body (CreateReportSpecification) asks for.

    Raises ValueError saying what the model (or the index) does not allow: unknown report
    type or property, 1..25 marketplaceIds, ISO 8601 times not in the future, start after
    end, reportOptions values outside the index's choices.
    """
    if not isinstance(body, dict):
        raise ValueError("the body must be a CreateReportSpecification object")
    if set(body) - CREATE_FIELDS:
        raise ValueError(f"unknown properties: {', '.join(sorted(set(body) - CREATE_FIELDS))}")
    report_type = body.get("reportType")
    if report_type not in REPORT_TYPES:
        raise ValueError(f"reportType {report_type!r} is not a valid report type")
    if report_type in NOT_REQUESTABLE:
        raise ValueError(f"Requested report type {report_type} cannot be requested")
    marketplaces = body.get("marketplaceIds")
    if not isinstance(marketplaces, list) or not 1 <= len(marketplaces) <= 25:
        raise ValueError("marketplaceIds must be an array of 1 to 25 marketplace ids")
    if not all(isinstance(m, str) and m for m in marketplaces):
        raise ValueError("marketplaceIds must hold non-empty strings")
    start = _iso(body.get("dataStartTime"), "dataStartTime") or now
    end = _iso(body.get("dataEndTime"), "dataEndTime") or now
    if start > end:
        raise ValueError("dataStartTime must not be after dataEndTime")
    if end > now + CLOCK_SKEW:
        raise ValueError("dataEndTime must be prior to or equal to the current date and time")
    options = body.get("reportOptions") or {}
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        raise ValueError("reportOptions must map option names to string values")
    allowed = REPORT_TYPES[report_type].get("reportOptions", {})
    for key, value in options.items():
        if key in allowed and value not in allowed[key]:
            raise ValueError(f"reportOptions.{key} must be one of {', '.join(allowed[key])}")
    return ReportRequest(report_id, report_type, tuple(marketplaces), start, end, dict(options))
