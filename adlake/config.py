"""The pydantic models of ``adlake.yaml`` and the loader that turns mistakes into clear errors.

Configuration is data: sources, datasets, PII policies and the profile are declared here and
asset factories turn them into definitions. Every model forbids unknown keys so a typo fails
loudly, and :func:`load_config` reports the file, the dotted key, the bad value, what is allowed
and how to fix it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_FILE = "adlake.yaml"
CONFIG_ENV_VAR = "ADLAKE_CONFIG"

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]

ColumnType = Literal[
    "string", "integer", "bigint", "double", "decimal", "boolean", "date", "timestamp", "timestamp_tz"
]
Identifier = Literal["email", "phone", "first_name", "last_name", "zip", "maid", "other"]


class ConfigError(ValueError):
    """adlake.yaml is missing, unreadable or invalid; the message says where and how to fix it."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"region '{value}' is not an ISO 3166 region code such as US, GB, DE")
        return value

    @model_validator(mode="after")
    def _secret_matches_policy(self) -> PiiConfig:
        if self.policy == "hmac" and not self.secret:
            raise ValueError("policy 'hmac' needs 'secret': the name of the secret with the key")
        if self.policy != "hmac" and self.secret:
            raise ValueError(f"'secret' is only used by policy 'hmac', not '{self.policy}'")
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

    @model_validator(mode="after")
    def _scale_fits(self) -> ColumnConfig:
        if self.scale > self.precision:
            raise ValueError(f"scale {self.scale} is larger than precision {self.precision}")
        if self.pii and self.pii.policy in ("sha256", "hmac") and self.type != "string":
            raise ValueError(f"PII policy '{self.pii.policy}' needs type 'string', not '{self.type}'")
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

    raw_days: int = Field(90, ge=1, description="Days raw deliveries are kept (clear PII lives there).")
    clean_days: int | None = Field(None, ge=1, description="Days clean partitions are kept; none: forever.")


class DatasetConfig(_Model):
    """One dataset of a source: its file format, schema, keys, PII and partitioning."""

    description: str = Field("", description="Shown in the Dagster UI.")
    format: Literal["csv", "jsonl", "parquet"] = Field(description="File format of deliveries.")
    csv: CsvOptions = Field(default_factory=CsvOptions, description="CSV dialect (format csv).")
    landing: LandingConfig = Field(default_factory=LandingConfig, description="Landing layout.")
    columns: dict[Name, ColumnConfig] = Field(min_length=1, description="Declared columns, in order.")
    primary_key: list[str] = Field(min_length=1, description="Columns that identify a row.")
    partition: PartitionConfig = Field(default_factory=PartitionConfig, description="Partitioning.")
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="Retention.")
    start_date: str = Field("2026-01-01", description="First daily partition, YYYY-MM-DD.")

    @field_validator("start_date")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(f"'{value}' is not a date as YYYY-MM-DD")
        return value

    @model_validator(mode="after")
    def _columns_exist(self) -> DatasetConfig:
        for key in self.primary_key:
            if key not in self.columns:
                raise ValueError(
                    f"primary_key names '{key}', which is not a declared column "
                    f"(declared: {', '.join(self.columns)})"
                )
            pii = self.columns[key].pii
            if pii and pii.policy == "drop":
                raise ValueError(f"primary_key column '{key}' has PII policy 'drop'")
        column = self.partition.column
        if column is not None:
            if column not in self.columns:
                raise ValueError(
                    f"partition.column '{column}' is not a declared column "
                    f"(declared: {', '.join(self.columns)})"
                )
            if self.columns[column].type not in ("date", "timestamp", "timestamp_tz"):
                raise ValueError(
                    f"partition.column '{column}' has type '{self.columns[column].type}'; "
                    "it must be date, timestamp or timestamp_tz"
                )
        return self


class SourceConfig(_Model):
    """A system that sends data; push sources deliver files into the landing zone."""

    kind: Literal["push"] = Field(description="push: a partner drops files into landing.")
    description: str = Field("", description="Shown in the Dagster UI.")
    datasets: dict[Name, DatasetConfig] = Field(min_length=1, description="Datasets by name.")


class LakeConfig(_Model):
    """Where the zones live."""

    root: str = Field(".adlake/lake", description="Folder of the lake (local profile).")


class CatalogConfig(_Model):
    """Where clean tables are registered."""

    duckdb_path: str = Field(".adlake/catalog.duckdb", description="DuckDB catalog file (local).")


class SecretsConfig(_Model):
    """Where secrets come from on the local profile: environment first, then a JSON file."""

    env_prefix: str = Field("ADLAKE_SECRET_", description="Env var prefix: ADLAKE_SECRET_<NAME>.")
    file: str | None = Field(".adlake/secrets.json", description="JSON file of name -> value.")


class EngineConfig(_Model):
    """Limits for the in-process DuckDB engine."""

    memory_limit: str = Field("768MB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$",
                              description="DuckDB memory_limit for a clean run, e.g. 768MB.")
    threads: int = Field(2, ge=1, le=256, description="DuckDB worker threads.")


class SensorConfig(_Model):
    """How the landing sensors tick."""

    interval_seconds: int = Field(30, ge=5, description="Seconds between landing sensor ticks.")
    max_files_per_tick: int = Field(100, ge=1, description="Bounded work per tick.")


class AdlakeConfig(_Model):
    """The whole of adlake.yaml."""

    profile: Literal["local"] = Field("local", description="Which resources back the lake.")
    lake: LakeConfig = Field(default_factory=LakeConfig, description="Lake location.")
    catalog: CatalogConfig = Field(default_factory=CatalogConfig, description="Catalog location.")
    secrets: SecretsConfig = Field(default_factory=SecretsConfig, description="Secrets lookup.")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="Engine limits.")
    sensors: SensorConfig = Field(default_factory=SensorConfig, description="Sensor pacing.")
    sources: dict[Name, SourceConfig] = Field(default_factory=dict, description="Sources by name.")
    base_dir: str = Field(".", description="Folder relative paths resolve from (set by the loader).")

    def resolve(self, path: str) -> Path:
        """Return ``path`` made absolute against the folder of the config file."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate

    def datasets(self) -> list[tuple[str, str, DatasetConfig]]:
        """Every (source, dataset, config) in declaration order."""
        return [
            (source_name, dataset_name, dataset)
            for source_name, source in self.sources.items()
            for dataset_name, dataset in source.datasets.items()
        ]


def config_path() -> Path:
    """The configuration file to load: ``$ADLAKE_CONFIG`` or ``./adlake.yaml``."""
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE).resolve()


def load_config(path: str | Path | None = None) -> AdlakeConfig:
    """Read and validate adlake.yaml; raise ConfigError naming file, key, value and fix."""
    file = Path(path).resolve() if path else config_path()
    if not file.is_file():
        raise ConfigError(
            f"{file}: configuration file not found. Create it (see the README's sample) or set "
            f"{CONFIG_ENV_VAR} to its path."
        )
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{file}:{where}: {problem}. Fix the YAML syntax there.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of keys, not {type(data).__name__}.")
    data.setdefault("base_dir", str(file.parent))
    try:
        return AdlakeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(file, exc)) from None


_SECRET_HINTS = ("secret", "password", "token", "key_value", "api_key")


def format_validation_error(file: Path, exc: ValidationError) -> str:
    """Turn pydantic's errors into lines of file: dotted.key: value: problem. Fix: ..."""
    lines = [f"{file}: {exc.error_count()} problem(s) in the configuration:"]
    for error in exc.errors():
        key = _dotted(error["loc"])
        value = error.get("input")
        lines.append(f"  - {key}: {_describe(error, key, value)}")
    return "\n".join(lines)


def _dotted(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part in ("function-after",) or str(part).startswith("function-"):
            continue
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "(top level)"


def _shown(key: str, value: Any) -> str:
    if any(hint in key.lower() for hint in _SECRET_HINTS) and not key.endswith(".secret"):
        return "'***'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(error: dict[str, Any], key: str, value: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"unknown key. Fix: remove it or correct its spelling (allowed keys are listed in the README)."
    if kind == "missing":
        return "required key is missing. Fix: add it."
    if kind == "literal_error":
        allowed = ctx.get("expected", "")
        return f"value {_shown(key, value)} is not allowed; allowed: {allowed}. Fix: use one of those."
    if kind == "string_pattern_mismatch":
        if key.endswith("memory_limit"):
            return f"value {_shown(key, value)} is not a size. Fix: write it like 768MB or 2GB."
        return (
            f"name {_shown(key, value)} is not allowed; names are lower-case letters, digits and "
            "underscores, starting with a letter. Fix: rename it."
        )
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
        return f"{message}. Fix: correct this value."
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"value {_shown(key, value)} has the wrong type: {error['msg'].lower()}. Fix: correct it."
    return f"value {_shown(key, value)}: {error['msg']}. Fix: correct it."
