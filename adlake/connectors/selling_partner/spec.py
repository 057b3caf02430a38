"""Facts of the Selling Partner API that the client and its callers need, in one place.

Hosts, marketplaces, the per-operation usage plans of the Reports API 2021-06-30 (copied from
the rate-limit tables of the official Swagger model) and the report-type index vendored in
``data/report-types.index.json`` (format, columns and options of each report type).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Literal

DocumentFormat = Literal["tsv", "csv", "json", "xml"]

SP_HOSTS = {
    "NA": "https://sellingpartnerapi-na.amazon.com",
    "EU": "https://sellingpartnerapi-eu.amazon.com",
    "FE": "https://sellingpartnerapi-fe.amazon.com",
}

# marketplace id -> (country code as Amazon's marketplace table writes it, SP-API region)
MARKETPLACES: dict[str, tuple[str, str]] = {
    "A2EUQ1WTGCTBG2": ("CA", "NA"),
    "ATVPDKIKX0DER": ("US", "NA"),
    "A1AM78C64UM0Y8": ("MX", "NA"),
    "A2Q3Y263D00KWC": ("BR", "NA"),
    "A28R8C7NBKEWEA": ("IE", "EU"),
    "A1RKKUPIHCS9HS": ("ES", "EU"),
    "A1F83G8C2ARO7P": ("UK", "EU"),
    "A13V1IB3VIYZZH": ("FR", "EU"),
    "AMEN7PMS3EDWL": ("BE", "EU"),
    "A1805IZSGTT6HS": ("NL", "EU"),
    "A1PA6795UKMFR9": ("DE", "EU"),
    "APJ6JRA9NG5V4": ("IT", "EU"),
    "A2NODRKZP88ZB9": ("SE", "EU"),
    "AE08WJ6YKNBMC": ("ZA", "EU"),
    "A1C3SOZRARQ6R3": ("PL", "EU"),
    "ARBP9OOSHTCHU": ("EG", "EU"),
    "A33AVAJ2PDY3EV": ("TR", "EU"),
    "A17E79C6D8DWNP": ("SA", "EU"),
    "A2VIGQ35RCS4UG": ("AE", "EU"),
    "A21TJRUUN4KGV": ("IN", "EU"),
    "A19VAU5U5O7RUS": ("SG", "FE"),
    "A39IBJ37TRP1C6": ("AU", "FE"),
    "A1VC38T7YXB528": ("JP", "FE"),
}

MAX_MARKETPLACES = 25
"""createReport accepts 1..25 marketplaceIds (CreateReportSpecification.marketplaceIds)."""

REPORTS_BASE = "/reports/2021-06-30"

# operationId -> (rate in requests per second, burst): the model's default usage plans
USAGE_PLANS: dict[str, tuple[float, int]] = {
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

INDEX_FILE = Path(__file__).parent / "data" / "report-types.index.json"


class UnknownReportType(ValueError):
    """A report type that neither the vendored index nor Amazon's naming rules describe."""


def marketplace_region(marketplace_id: str) -> str:
    """The SP-API region (NA, EU, FE) that serves a marketplace, for choosing the host."""
    try:
        return MARKETPLACES[marketplace_id][1]
    except KeyError:
        raise ValueError(
            f"Selling Partner API: unknown marketplace id {marketplace_id!r}; known: "
            f"{', '.join(sorted(MARKETPLACES))}. Fix: use an id from Amazon's marketplace table"
        ) from None


@cache
def report_index() -> dict[str, dict[str, Any]]:
    """Every report type of the vendored index, with its format, schema, options and columns."""
    with INDEX_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)["reportTypes"]


def report_format(report_type: str) -> DocumentFormat:
    """The document format of a report type: tsv, csv, json or xml.

    The index decides; for types it does not list, Amazon's naming rule (``GET_XML_*`` is XML,
    ``GET_FLAT_FILE_*`` is tab-separated) is used, so new flat-file types work without a release.
    """
    entry = report_index().get(report_type)
    if entry is not None:
        return entry["format"]
    if report_type.startswith("GET_XML_"):
        return "xml"
    if report_type.startswith("GET_FLAT_FILE_"):
        return "tsv"
    raise UnknownReportType(
        f"Selling Partner API: report type {report_type!r} is not in the report-type index "
        f"({INDEX_FILE.name}) and its name does not tell its format. Fix: add it to the index "
        "with its format (tsv, csv, json or xml)"
    )


def report_columns(report_type: str) -> list[str] | None:
    """The documented columns of a flat-file report type, or None when the index has no list."""
    columns = report_index().get(report_type, {}).get("columns")
    return list(columns) if columns is not None else None
