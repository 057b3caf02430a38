"""Models of declarative REST sources: SaaS APIs pulled by configuration, not code.

A ``rest`` source is a base URL, an auth method (secret names only), an optional request rate,
and resources. A resource is a path (GET, or POST with a JSON body), where its records are in
each answer (a JSONPath), how its pages follow one another (a paginator), which field is its
incremental cursor, which resource it hangs from (parent -> child), and the typed columns its
records clean into. ``{placeholders}`` in path, params and body are filled per request: the
incremental ``{cursor}`` and the parent fields a child names. Mistakes fail at load time
naming the key: a JSONPath that does not compile, an unknown paginator, a placeholder nothing
fills, a parent that does not exist or makes a cycle.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from adlake.config.base import Cron, Name, Ownership, _Model
from adlake.config.datasets import ColumnConfig, DatasetConfig, PartitionConfig, RetentionConfig
from adlake.config.errors import did_you_mean, problem

CURSOR = "cursor"
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@functools.lru_cache(maxsize=256)
def compile_jsonpath(path: str) -> Any:
    """The compiled JSONPath (jsonpath-ng, cached: parsing costs ~1 ms); ValueError says why not."""
    from jsonpath_ng import parse
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError

    try:
        return parse(path)
    except (JsonPathLexerError, JsonPathParserError, ValueError, TypeError) as exc:
        raise ValueError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def _jsonpath(value: str) -> str:
    try:
        compile_jsonpath(value)
    except ValueError as exc:
        raise problem(
            f"not a JSONPath ({exc})",
            "write it like $.records or $.paging.next.after",
            value=value,
        ) from None
    return value


JsonPath = Annotated[str, Field(min_length=1)]


class OAuthRefreshTokenAuth(_Model):
    """OAuth2 refresh-token grant (Salesforce style): a new access token when one expires."""

    type: Literal["oauth2_refresh_token"]
    token_url: str = Field(description="Token endpoint, e.g. https://login.salesforce.com/...")
    client_id: str = Field(description="Secret name of the client id.")
    client_secret: str = Field(description="Secret name of the client secret.")
    refresh_token: str = Field(description="Secret name of the refresh token.")
    scope: str | None = Field(None, description="Scope to ask for, when the API needs one.")

    def secret_names(self) -> set[str]:
        """Names of the secrets this auth reads."""
        return {self.client_id, self.client_secret, self.refresh_token}


class OAuthClientCredentialsAuth(_Model):
    """OAuth2 client-credentials grant: the app's own token, renewed when it expires."""

    type: Literal["oauth2_client_credentials"]
    token_url: str = Field(description="Token endpoint.")
    client_id: str = Field(description="Secret name of the client id.")
    client_secret: str = Field(description="Secret name of the client secret.")
    scope: str | None = Field(None, description="Scope to ask for, when the API needs one.")

    def secret_names(self) -> set[str]:
        """Names of the secrets this auth reads."""
        return {self.client_id, self.client_secret}


class ApiKeyAuth(_Model):
    """An API key sent as a header or a query parameter."""

    type: Literal["api_key"]
    key: str = Field(description="Secret name of the key.")
    name: str = Field("X-API-Key", description="Header or query parameter name.")
    location: Literal["header", "query"] = Field("header", description="Where the key goes.")
    prefix: str = Field("", description="Text before the key, e.g. 'Token '.")

    def secret_names(self) -> set[str]:
        """Names of the secrets this auth reads."""
        return {self.key}


class BearerAuth(_Model):
    """A fixed bearer token (a HubSpot private-app token, a personal access token)."""

    type: Literal["bearer"]
    token: str = Field(description="Secret name of the token.")

    def secret_names(self) -> set[str]:
        """Names of the secrets this auth reads."""
        return {self.token}


class BasicAuth(_Model):
    """HTTP basic authentication."""

    type: Literal["basic"]
    username: str = Field(description="Secret name of the user name.")
    password: str = Field(description="Secret name of the password.")

    def secret_names(self) -> set[str]:
        """Names of the secrets this auth reads."""
        return {self.username, self.password}


RestAuthConfig = Annotated[
    OAuthRefreshTokenAuth | OAuthClientCredentialsAuth | ApiKeyAuth | BearerAuth | BasicAuth,
    Field(discriminator="type"),
]


class CursorPaginator(_Model):
    """The next page's cursor is in the answer's body; it goes back as a parameter."""

    type: Literal["cursor"]
    cursor_path: JsonPath = Field(
        description="JSONPath of the next cursor, e.g. $.paging.next.after."
    )
    param: str = Field(description="Query parameter (GET) or body field (POST) that takes it.")

    @field_validator("cursor_path")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _jsonpath(value)


class NextUrlPaginator(_Model):
    """The answer's body holds the next page's URL (absolute or relative to the base URL)."""

    type: Literal["next_url"]
    next_url_path: JsonPath = Field(description="JSONPath of the next URL, e.g. $.nextRecordsUrl.")

    @field_validator("next_url_path")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _jsonpath(value)


class LinkHeaderPaginator(_Model):
    """The next page's URL is in the ``Link`` header (RFC 8288, rel="next")."""

    type: Literal["link_header"]
    rel: str = Field("next", description="The link relation of the next page.")


class OffsetPaginator(_Model):
    """offset/limit parameters; the last page is short or empty (or ``total_path`` is reached)."""

    type: Literal["offset"]
    offset_param: str = Field("offset", description="Parameter of the first record's offset.")
    limit_param: str = Field("limit", description="Parameter of the page size.")
    limit: int = Field(100, ge=1, description="Records per page.")
    total_path: JsonPath | None = Field(None, description="JSONPath of the total record count.")

    @field_validator("total_path")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return value if value is None else _jsonpath(value)


class PageNumberPaginator(_Model):
    """page=1, 2, ...; the last page is empty (or ``total_pages_path`` is reached)."""

    type: Literal["page_number"]
    page_param: str = Field("page", description="Parameter of the page number.")
    first_page: int = Field(1, ge=0, description="Number of the first page.")
    total_pages_path: JsonPath | None = Field(None, description="JSONPath of the number of pages.")

    @field_validator("total_pages_path")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return value if value is None else _jsonpath(value)


class SinglePage(_Model):
    """One request, one page."""

    type: Literal["single"]


PaginatorConfig = Annotated[
    CursorPaginator
    | NextUrlPaginator
    | LinkHeaderPaginator
    | OffsetPaginator
    | PageNumberPaginator
    | SinglePage,
    Field(discriminator="type"),
]


class IncrementalConfig(_Model):
    """A record field whose highest value so far is where the next pull starts."""

    cursor_field: str = Field(
        description="Dotted path of the field in a record, e.g. SystemModstamp or "
        "properties.lastmodifieddate."
    )
    start: str = Field(description="The cursor of the first pull, e.g. 2026-01-01T00:00:00Z.")
    lookback_seconds: int = Field(
        0, ge=0, description="Start each pull this much before the saved cursor (late writes)."
    )
    max_records_per_query: int | None = Field(
        None,
        ge=1,
        description="Start a new query from the highest cursor seen after this many records "
        "(HubSpot's search stops at 10,000 results a query).",
    )
    format: Literal["iso", "epoch_ms", "epoch_s", "raw"] = Field(
        "iso",
        description="How {cursor} is written into a request: iso (2026-01-01T00:00:00Z), "
        "epoch_ms, epoch_s, or raw (as the field held it).",
    )


class ParentConfig(_Model):
    """Run a child resource once per record of a parent resource."""

    resource: Name = Field(description="The parent resource.")
    fields: dict[Name, str] = Field(
        min_length=1,
        description="Placeholder -> dotted path in the parent record, e.g. {campaign_id: id}.",
    )


class RestResourceConfig(_Model):
    """One endpoint of a REST source and the dataset its records become."""

    description: str = Field("", description="Shown in the UI.")
    path: str = Field(min_length=1, description="Path below base_url, e.g. /query.")
    method: Literal["GET", "POST"] = Field("GET", description="POST sends ``json``.")
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Query parameters; may hold {placeholders}."
    )
    json_body: dict[str, Any] | None = Field(
        None, alias="json", description="POST body; strings in it may hold {placeholders}."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers.")
    records: JsonPath = Field("$", description="JSONPath of the records in an answer.")
    paginator: PaginatorConfig = Field(
        default_factory=lambda: SinglePage(type="single"), description="How pages follow."
    )
    incremental: IncrementalConfig | None = Field(None, description="Incremental cursor.")
    parent: ParentConfig | None = Field(None, description="Parent resource (parent -> child).")
    columns: dict[Name, ColumnConfig] = Field(
        min_length=1, description="Typed columns; 'source' is the record field's dotted path."
    )
    primary_key: list[str] = Field(min_length=1, description="Columns that identify a record.")
    partition: PartitionConfig = Field(
        default_factory=PartitionConfig,
        description="Partitioning of the clean table (default: the day the pull landed).",
    )

    model_config = {**_Model.model_config, "populate_by_name": True}

    @field_validator("records")
    @classmethod
    def _records_compile(cls, value: str) -> str:
        return _jsonpath(value)

    @model_validator(mode="after")
    def _placeholders_are_filled(self) -> RestResourceConfig:
        known = set(self.parent.fields) if self.parent else set()
        if self.incremental:
            known.add(CURSOR)
        for where, text in self.templates():
            for name in placeholders(text):
                if name not in known:
                    fix = (
                        "add incremental: {cursor_field: ..., start: ...}"
                        if name == CURSOR
                        else f"add parent: {{resource: ..., fields: {{{name}: <field>}}}}"
                    )
                    raise problem(
                        f"placeholder {{{name}}} is filled by nothing"
                        + did_you_mean(name, sorted(known)),
                        fix,
                        key=where,
                    )
        for key in self.primary_key:
            if key not in self.columns:
                raise problem(
                    f"not a declared column{did_you_mean(key, list(self.columns))}",
                    "name columns listed under columns",
                    key="primary_key",
                    value=key,
                )
        return self

    def templates(self) -> list[tuple[str, str]]:
        """(dotted key, text) of every string that may hold placeholders."""
        found = [("path", self.path)]
        found += [(f"params.{k}", v) for k, v in self.params.items() if isinstance(v, str)]
        found += [(f"json.{k}", v) for k, v in _strings(self.json_body or {})]
        return found


class RestSourceConfig(Ownership):
    """A SaaS API pulled by declarative resources (CRM, marketing automation, analytics)."""

    kind: Literal["rest"] = Field(description="rest: a declarative REST source.")
    description: str = Field("", description="Shown in the UI.")
    base_url: str = Field(pattern=r"^https?://", description="Base URL of the API.")
    auth: RestAuthConfig | None = Field(None, description="How requests are authenticated.")
    headers: dict[str, str] = Field(default_factory=dict, description="Headers of every call.")
    requests_per_second: float | None = Field(
        None, gt=0, description="At most this many requests per second (the API's rate limit)."
    )
    schedule: Cron | None = Field(
        "0 * * * *", description="Cron of the pull (UTC); null: manual only."
    )
    resources: dict[Name, RestResourceConfig] = Field(min_length=1, description="By name.")
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="Retention of the datasets."
    )
    start_date: str = Field("2026-01-01", description="First daily partition of clean.")
    freshness_hours: int | None = Field(
        24, ge=1, description="Catalog tables are stale when not updated for this many hours."
    )

    @model_validator(mode="after")
    def _parents_exist(self) -> RestSourceConfig:
        for name, resource in self.resources.items():
            seen = {name}
            parent = resource.parent
            while parent is not None:
                if parent.resource not in self.resources:
                    raise problem(
                        f"no resource '{parent.resource}'"
                        + did_you_mean(parent.resource, list(self.resources)),
                        "name another resource of this source",
                        key=f"resources.{name}.parent.resource",
                        value=parent.resource,
                    )
                if parent.resource in seen:
                    raise problem(
                        "the parents make a cycle",
                        "a parent must not be its own ancestor",
                        key=f"resources.{name}.parent.resource",
                        value=parent.resource,
                    )
                seen.add(parent.resource)
                parent = self.resources[parent.resource].parent
        return self

    def secret_names(self) -> set[str]:
        """Names of the secrets the source reads."""
        return self.auth.secret_names() if self.auth else set()

    def dataset_configs(self) -> dict[str, DatasetConfig]:
        """Each resource as a JSON-lines dataset of its declared columns."""
        return {
            name: DatasetConfig(
                description=resource.description or f"{name} records of the REST source.",
                format="jsonl",
                columns=resource.columns,
                primary_key=resource.primary_key,
                partition=resource.partition,
                retention=self.retention,
                start_date=self.start_date,
                freshness_hours=self.freshness_hours,
            )
            for name, resource in self.resources.items()
        }


def placeholders(text: str) -> list[str]:
    """The ``{name}`` placeholders of a template string (other braces are left alone)."""
    return PLACEHOLDER.findall(text)


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with each known ``{name}`` replaced by its value."""
    return PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), text)


def _strings(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(prefix.rstrip("."), value)]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _strings(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _strings(v, f"{prefix}{i}.")]
    return []
