"""Plain data objects of the Amazon Ads API: profiles, report requests and report states."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from adlake.connectors.amazon_ads import spec
from adlake.connectors.http import safe_url

REPORT_FORMAT = "GZIP_JSON"
FINAL_STATUSES = frozenset({"COMPLETED", "FAILED"})


def _timestamp(value: Any) -> datetime | None:
    """An ISO 8601 timestamp of the API (``Z`` or an offset), or None."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class AdsProfile:
    """An advertiser in one marketplace: the scope of every report and campaign call."""

    profile_id: str
    country_code: str
    currency_code: str
    timezone: str
    marketplace_id: str
    account_type: str
    account_name: str
    account_id: str = ""
    daily_budget: float | None = None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> AdsProfile:
        """A profile from one item of ``GET /v2/profiles``."""
        account = body.get("accountInfo") or {}
        budget = body.get("dailyBudget")
        return cls(
            profile_id=str(body["profileId"]),
            country_code=str(body.get("countryCode") or ""),
            currency_code=str(body.get("currencyCode") or ""),
            timezone=str(body.get("timezone") or ""),
            marketplace_id=str(account.get("marketplaceStringId") or ""),
            account_type=str(account.get("type") or ""),
            account_name=str(account.get("name") or ""),
            account_id=str(account.get("id") or ""),
            daily_budget=float(budget) if budget is not None else None,
        )


@dataclass(frozen=True)
class ReportRequest:
    """One Reporting v3 request: report type, columns, groupBys, dates and time unit.

    ``body()`` builds the JSON Amazon expects (adProduct from the report type, GZIP_JSON);
    ``problems()`` lists what Amazon would refuse, checked against the vendored docs.
    """

    report_type: str
    columns: list[str]
    group_by: list[str]
    start_date: date
    end_date: date
    time_unit: Literal["DAILY", "SUMMARY"] = "DAILY"
    filters: list[dict[str, Any]] = field(default_factory=list)
    name: str | None = None

    def problems(self) -> list[str]:
        """What is wrong with this request (empty when Amazon should accept it)."""
        found = spec.check_report(
            self.report_type, self.columns, self.group_by, self.time_unit, self.filters
        )
        if self.report_type in spec.report_types():
            found += spec.check_dates(self.report_type, self.start_date, self.end_date)
        return found

    def body(self) -> dict[str, Any]:
        """The ``createAsyncReport`` request body."""
        configuration: dict[str, Any] = {
            "adProduct": spec.ad_product(self.report_type),
            "groupBy": list(self.group_by),
            "columns": list(self.columns),
            "reportTypeId": self.report_type,
            "timeUnit": self.time_unit,
            "format": REPORT_FORMAT,
        }
        if self.filters:
            configuration["filters"] = [dict(item) for item in self.filters]
        name = self.name or f"adlake {self.report_type} {self.start_date}..{self.end_date}"
        return {
            "name": name,
            "startDate": self.start_date.isoformat(),
            "endDate": self.end_date.isoformat(),
            "configuration": configuration,
        }


@dataclass(frozen=True)
class AdsReport:
    """The state of a requested report; ``url`` (presigned, secret) is set when COMPLETED."""

    report_id: str
    status: str
    report_type: str = ""
    name: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    url: str | None = field(default=None, repr=False)
    url_expires_at: datetime | None = None
    file_size: int | None = None
    failure_reason: str | None = None
    generated_at: datetime | None = None
    created_at: datetime | None = None

    @property
    def done(self) -> bool:
        """True once Amazon will not change the report any more (COMPLETED or FAILED)."""
        return self.status in FINAL_STATUSES

    @property
    def safe_url(self) -> str | None:
        """The download URL without its signature, fit for logs and metadata."""
        return safe_url(self.url) if self.url else None

    def __str__(self) -> str:
        return f"report {self.report_id} ({self.report_type or 'unknown type'}) {self.status}"

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> AdsReport:
        """A report from a ``getAsyncReport`` or ``createAsyncReport`` response."""
        configuration = body.get("configuration") or {}
        size = body.get("fileSize")
        return cls(
            report_id=str(body["reportId"]),
            status=str(body.get("status") or "PENDING"),
            report_type=str(configuration.get("reportTypeId") or ""),
            name=body.get("name"),
            start_date=body.get("startDate"),
            end_date=body.get("endDate"),
            url=body.get("url"),
            url_expires_at=_timestamp(body.get("urlExpiresAt")),
            file_size=int(size) if size is not None else None,
            failure_reason=body.get("failureReason"),
            generated_at=_timestamp(body.get("generatedAt")),
            created_at=_timestamp(body.get("createdAt")),
        )
