"""Exceptions of the Selling Partner API connector; each message names the report and the fix.

HTTP-level failures (throttling, expired tokens, expired URLs, poll timeouts) are the shared
:mod:`adlake.connectors.http` exceptions; the ones here are specific to reports and documents.
"""

from __future__ import annotations

from pathlib import Path


class SellingPartnerError(Exception):
    """Base class of the errors raised by the Selling Partner API connector."""


class InvalidReportRequest(SellingPartnerError, ValueError):
    """A createReport request that the API would reject, caught before it is sent."""


class ReportFailed(SellingPartnerError):
    """A report ended FATAL; ``details`` holds the text of Amazon's error document, if any."""

    def __init__(self, report_id: str, report_type: str, details: str | None) -> None:
        self.report_id = report_id
        self.report_type = report_type
        self.details = details
        reason = details if details else "Amazon gave no error document"
        super().__init__(
            f"Selling Partner API: report {report_id} ({report_type}) ended FATAL: {reason}. "
            "Fix: check the report options and date range, then request the report again"
        )


class DocumentError(SellingPartnerError, ValueError):
    """A report document that cannot be parsed; names the file, the line and what is wrong."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path} line {line}" if line is not None else str(path)
        super().__init__(
            f"Selling Partner report document {where}: {reason}. Fix: download the report "
            "again; if it is still wrong, keep it in quarantine and tell the seller"
        )
