"""Amazon Ads API emulator: profiles and Reporting v3, built from the official OpenAPI models.

Follows shared/specs/amazon-ads: Profiles_prod_3p.yaml (``GET /v2/profiles``) and
OfflineReport_prod_3p.json (``POST /reporting/reports``, ``GET|DELETE
/reporting/reports/{reportId}``: v3 vendor media types, ``{"code","detail"}`` errors, 425 for a
duplicate in-flight request). Requests are validated against the same vendored
report-types.json the connector ships, read directly here (not through the connector's checks).
Reports go PENDING -> PROCESSING -> COMPLETED (or FAILED) as they are polled; COMPLETED ones
carry a presigned-style URL to a gzip JSON array generated as a stream.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from adlake_tests.emulators.ads_rows import report_rows, write_report
from adlake_tests.emulators.lwa import TEST_CLIENT_ID, TokenAuthority, bearer
from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

CREATE_TYPE = "application/vnd.createasyncreportrequest.v3+json"
CREATE_RESPONSE_TYPE = "application/vnd.createasyncreportresponse.v3+json"
GET_TYPE = "application/vnd.getasyncreportresponse.v3+json"
DELETE_TYPE = "application/vnd.deleteasyncreportresponse.v3+json"
DEFAULT_FAILURE = "Report generation failed due to an internal error. Please retry"
UNAUTHORIZED = (
    "Unauthorized - Request failed because user is not authenticated or is not allowed to "
    "invoke the operation."
)
DEFAULT_PROFILES = [
    {
        "profileId": 3_243_985_820_171_590,
        "countryCode": "US",
        "currencyCode": "USD",
        "dailyBudget": 500.0,
        "timezone": "America/Los_Angeles",
        "accountInfo": {
            "marketplaceStringId": "ATVPDKIKX0DER",
            "id": "A1B2C3D4E5F6G7",
            "type": "seller",
            "name": "Adlake Test Store US",
            "validPaymentMethod": True,
        },
    },
    {
        "profileId": 1_573_029_104_821_339,
        "countryCode": "CA",
        "currencyCode": "CAD",
        "dailyBudget": 200.0,
        "timezone": "America/Los_Angeles",
        "accountInfo": {
            "marketplaceStringId": "A2EUQ1WTGCTBG2",
            "id": "A1B2C3D4E5F6G7",
            "type": "seller",
            "name": "Adlake Test Store CA",
            "validPaymentMethod": True,
        },
    },
    {
        "profileId": 2_884_116_690_554_012,
        "countryCode": "MX",
        "currencyCode": "MXN",
        "dailyBudget": 3000.0,
        "timezone": "America/Los_Angeles",
        "accountInfo": {
            "marketplaceStringId": "A1AM78C64UM0Y8",
            "id": "A1B2C3D4E5F6G7",
            "type": "vendor",
            "name": "Adlake Test Vendor MX",
            "validPaymentMethod": True,
        },
    },
]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _scope(request: Request) -> str:
    return str(request.headers.get("Amazon-Advertising-API-Scope"))


def _load_report_types() -> dict[str, Any]:
    data = resources.files("adlake.connectors.amazon_ads").joinpath("data/report-types.json")
    return json.loads(data.read_text("utf-8"))


@dataclass
class EmulatedReport:
    """A report the emulator holds: who asked for it, its body, state and file."""

    report_id: str
    profile_id: str
    body: dict[str, Any]
    created_at: datetime
    status: str = "PENDING"
    polls: int = 0
    path: Path | None = None
    rows: int = 0
    generated_at: datetime | None = None
    failure_reason: str | None = None
    rows_per_day: int = 0


class AmazonAdsEmulator(EmulatorServer):
    """Amazon Ads profiles and Reporting v3 on loopback.

    Knobs (attributes, change them any time): ``profiles``, ``client_ids`` (accepted
    ClientId headers), ``polls_to_complete`` (GETs until final, default 2), ``rows_per_day``
    (default 5), ``url_ttl`` (seconds, default 3600), ``fail_report_types`` and
    ``fail_profiles`` (reports that end FAILED with ``failure_reason``), ``empty_days``
    ((profile id, YYYY-MM-DD) pairs with no activity: no rows that day), plus the base's
    ``fail_next`` (e.g. 429 with Retry-After) and ``expire_all_urls``. Logs: ``created``
    (profile_id, body) per accepted create, ``calls`` per operation, ``reports`` by id.
    """

    name = "amazon-ads"

    def __init__(self, authority: TokenAuthority, **knobs: Any) -> None:
        super().__init__(clock=knobs.pop("clock", authority.clock))
        self.authority = authority
        self.profiles: list[dict[str, Any]] = json.loads(json.dumps(DEFAULT_PROFILES))
        self.client_ids = {TEST_CLIENT_ID}
        self.polls_to_complete = 2
        self.rows_per_day = 5
        self.url_ttl = 3600.0
        self.fail_report_types: set[str] = set()
        self.fail_profiles: set[str] = set()
        self.failure_reason = DEFAULT_FAILURE
        self.empty_days: set[tuple[str, str]] = set()
        for name, value in knobs.items():
            if not hasattr(self, name):
                raise TypeError(f"unknown AmazonAdsEmulator knob {name!r}")
            setattr(self, name, value)
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.calls: Counter[str] = Counter()
        self.reports: dict[str, EmulatedReport] = {}
        self.report_types = _load_report_types()
        self.route("GET", r"/v2/profiles", self._list_profiles)
        self.route("POST", r"/reporting/reports", self._create_report)
        self.route("GET", r"/reporting/reports/(?P<id>[^/]+)", self._get_report)
        self.route("DELETE", r"/reporting/reports/(?P<id>[^/]+)", self._delete_report)

    def error_body(self, status: int, message: str) -> Any:
        """Reporting v3's error shape."""
        return {"code": str(status), "detail": message}

    def profile(self, profile_id: str) -> dict[str, Any] | None:
        """The emulated profile with this id, or None."""
        return next((p for p in self.profiles if str(p["profileId"]) == str(profile_id)), None)

    def expected_rows(self, report_id: str) -> Any:
        """The rows the report's file holds, regenerated (an iterator, not a list)."""
        report = self.reports[report_id]
        configuration = report.body["configuration"]
        profile = self.profile(report.profile_id) or {}
        rows = report_rows(
            report.profile_id,
            configuration["columns"],
            date.fromisoformat(report.body["startDate"]),
            date.fromisoformat(report.body["endDate"]),
            configuration["timeUnit"],
            report.rows_per_day,
            profile.get("currencyCode", "USD"),
        )
        quiet = {day for scope, day in self.empty_days if scope == report.profile_id}
        return (row for row in rows if row.get("date") not in quiet)

    def _denied(self, request: Request, *, scoped: bool) -> Reply | None:
        client_id = request.headers.get("Amazon-Advertising-API-ClientId")
        if not client_id or client_id not in self.client_ids:
            return self.error(401, f"{UNAUTHORIZED} Invalid or missing ClientId header.")
        problem = self.authority.problem(bearer(request), client_id)
        if problem:
            return self.error(401, f"{UNAUTHORIZED} Access token {problem}.")
        if scoped:
            scope = request.headers.get("Amazon-Advertising-API-Scope")
            if not scope or self.profile(scope) is None:
                return self.error(401, f"{UNAUTHORIZED} Not authorized to access scope {scope}.")
        return None

    def _list_profiles(self, request: Request, match: re.Match[str]) -> Reply:
        self.calls["listProfiles"] += 1
        denied = self._denied(request, scoped=False)
        if denied is not None:
            return denied
        return json_reply(200, self.profiles)

    def _create_report(self, request: Request, match: re.Match[str]) -> Reply:
        self.calls["createReport"] += 1
        denied = self._denied(request, scoped=True)
        if denied is not None:
            return denied
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type != CREATE_TYPE:
            return self.error(415, f"Cannot consume content type {content_type or '(none)'}")
        try:
            body = request.json()
        except ValueError:
            return self.error(400, "Request body is not valid JSON")
        problem = self._invalid(body)
        if problem:
            return self.error(400, problem)
        profile_id = str(request.headers["Amazon-Advertising-API-Scope"])
        with self.lock:
            for report in self.reports.values():
                same = report.profile_id == profile_id and report.body == body
                if same and report.status in ("PENDING", "PROCESSING"):
                    return self.error(425, f"The Request is a duplicate of : {report.report_id}")
            report = EmulatedReport(str(uuid.uuid4()), profile_id, body, datetime.now(UTC))
            report.rows_per_day = self.rows_per_day
            self.reports[report.report_id] = report
            self.created.append((profile_id, body))
        return json_reply(200, self._describe(report), content_type=CREATE_RESPONSE_TYPE)

    def _invalid(self, body: Any) -> str | None:
        """The first reason Amazon would refuse a create body (400), or None."""
        if not isinstance(body, dict):
            return "Request body must be a JSON object"
        for key in ("configuration", "startDate", "endDate"):
            if key not in body:
                return f"Missing required field: {key}"
        configuration = body["configuration"]
        if not isinstance(configuration, dict):
            return "configuration must be an object"
        for key in ("adProduct", "columns", "format", "groupBy", "reportTypeId", "timeUnit"):
            if not configuration.get(key):
                return f"Missing required field: configuration.{key}"
        spec = self.report_types.get(configuration["reportTypeId"])
        if spec is None:
            return f"Invalid reportTypeId: {configuration['reportTypeId']}"
        return self._invalid_configuration(spec, configuration) or self._invalid_dates(spec, body)

    def _invalid_configuration(
        self, spec: dict[str, Any], configuration: dict[str, Any]
    ) -> str | None:
        if configuration["adProduct"] != spec["adProduct"]:
            return f"adProduct {configuration['adProduct']} does not match reportTypeId"
        if configuration["format"] not in spec["format"]:
            return f"Invalid format: {configuration['format']}"
        if configuration["timeUnit"] not in spec["timeUnit"]:
            return f"Invalid timeUnit: {configuration['timeUnit']}"
        extras = spec.get("groupByColumns", {})
        groups = configuration["groupBy"]
        bad_groups = [g for g in groups if g not in spec["groupBy"] and g not in extras]
        if bad_groups:
            return f"configuration groupBy includes invalid values: ({', '.join(bad_groups)})"
        allowed = list(spec["baseColumns"])
        for group in groups:
            allowed += extras.get(group, {}).get("additionalColumns", [])
        bad = [c for c in configuration["columns"] if c not in allowed]
        if bad:
            return (
                f"configuration columns includes invalid values: ({', '.join(bad)}). "
                f"Allowed values: ({', '.join(dict.fromkeys(allowed))})"
            )
        if configuration["timeUnit"] == "SUMMARY" and "date" in configuration["columns"]:
            return "Column date is not supported for timeUnit SUMMARY"
        filters = {f["field"] for g in groups for f in extras.get(g, {}).get("filters", [])}
        given = [item.get("field") for item in configuration.get("filters") or []]
        bad_filters = [field for field in given if field not in filters]
        if bad_filters:
            return (
                f"configuration filters includes fields: ({', '.join(map(str, bad_filters))}) "
                f"which are invalid for groupBys: {', '.join(groups)}"
            )
        return None

    def _invalid_dates(self, spec: dict[str, Any], body: dict[str, Any]) -> str | None:
        try:
            start, end = date.fromisoformat(body["startDate"]), date.fromisoformat(body["endDate"])
        except (TypeError, ValueError):
            return "startDate and endDate must be YYYY-MM-DD"
        longest = int(spec["maximumDateRange"].split()[0])
        if end < start:
            return "endDate must not be before startDate"
        if (end - start).days + 1 > longest:
            return f"Report date range cannot exceed {longest} days"
        return None

    def _get_report(self, request: Request, match: re.Match[str]) -> Reply:
        self.calls["getReport"] += 1
        denied = self._denied(request, scoped=True)
        if denied is not None:
            return denied
        with self.lock:
            report = self.reports.get(match["id"])
            if report is None or report.profile_id != _scope(request):
                return self.error(404, "Not Found")
            self._advance(report)
        return json_reply(200, self._describe(report), content_type=GET_TYPE)

    def _advance(self, report: EmulatedReport) -> None:
        """One poll moves the report along: PROCESSING until ``polls_to_complete``, then final."""
        if report.status in ("COMPLETED", "FAILED"):
            return
        report.polls += 1
        if report.polls < self.polls_to_complete:
            first = report.polls == 1 and self.polls_to_complete > 2
            report.status = "PENDING" if first else "PROCESSING"
            return
        configuration = report.body["configuration"]
        if (
            configuration["reportTypeId"] in self.fail_report_types
            or report.profile_id in self.fail_profiles
        ):
            report.status, report.failure_reason = "FAILED", self.failure_reason
            return
        report.path = self.workdir / f"report-{report.report_id}.json.gz"
        report.rows = write_report(self.expected_rows(report.report_id), report.path)
        report.status, report.generated_at = "COMPLETED", datetime.now(UTC)

    def _describe(self, report: EmulatedReport) -> dict[str, Any]:
        body = report.body
        now = datetime.now(UTC)
        configuration = {"filters": None, **body["configuration"]}
        described: dict[str, Any] = {
            "configuration": configuration,
            "createdAt": _iso(report.created_at),
            "endDate": body["endDate"],
            "failureReason": report.failure_reason,
            "fileSize": None,
            "generatedAt": None,
            "name": body.get("name"),
            "reportId": report.report_id,
            "startDate": body["startDate"],
            "status": report.status,
            "updatedAt": _iso(report.generated_at or report.created_at),
            "url": None,
            "urlExpiresAt": None,
        }
        if report.status == "COMPLETED" and report.path is not None:
            described["url"] = self.publish(
                report.path, ttl=self.url_ttl, content_type="application/x-gzip"
            )
            described["urlExpiresAt"] = _iso(now + timedelta(seconds=self.url_ttl))
            described["fileSize"] = report.path.stat().st_size
            described["generatedAt"] = _iso(report.generated_at or now)
        return described

    def _delete_report(self, request: Request, match: re.Match[str]) -> Reply:
        self.calls["deleteReport"] += 1
        denied = self._denied(request, scoped=True)
        if denied is not None:
            return denied
        with self.lock:
            report = self.reports.get(match["id"])
            if report is None or report.profile_id != _scope(request):
                return self.error(404, "Not Found")
            del self.reports[report.report_id]
        payload = {"code": "200", "detail": "Report deleted", "reportId": report.report_id}
        return json_reply(200, payload, content_type=DELETE_TYPE)
