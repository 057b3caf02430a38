"""Exceptions of the Amazon Ads connector; each message names the profile, report and fix."""

from __future__ import annotations

from adlake.connectors.http import ApiError

API = "Amazon Ads"


class AmazonAdsError(ApiError):
    """An Amazon Ads call failed for good."""


class ReportNotFound(AmazonAdsError):
    """The report id is unknown to Amazon (deleted, expired, or another profile's)."""

    default_fix = (
        "the report id is unknown for this profile (reports expire, and ids belong to one "
        "profile); request the report again"
    )


class ReportFailed(AmazonAdsError):
    """Amazon finished a report with status FAILED; ``failure_reason`` is Amazon's reason."""

    default_fix = (
        "request the report again; if it keeps failing, shorten the date range or remove "
        "columns, and check failureReason with Amazon Ads support"
    )
    failure_reason: str | None = None


class InvalidReportRequest(ValueError):
    """A report request that Amazon would refuse, caught before sending it.

    ``problems`` lists each problem as a sentence naming the report type and the closest
    valid names.
    """

    def __init__(self, report_type: str, problems: list[str]) -> None:
        self.report_type = report_type
        self.problems = list(problems)
        super().__init__(
            f"Amazon Ads report request for {report_type} is invalid: " + "; ".join(problems)
        )


class ReportFileError(ValueError):
    """A downloaded report file is not the gzip JSON array Amazon documents."""
