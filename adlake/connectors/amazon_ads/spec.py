"""What Amazon Ads Reporting v3 accepts, from the vendored report-types.json and columns.json.

A report request is checked here before it is sent, so a typo in adlake.yaml is reported at
once with the closest valid names, not hours later as a FAILED report. The data files are
loaded lazily and once (see ``data/README.md`` for their origin).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from importlib import resources
from typing import Any

TIME_UNITS = ("DAILY", "SUMMARY")
_DATA = "adlake.connectors.amazon_ads"
_RATE_WORDS = ("rate", "percentage", "share", "roas", "acos", "average", "frequency", "index")
_DATE_COLUMNS = {"date", "startDate", "endDate"}


@functools.cache
def _report_types() -> dict[str, dict[str, Any]]:
    text = resources.files(_DATA).joinpath("data/report-types.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _columns() -> dict[str, dict[str, Any]]:
    text = resources.files(_DATA).joinpath("data/columns.json").read_text("utf-8")
    return json.loads(text)


def _close(name: str, choices: Iterable[str]) -> str:
    """'; did you mean a, b?' for the closest names, or '' when none is close."""
    matches = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(matches)}?" if matches else ""


def _spec(report_type: str) -> dict[str, Any]:
    spec = _report_types().get(report_type)
    if spec is None:
        raise KeyError(unknown_report_type(report_type))
    return spec


def unknown_report_type(report_type: str) -> str:
    """The message for a report type Amazon Ads does not know, with the closest ones."""
    hint = _close(report_type, _report_types()) or f"; valid: {', '.join(report_types())}"
    return f"unknown Amazon Ads report type {report_type!r}{hint}"


def report_types() -> list[str]:
    """Every reportTypeId in the vendored data, sorted."""
    return sorted(_report_types())


def ad_product(report_type: str) -> str:
    """The ``adProduct`` a report type belongs to (SPONSORED_PRODUCTS, ...)."""
    return str(_spec(report_type)["adProduct"])


def _days(text: str) -> int:
    match = re.match(r"\s*(\d+)\s*day", text)
    if not match:
        raise ValueError(f"cannot read a number of days from {text!r}")
    return int(match[1])


def max_days(report_type: str) -> int:
    """The longest date range (in days, both ends included) one report request may cover."""
    return _days(_spec(report_type)["maximumDateRange"])


def retention_days(report_type: str) -> int:
    """How many days back Amazon keeps the data of a report type."""
    return _days(_spec(report_type)["dataRetention"])


def time_units(report_type: str) -> list[str]:
    """The timeUnits a report type accepts (DAILY, SUMMARY)."""
    return list(_spec(report_type)["timeUnit"])


def group_bys(report_type: str) -> list[str]:
    """The groupBy values a report type accepts.

    Some report types list a groupBy only under ``groupByColumns``; both places count.
    """
    spec = _spec(report_type)
    return list(dict.fromkeys([*spec["groupBy"], *spec.get("groupByColumns", {})]))


def _as_list(group_by: str | Sequence[str]) -> list[str]:
    return [group_by] if isinstance(group_by, str) else list(group_by)


def valid_columns(report_type: str, group_by: str | Sequence[str]) -> list[str]:
    """The columns a report type accepts with these groupBys: base plus each groupBy's extras."""
    spec = _spec(report_type)
    columns = list(spec["baseColumns"])
    for name in _as_list(group_by):
        columns += spec.get("groupByColumns", {}).get(name, {}).get("additionalColumns", [])
    return list(dict.fromkeys(columns))


def filter_values(report_type: str, group_by: str | Sequence[str]) -> dict[str, list[str]]:
    """Filter fields the groupBys accept, each with its allowed values."""
    found: dict[str, list[str]] = {}
    extras = _spec(report_type).get("groupByColumns", {})
    for name in _as_list(group_by):
        for item in extras.get(name, {}).get("filters", []):
            found.setdefault(item["field"], []).extend(item.get("values", []))
    return found


def check_report(
    report_type: str,
    columns: Sequence[str],
    group_by: str | Sequence[str],
    time_unit: str,
    filters: Sequence[dict[str, Any]] = (),
) -> list[str]:
    """Every problem of a report configuration, as sentences naming the report type and fix.

    An empty list means Amazon should accept it (as far as the vendored docs say).
    """
    if report_type not in _report_types():
        return [unknown_report_type(report_type)]
    problems: list[str] = []
    groups = _as_list(group_by)
    allowed_groups = group_bys(report_type)
    if not groups:
        problems.append(f"{report_type}: groupBy is empty; use one of {', '.join(allowed_groups)}")
    for name in groups:
        if name not in allowed_groups:
            hint = _close(name, allowed_groups) or f"; valid: {', '.join(allowed_groups)}"
            problems.append(f"{report_type}: unknown groupBy {name!r}{hint}")
    if time_unit not in time_units(report_type):
        valid = " or ".join(time_units(report_type))
        problems.append(f"{report_type}: timeUnit {time_unit!r} is not supported; use {valid}")
    if time_unit not in time_units(report_type):
        time_unit = ""
    problems += _check_columns(report_type, list(columns), groups, time_unit)
    problems += _check_filters(report_type, filters, groups)
    return problems


def _check_columns(
    report_type: str, columns: list[str], groups: list[str], time_unit: str
) -> list[str]:
    problems: list[str] = []
    if not columns:
        return [f"{report_type}: columns is empty; list at least one column"]
    valid = valid_columns(report_type, groups)
    where = f"{report_type} grouped by {', '.join(groups) or '(nothing)'}"
    for name in columns:
        if name not in valid:
            hint = _close(name, valid) or f"; see valid_columns({report_type!r}, {groups!r})"
            problems.append(f"{where}: column {name!r} is not available{hint}")
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        problems.append(f"{report_type}: columns listed twice: {', '.join(duplicates)}")
    if time_unit == "SUMMARY" and "date" in columns:
        problems.append(
            f"{report_type}: column 'date' needs timeUnit DAILY; with SUMMARY use startDate "
            "and endDate"
        )
    if time_unit == "DAILY":
        if "date" not in columns:
            problems.append(f"{report_type}: timeUnit DAILY needs the column 'date'")
        for name in sorted({"startDate", "endDate"} & set(columns)):
            problems.append(f"{report_type}: column {name!r} needs timeUnit SUMMARY; use 'date'")
    return problems


def _check_filters(
    report_type: str, filters: Sequence[dict[str, Any]], groups: list[str]
) -> list[str]:
    problems: list[str] = []
    allowed = filter_values(report_type, groups)
    for item in filters:
        field = item.get("field") if isinstance(item, dict) else None
        if field not in allowed:
            valid = ", ".join(allowed) or "none"
            hint = _close(str(field), allowed) or f"; filters allowed: {valid}"
            problems.append(
                f"{report_type}: filter field {field!r} is not supported for groupBy "
                f"{', '.join(groups)}{hint}"
            )
            continue
        values = item.get("values") or []
        bad = [value for value in values if allowed[field] and value not in allowed[field]]
        if not values or bad:
            problems.append(
                f"{report_type}: filter {field} needs values from {', '.join(allowed[field])}"
                + (f"; got {', '.join(map(str, bad))}" if bad else "")
            )
    return problems


def check_dates(report_type: str, start: date, end: date, today: date | None = None) -> list[str]:
    """Problems of a date range: reversed, longer than the maximum, or past the retention."""
    if report_type not in _report_types():
        return [unknown_report_type(report_type)]
    problems = []
    if end < start:
        problems.append(f"{report_type}: endDate {end} is before startDate {start}")
    longest = max_days(report_type)
    if (end - start).days + 1 > longest:
        problems.append(
            f"{report_type}: {start}..{end} spans {(end - start).days + 1} days; one request "
            f"may cover at most {longest}; split it into windows of at most {longest} days"
        )
    if today is not None and start < today - timedelta(days=retention_days(report_type)):
        problems.append(
            f"{report_type}: startDate {start} is older than the {retention_days(report_type)} "
            "days Amazon keeps; start later"
        )
    return problems


def column_type(name: str) -> str:
    """The adlake column type of a report column.

    One of string, bigint, double, decimal, date, boolean. columns.json types Integer/Long
    become bigint (double for a name ending in Rate: Amazon sends a fraction); Decimal becomes
    decimal for amounts and double for rates, shares, ROAS and averages; date, startDate and
    endDate are dates. Misspelt types are read leniently; a missing type counts as Decimal.
    """
    if name in _DATE_COLUMNS:
        return "date"
    known = _columns().get(name)
    declared = str((known or {}).get("type") or ("decimal" if known else "string")).lower()
    lowered = name.lower()
    if "int" in declared or "long" in declared:
        return "double" if lowered.endswith("rate") else "bigint"
    if declared.startswith("dec") or "double" in declared or "float" in declared:
        return "double" if any(word in lowered for word in _RATE_WORDS) else "decimal"
    if "bool" in declared:
        return "boolean"
    return "string"
