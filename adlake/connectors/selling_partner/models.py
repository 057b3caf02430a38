"""The Reports API 2021-06-30 objects the client returns: a report and its document.

Plain frozen dataclasses parsed from the API's JSON, so callers never handle raw dicts and the
meaning of each processing status (notably CANCELLED = "no data") is written down once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

ProcessingStatus = Literal["IN_QUEUE", "IN_PROGRESS", "DONE", "FATAL", "CANCELLED"]
TERMINAL_STATUSES = frozenset({"DONE", "FATAL", "CANCELLED"})


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 date-time of the API (``Z`` suffix allowed) as an aware datetime, or None."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def format_time(value: datetime) -> str:
    """A datetime in the ISO 8601 form the API expects; naive values are taken as UTC."""
    text = value.isoformat()
    return text if value.tzinfo is not None else text + "Z"


@dataclass(frozen=True)
class SpReport:
    """One report as getReport describes it.

    ``processing_status`` CANCELLED means either an explicit cancellation or, per the model,
    that Amazon found no data to return: callers treat it as an empty report (``no_data``).
    """

    report_id: str
    report_type: str
    processing_status: ProcessingStatus
    document_id: str | None
    marketplace_ids: tuple[str, ...]
    data_start_time: datetime | None
    data_end_time: datetime | None
    created_time: datetime | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> SpReport:
        """Parse a Report object of the model."""
        return cls(
            report_id=str(body["reportId"]),
            report_type=str(body["reportType"]),
            processing_status=body["processingStatus"],
            document_id=body.get("reportDocumentId") or None,
            marketplace_ids=tuple(body.get("marketplaceIds") or ()),
            data_start_time=parse_time(body.get("dataStartTime")),
            data_end_time=parse_time(body.get("dataEndTime")),
            created_time=parse_time(body.get("createdTime")),
        )

    @property
    def finished(self) -> bool:
        """Whether the report reached a final status (DONE, FATAL or CANCELLED)."""
        return self.processing_status in TERMINAL_STATUSES

    @property
    def done(self) -> bool:
        """Whether the report succeeded and its document can be downloaded."""
        return self.processing_status == "DONE"

    @property
    def no_data(self) -> bool:
        """Whether the report was CANCELLED: there is nothing to download, an empty result."""
        return self.processing_status == "CANCELLED"

    def __str__(self) -> str:
        return f"report {self.report_id} ({self.report_type}) {self.processing_status}"


@dataclass(frozen=True)
class SpDocument:
    """Where to download a report document: a presigned URL valid for about 5 minutes.

    ``compression`` is "GZIP" when the bytes behind the URL are gzip-compressed, else None.
    """

    document_id: str
    url: str
    compression: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> SpDocument:
        """Parse a ReportDocument object of the model."""
        return cls(
            document_id=str(body["reportDocumentId"]),
            url=str(body["url"]),
            compression=body.get("compressionAlgorithm") or None,
        )

    def __repr__(self) -> str:
        return f"SpDocument(document_id={self.document_id!r}, compression={self.compression!r})"
