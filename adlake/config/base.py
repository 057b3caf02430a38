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
