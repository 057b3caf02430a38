"""The small GAQL subset the Google Ads v25 emulator's ``googleAds:search`` understands.

``SELECT <fields> FROM user_list|offline_user_data_job [WHERE <field> = '<value>'] [LIMIT n]``
with the fields the user list and offline user data job resources expose. :func:`parse_query`
turns a query into a :class:`Query` or the GoogleAdsError Google answers; :func:`select_fields`
and :func:`field_mask` shape the proto3 JSON rows of the reply (snake_case GAQL paths become
camelCase JSON paths).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from adlake_tests.emulators.google_ads_errors import Error, ads_error

QUERY = re.compile(
    r"\s*SELECT\s+(?P<fields>[\w.,\s]+?)\s+FROM\s+(?P<resource>\w+)"
    r"(?:\s+WHERE\s+(?P<field>[\w.]+)\s*=\s*(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\d+))?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*",
    re.IGNORECASE | re.DOTALL,
)
RESOURCES = {"user_list": "userList", "offline_user_data_job": "offlineUserDataJob"}
FIELDS = {
    "user_list": {
        f"user_list.{name}"
        for name in [
            "resource_name",
            "id",
            "name",
            "description",
            "type",
            "membership_status",
            "membership_life_span",
            "size_for_search",
            "size_for_display",
            "crm_based_user_list.upload_key_type",
            "crm_based_user_list.data_source_type",
            "crm_based_user_list.app_id",
        ]
    },
    "offline_user_data_job": {
        f"offline_user_data_job.{name}"
        for name in [
            "resource_name",
            "id",
            "external_id",
            "type",
            "status",
            "failure_reason",
            "operation_metadata.match_rate_range",
            "customer_match_user_list_metadata.user_list",
            "customer_match_user_list_metadata.consent.ad_user_data",
            "customer_match_user_list_metadata.consent.ad_personalization",
        ]
    },
}


class Query(NamedTuple):
    """A parsed query: resource, selected fields, optional ``WHERE field = value`` and LIMIT."""

    resource: str
    fields: list[str]
    where_field: str | None
    where_value: str | None
    limit: int | None

    def filter(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows that match the WHERE clause, at most LIMIT of them."""
        if self.where_field:
            rows = [
                row
                for row in rows
                if pick(row, self.resource, self.where_field) == self.where_value
            ]
        return rows[: self.limit] if self.limit is not None else rows


def parse_query(text: str) -> Query | Error:
    """The query, or the queryError Google answers for it (syntax, resource, unknown field)."""
    parsed = QUERY.fullmatch(text)
    if parsed is None:
        message = (
            "The emulator understands only SELECT <fields> FROM user_list|"
            "offline_user_data_job [WHERE <field> = '<value>'] [LIMIT n]."
        )
        return ads_error("queryError", "UNEXPECTED_INPUT", message, "query")
    resource = parsed["resource"].lower()
    if resource not in RESOURCES:
        message = f"Resource {resource!r} is not supported in the FROM clause."
        return ads_error("queryError", "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE", message, "query")
    fields = [f.strip() for f in parsed["fields"].split(",") if f.strip()]
    wanted = [*fields, *([parsed["field"]] if parsed["field"] else [])]
    unknown = [f for f in wanted if f.lower() not in FIELDS[resource]]
    if unknown:
        message = f"Unrecognized field in the query: {unknown[0]!r}."
        return ads_error("queryError", "UNRECOGNIZED_FIELD", message, "query")
    value = None
    if parsed["field"]:
        value = parsed["value"].strip("'\"").replace("\\'", "'").replace('\\"', '"')
    limit = int(parsed["limit"]) if parsed["limit"] else None
    return Query(resource, fields, parsed["field"], value, limit)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def camel_path(resource: str, gaql_field: str) -> str:
    """The JSON path of a GAQL field: ``user_list.app_id`` -> ``userList.appId``."""
    parts = gaql_field.lower().split(".")
    return ".".join([RESOURCES[resource], *(_camel(p) for p in parts[1:])])


def pick(row: dict[str, Any], resource: str, gaql_field: str) -> Any:
    """The value of a GAQL field in a rendered resource, None where it is absent."""
    value: Any = row
    for part in camel_path(resource, gaql_field).split(".")[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def select_fields(row: dict[str, Any], resource: str, fields: list[str]) -> dict[str, Any]:
    """The row with only the selected fields (and its resource name), None values left out."""
    selected: dict[str, Any] = {"resourceName": row["resourceName"]}
    for gaql_field in fields:
        value = pick(row, resource, gaql_field)
        if value is None:
            continue
        parts = camel_path(resource, gaql_field).split(".")[1:]
        target = selected
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return selected


def field_mask(query: Query) -> str:
    """The reply's ``fieldMask``: the selected fields as camelCase JSON paths."""
    return ",".join(camel_path(query.resource, f) for f in query.fields)
