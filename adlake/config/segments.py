"""Models of audience segments and the destinations they are exported to.

A segment is SQL over the catalog that names which of its columns carry which identifier; a
destination is one ad platform account (or a file drop) with the *names* of its credentials.
A segment lists its exports: which destination, under what audience name, and the guards that
keep a broken segment from wiping a live audience.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from adlake.config.base import Name, _Model
from adlake.config.errors import problem
from adlake.config.pulls import AmazonApiConfig

# the identifiers a segment may expose; each destination picks the ones its platform matches on
MatchField = Literal[
    "email",
    "phone",
    "phone_digits",
    "first_name",
    "last_name",
    "zip",
    "country",
    "maid",
    "external_id",
]


class ExportConfig(_Model):
    """One delivery of a segment to a destination, with its guards."""

    destination: Name = Field(description="Name of a destination under `destinations`.")
    audience: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="Name of the remote audience (default: the segment's name).",
    )
    purpose: str | None = Field(
        None,
        description="Consent purpose the destination needs; rows whose consent column for it "
        "is not true are left out (and counted). Must be a key of the segment's `consent`.",
    )
    min_members: int | None = Field(
        None,
        ge=0,
        description="Refuse to deliver an audience smaller than this (default: the platform's "
        "minimum, e.g. 1,000 on TikTok-style platforms, 100 on Meta).",
    )
    max_shrink: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Refuse to remove more than this share of the delivered audience in one run "
        "unless the run sets allow_shrink (protects a live audience from a broken SQL).",
    )
    full_refresh: bool = Field(
        False, description="Replace the whole remote audience on every run instead of deltas."
    )
    schedule: str | None = Field(
        None, description="Cron of the export (default: eager, after each segment refresh)."
    )


class SegmentConfig(_Model):
    """An audience defined in SQL over the catalog (``<source>.<dataset>`` tables)."""

    description: str = Field("", description="Shown in the UI.")
    sql: str = Field(min_length=1, description="A SELECT over catalog tables `<source>.<dataset>`.")
    identifiers: dict[MatchField, str] = Field(
        description="Which result column holds which identifier, e.g. {email: email}. Hashed "
        "identifiers come from clean columns as they are (SHA-256 hex); zip, country, maid and "
        "external_id may be clear.",
    )
    consent: dict[Name, str] = Field(
        default_factory=dict,
        description="Consent purpose -> boolean result column, e.g. {ad_personalization: ok}.",
    )
    schedule: str | None = Field(
        None, description="Cron of the segment refresh (default: eager, when its inputs change)."
    )
    exports: list[ExportConfig] = Field(default_factory=list, description="Where it is delivered.")

    @model_validator(mode="after")
    def _usable(self) -> SegmentConfig:
        if not self.identifiers:
            raise problem(
                "a segment needs at least one identifier column",
                "add identifiers: {email: <column>} (or phone, maid, external_id ...)",
                key="identifiers",
            )
        seen: dict[str, int] = {}
        for index, export in enumerate(self.exports):
            if export.destination in seen:
                raise problem(
                    f"destination '{export.destination}' is listed twice",
                    "export a segment once per destination; make a second segment for a "
                    "second audience",
                    key=f"exports.{index}.destination",
                    value=export.destination,
                )
            seen[export.destination] = index
            if export.purpose and export.purpose not in self.consent:
                known = ", ".join(sorted(self.consent)) or "none declared"
                raise problem(
                    f"purpose '{export.purpose}' has no consent column (consent: {known})",
                    f"add consent: {{{export.purpose}: <boolean column>}} to the segment, or "
                    "remove purpose",
                    key=f"exports.{index}.purpose",
                    value=export.purpose,
                )
        return self


class MetaDestinationConfig(_Model):
    """Meta (Facebook) customer-file Custom Audiences of one ad account."""

    kind: Literal["meta"]
    ad_account_id: str = Field(pattern=r"^(act_)?[0-9]+$", description="Ad account id.")
    access_token: str = Field(description="Name of the secret holding the system-user token.")
    endpoint: str = Field("https://graph.facebook.com", description="Graph API base URL.")
    api_version: str = Field("v25.0", description="Graph API version.")
    customer_file_source: Literal[
        "USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"
    ] = Field("USER_PROVIDED_ONLY", description="Where the customer list comes from.")

    def secret_names(self) -> set[str]:
        """Names of the secrets this destination reads."""
        return {self.access_token}


class GoogleAdsDestinationConfig(_Model):
    """Google Ads Customer Match user lists of one customer account."""

    kind: Literal["google_ads"]
    customer_id: str = Field(pattern=r"^[0-9]{10}$", description="Customer id, 10 digits.")
    login_customer_id: str | None = Field(
        None, pattern=r"^[0-9]{10}$", description="Manager account id, when going through one."
    )
    developer_token: str = Field(description="Name of the secret holding the developer token.")
    oauth: str = Field(
        description="Name of the secret holding the OAuth2 credentials as JSON "
        '{"client_id","client_secret","refresh_token"}.',
    )
    token_url: str = Field("https://oauth2.googleapis.com/token", description="OAuth2 token URL.")
    endpoint: str = Field("https://googleads.googleapis.com", description="REST base URL.")
    api_version: str = Field("v25", description="Google Ads API version.")
    membership_days: int = Field(540, ge=0, le=540, description="Membership life span.")

    def secret_names(self) -> set[str]:
        """Names of the secrets this destination reads."""
        return {self.developer_token, self.oauth}


# countries whose hashed PII Amazon's advertiser audiences accept (Amazon Ads "Advertiser
# audiences" guide, POST /amc/audiences/records)
AMAZON_AUDIENCE_COUNTRIES = (
    "AE",
    "AU",
    "BE",
    "BR",
    "CA",
    "DE",
    "EG",
    "ES",
    "FR",
    "GB",
    "IN",
    "IT",
    "JP",
    "MX",
    "NL",
    "PL",
    "SA",
    "SE",
    "SG",
    "TR",
    "US",
)
# the longest membership Amazon keeps a record (13 months), in seconds
AMAZON_MAX_TTL_SECONDS = 34_300_800


class AmazonAudienceDestinationConfig(AmazonApiConfig):
    """Amazon Ads advertiser audiences (Amazon DSP, or AMC through a connection)."""

    kind: Literal["amazon_ads"]
    advertiser_id: str | None = Field(
        None, pattern=r"^[0-9]+$", description="Amazon DSP advertiser id (DSP only)."
    )
    connection_id: str | None = Field(
        None,
        min_length=1,
        description="Connection id (AMC instance and DSP advertiser), for uploads to AMC.",
    )
    country_code: str = Field(
        "US",
        description="ISO 3166 country of the audience, used for members without a country.",
    )
    membership_days: int | None = Field(
        None,
        ge=0,
        le=AMAZON_MAX_TTL_SECONDS // 86_400,
        description="Days a member stays in the audience (Amazon's ttl; default 13 months).",
    )

    @model_validator(mode="after")
    def _one_target(self) -> AmazonAudienceDestinationConfig:
        if (self.advertiser_id is None) == (self.connection_id is None):
            raise problem(
                "give exactly one of advertiser_id and connection_id",
                "advertiser_id: <DSP advertiser id> sends to Amazon DSP only; connection_id: "
                "<id from /amc/audiences/connections> sends to AMC and DSP",
                key="advertiser_id",
            )
        if self.country_code not in AMAZON_AUDIENCE_COUNTRIES:
            raise problem(
                f"Amazon audiences do not take country '{self.country_code}'",
                f"use one of {', '.join(AMAZON_AUDIENCE_COUNTRIES)} (upper case)",
                key="country_code",
                value=self.country_code,
            )
        return self

    def secret_names(self) -> set[str]:
        """Names of the secrets this destination reads."""
        return set(self.credentials.model_dump().values())


class FileDropDestinationConfig(_Model):
    """CSV files with a manifest dropped on S3 or SFTP, the way onboarders receive audiences."""

    kind: Literal["file_drop"]
    target: Literal["s3", "sftp"] = Field(description="Where the files go.")
    url: str = Field(description="s3://bucket/prefix or sftp://host:port/folder.")
    credentials: str | None = Field(
        None,
        description="Name of the secret: for sftp JSON {username, password | private_key}; for "
        "s3 optional JSON {aws_access_key_id, aws_secret_access_key}.",
    )
    known_hosts: str | None = Field(
        None, description="sftp: path of the known_hosts file that holds the server's key."
    )
    endpoint_url: str | None = Field(None, description="s3: endpoint of an S3-compatible store.")
    hash_identifiers: bool = Field(
        True, description="Write SHA-256 hex of every identifier (false only for a clean room)."
    )
    rows_per_file: int = Field(1_000_000, ge=1, description="Rows per CSV part.")

    @model_validator(mode="after")
    def _url_matches_target(self) -> FileDropDestinationConfig:
        if not self.url.startswith(f"{self.target}://"):
            raise problem(
                f"target '{self.target}' needs a {self.target}:// URL",
                f"write url: {self.target}://... or change target",
                key="url",
                value=self.url,
            )
        return self

    def secret_names(self) -> set[str]:
        """Names of the secrets this destination reads."""
        return {self.credentials} if self.credentials else set()


DestinationConfig = Annotated[
    MetaDestinationConfig
    | GoogleAdsDestinationConfig
    | AmazonAudienceDestinationConfig
    | FileDropDestinationConfig,
    Field(discriminator="kind"),
]
