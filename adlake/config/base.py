"""Shared pieces of the configuration models: the strict base model, names, the error type."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from adlake.config.errors import problem

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
CRON_PATTERN = re.compile(r"^\s*(\S+\s+){4}\S+\s*$")


def _five_fields(value: str) -> str:
    if not CRON_PATTERN.match(value):
        raise problem(
            "not a cron expression of five fields", "write it like '0 6 * * *'", value=value
        )
    return value


# a cron expression of five fields (minute hour day month weekday), checked when loaded
Cron = Annotated[str, AfterValidator(_five_fields)]


class ConfigError(ValueError):
    """adlake.yaml is missing, unreadable or invalid; the message says where and how to fix it."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_TAG_PART = r"[A-Za-z0-9_.-]{1,63}"
TAG_KEY = re.compile(rf"^({_TAG_PART}/)?{_TAG_PART}$")
TAG_VALUE = re.compile(r"^[A-Za-z0-9_.-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LAYER_TAG = "layer"  # set by adlake on every asset: raw, clean, catalog, segments, exports...


def _owner(value: str) -> str:
    if EMAIL.match(value) or (value.startswith("team:") and len(value) > len("team:")):
        return value
    raise problem(
        "not an owner", "write an e-mail address or team:<name> (team:marketing_data)", value=value
    )


def _tag_key(value: str) -> str:
    if value == LAYER_TAG or value.startswith("dagster/"):
        raise problem("a tag adlake or Dagster sets itself", "choose another tag name", value=value)
    if not TAG_KEY.match(value):
        raise problem(
            "not a tag name",
            "use up to 63 letters, digits, '_', '.' or '-', optionally after one 'prefix/'",
            value=value,
        )
    return value


def _tag_value(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if not TAG_VALUE.match(text):
        raise problem(
            "not a tag value", "use up to 63 letters, digits, '_', '.' or '-'", value=value
        )
    return text


Owner = Annotated[str, AfterValidator(_owner)]
TagKey = Annotated[str, AfterValidator(_tag_key)]
TagValue = Annotated[str | int | float | bool, AfterValidator(_tag_value)]


class Ownership(_Model):
    """Who answers for a source, and the tags its assets carry in the Dagster UI."""

    owners: list[Owner] = Field(
        default_factory=list,
        description="E-mail addresses or team:<name>; shown as the owners of every asset of the "
        "source (raw, clean, catalog).",
    )
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict,
        description="Tags on every asset of the source; filter the asset graph with "
        "tag:<name>=<value>. adlake adds layer (raw, clean, catalog...) itself.",
    )
