"""Models of what a source delivers: datasets, columns, PII policies, landing and partitions."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

import phonenumbers
from pydantic import Field, field_validator, model_validator

from adlake.config.base import Name, Ownership, _Model
from adlake.config.errors import did_you_mean, problem

ColumnType = Literal[
    "string",
    "integer",
    "bigint",
    "double",
    "decimal",
    "boolean",
    "date",
    "timestamp",
    "timestamp_tz",
]
Identifier = Literal["email", "phone", "first_name", "last_name", "zip", "maid", "other"]


class PiiConfig(_Model):
    """How one PII column reaches the clean zone: hashed for matching, keyed-hashed, or dropped."""

    policy: Literal["sha256", "hmac", "drop"] = Field(
        description="sha256: normalize by identifier type then SHA-256 (ad-platform match key); "
        "hmac: keyed HMAC-SHA256 with a secret (pseudonymous joins); drop: never leaves raw."
    )
    identifier: Identifier = Field(
        "other", description="Identifier type that decides the normalization before hashing."
    )
    secret: str | None = Field(
        None, description="Name of the secret holding the HMAC key (policy hmac only)."
    )
    region: str = Field(
        "US", description="Phone numbers: ISO region of numbers written without a country code."
    )
    phone_format: Literal["e164", "digits"] = Field(
        "e164",
        description="Phone numbers: what is hashed. e164 (+15551234567) matches Google, TikTok "
        "and Amazon; digits (15551234567, no '+') is what Meta matches. Declare the column "
        "twice (source: the same field) to have both.",
    )

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            fix = "use the ISO 3166 two-letter code of the country, such as US, GB, DE"
            if value.upper() in phonenumbers.SUPPORTED_REGIONS:
                fix = f"write it in capitals: {value.upper()}"
            raise problem("not a phone region (ISO 3166 code)", fix, value=value)
        return value

    @model_validator(mode="after")
    def _secret_matches_policy(self) -> PiiConfig:
        if self.policy == "hmac" and not self.secret:
            raise problem(
                "missing: policy 'hmac' needs 'secret', the name of the secret holding the "
                "HMAC key",
                "add secret: <name> here and provide the key as ADLAKE_SECRET_<NAME> or in the "
                "secrets file; or use policy sha256",
                key="secret",
            )
        if self.phone_format != "e164" and self.identifier != "phone":
            raise problem(
                f"'phone_format' only applies to identifier 'phone', not '{self.identifier}'",
                "remove phone_format, or set identifier: phone",
                key="phone_format",
                value=self.phone_format,
            )
        if self.policy != "hmac" and self.secret:
            raise problem(
                f"'secret' is only used by policy 'hmac', not '{self.policy}'",
                "remove 'secret', or set policy: hmac",
                key="secret",
                value=self.secret,
            )
        return self


class ColumnConfig(_Model):
    """One declared column: its type, where it comes from in the file, and its PII policy."""

    type: ColumnType = Field(description="Logical type; engines map it to their own types.")
    source: str | None = Field(
        None,
        description="Header name (CSV) or dotted path (JSON, e.g. address.zip) when it differs "
        "from the column name.",
    )
    precision: int = Field(18, ge=1, le=38, description="Total digits, type decimal only.")
    scale: int = Field(2, ge=0, le=38, description="Digits after the point, type decimal only.")
    required: bool = Field(False, description="Rows with no value here go to quarantine.")
    pii: PiiConfig | None = Field(None, description="PII policy; absent means not PII.")
    pii_scan: bool = Field(
        True,
        description="false: the column is known not to be personal data (an order number, an "
        "account id), so the clear-PII guard does not scan it.",
    )

    @model_validator(mode="after")
    def _scale_fits(self) -> ColumnConfig:
        if self.scale > self.precision:
            raise problem(
                f"larger than precision {self.precision}",
                f"set scale to at most {self.precision}, or raise precision to at least "
                f"{self.scale} (up to 38)",
                key="scale",
                value=self.scale,
            )
        if self.pii and self.pii.policy in ("sha256", "hmac") and self.type != "string":
            raise problem(
                f"PII policy '{self.pii.policy}' hashes text, but the column has type "
                f"'{self.type}'",
                "set type: string on this column, or use pii policy: drop",
                key="pii.policy",
                value=self.pii.policy,
            )
        return self


class CsvOptions(_Model):
    """How a partner's CSV is written."""

    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator.")
    quote: str = Field('"', min_length=1, max_length=1, description="Quote character.")
    header: Literal[True] = Field(True, description="Files must start with a header line.")
    encoding: Literal["utf-8", "latin-1", "utf-16"] = Field("utf-8", description="Text encoding.")


class LandingConfig(_Model):
    """Where a dataset's files land and how their delivery date is found."""

    date_from: Literal["folder", "filename", "arrival"] = Field(
        "folder",
        description="folder: files sit in dt=YYYY-MM-DD/ folders; filename: the name carries "
        "the date; arrival: the UTC date the file was first seen.",
    )
    filename_date_format: str = Field(
        "%Y-%m-%d", description="strftime format of the date inside the file name."
    )
    pattern: str = Field(
        "*", description="Glob of file names to take (others are left alone), e.g. '*.csv*'."
    )


class PartitionConfig(_Model):
    """Which row column decides a row's daily partition, and how late rows may arrive."""

    column: str | None = Field(
        None,
        description="Date or timestamp column whose UTC date is the row's dt; absent: the "
        "delivery's date.",
    )
    lateness_days: int = Field(
        0,
        ge=0,
        le=31,
        description="A delivery may carry rows this many days older than its date (and, for "
        "time zones, up to one day newer).",
    )


class RetentionConfig(_Model):
    """How long each zone keeps a partition."""

    raw_days: int = Field(
        90, ge=1, description="Days raw deliveries are kept (clear PII lives there)."
    )
    clean_days: int | None = Field(
        None, ge=1, description="Days clean partitions are kept; none: forever."
    )


class PgpConfig(_Model):
    """How a dataset's PGP-encrypted files are decrypted, with keys held as secrets."""

    private_key: str = Field(
        description="Name of the secret holding our ASCII-armored PGP private key."
    )
    passphrase: str | None = Field(
        None, description="Name of the secret holding the private key's passphrase, if any."
    )
    partner_public_key: str | None = Field(
        None,
        description="Name of the secret holding the partner's public key; when set, every file "
        "must carry a valid signature made with it.",
    )
    patterns: list[str] = Field(
        default_factory=lambda: ["*.pgp", "*.gpg", "*.asc"],
        min_length=1,
        description="Globs of file names that are encrypted (case does not matter).",
    )
    always: bool = Field(False, description="true: every file is encrypted, whatever its name.")

    def secret_names(self) -> set[str]:
        """The secrets this step reads."""
        return {n for n in (self.private_key, self.passphrase, self.partner_public_key) if n}


_DATE_TYPES = ("date", "timestamp", "timestamp_tz")


class DatasetConfig(_Model):
    """One dataset of a source: its file format, schema, keys, PII and partitioning."""

    description: str = Field("", description="Shown in the Dagster UI.")
    format: Literal["csv", "jsonl", "parquet"] = Field(description="File format of deliveries.")
    csv: CsvOptions = Field(default_factory=CsvOptions, description="CSV dialect (format csv).")
    landing: LandingConfig = Field(default_factory=LandingConfig, description="Landing layout.")
    columns: dict[Name, ColumnConfig] = Field(
        min_length=1, description="Declared columns, in order."
    )
    primary_key: list[str] = Field(min_length=1, description="Columns that identify a row.")
    partition: PartitionConfig = Field(default_factory=PartitionConfig, description="Partitioning.")
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="Retention.")
    start_date: str = Field("2026-01-01", description="First daily partition, YYYY-MM-DD.")
    freshness_hours: int | None = Field(
        48,
        ge=1,
        description="The catalog table is stale (failed freshness) when not updated for this "
        "many hours; none: no freshness policy.",
    )
    pgp: PgpConfig | None = Field(
        None, description="Decryption of PGP-encrypted deliveries; none: files are plain."
    )
    engine: Literal["auto", "duckdb", "spark"] = Field(
        "auto",
        description="Engine of the clean transform: duckdb, spark, or auto (Spark when a run's "
        "raw input exceeds engine.spark_above_mb of the profile, DuckDB otherwise).",
    )
    row_group_mb: int = Field(
        128,
        ge=1,
        le=2048,
        description="Target size (MB, as staged) of the row groups of a clean file. A day is "
        "compacted into one Parquet file, whatever the number of deliveries, so that readers "
        "see the old day or the new one; its row groups are what engines read in parallel.",
    )

    @field_validator("start_date")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        try:
            valid = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)) and bool(
                date.fromisoformat(value)
            )
        except ValueError:
            valid = False
        if not valid:
            raise problem(
                "not a date as YYYY-MM-DD",
                "write the first partition's date like 2026-01-01 (in quotes)",
                value=value,
            )
        return value

    @model_validator(mode="after")
    def _columns_exist(self) -> DatasetConfig:
        declared = list(self.columns)
        for key in self.primary_key:
            if key not in self.columns:
                raise problem(
                    f"not a declared column{did_you_mean(key, declared)}; "
                    f"declared: {', '.join(declared)}",
                    f"name declared columns in primary_key, or declare '{key}' under columns",
                    key="primary_key",
                    value=key,
                )
            pii = self.columns[key].pii
            if pii and pii.policy == "drop":
                raise problem(
                    f"primary_key column '{key}' has PII policy 'drop', so it never reaches clean",
                    f"use pii policy sha256 or hmac on '{key}', or choose another key",
                    key="primary_key",
                    value=key,
                )
        sources: dict[str, str] = {}
        for name, column in self.columns.items():
            read_from = column.source or name
            if read_from in sources:
                raise problem(
                    f"columns '{sources[read_from]}' and '{name}' both read '{read_from}'",
                    f"give '{name}' its own 'source', or remove one of the two columns",
                    key=f"columns.{name}.source",
                    value=read_from,
                )
            sources[read_from] = name
        self._check_partition_column()
        return self

    def _check_partition_column(self) -> None:
        column = self.partition.column
        if column is None:
            return
        dated = [n for n, c in self.columns.items() if c.type in _DATE_TYPES]
        instead = f"name one of the date columns ({', '.join(dated)})" if dated else "declare one"
        if column not in self.columns:
            raise problem(
                f"not a declared column{did_you_mean(column, list(self.columns))}",
                f"{instead}, or remove partition.column to partition by delivery date",
                key="partition.column",
                value=column,
            )
        if self.columns[column].type not in _DATE_TYPES:
            raise problem(
                f"the column has type '{self.columns[column].type}'; a partition column must be "
                "date, timestamp or timestamp_tz",
                f"{instead}, or remove partition.column to partition by delivery date",
                key="partition.column",
                value=column,
            )


class PushSourceConfig(Ownership):
    """A partner that delivers files into the landing zone."""

    kind: Literal["push"] = Field(description="push: a partner drops files into landing.")
    description: str = Field("", description="Shown in the Dagster UI.")
    datasets: dict[Name, DatasetConfig] = Field(min_length=1, description="Datasets by name.")

    def dataset_configs(self) -> dict[str, DatasetConfig]:
        """The declared datasets, by name."""
        return dict(self.datasets)
