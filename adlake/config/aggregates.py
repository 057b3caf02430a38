"""Models of aggregates: daily tables computed in SQL from clean datasets (yield, reporting).

An aggregate is SQL over ``<source>.<dataset>`` tables of the clean zone with a ``{dt}``
placeholder, the day being computed (a DATE literal). Each day's result is written to
``clean/aggregates/<name>/dt=<day>/`` and registered in the catalog as ``aggregates.<name>``,
so it is queried like any clean table.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from adlake.config.base import Cron, _Model
from adlake.config.errors import problem

DAY = "{dt}"


class AggregateConfig(_Model):
    """One daily aggregate."""

    description: str = Field("", description="Shown in the UI.")
    sql: str = Field(
        min_length=1,
        description="A SELECT over clean tables; {dt} is the day computed, e.g. WHERE dt = {dt}.",
    )
    start_date: str = Field("2026-01-01", description="First daily partition.")
    schedule: Cron | None = Field(
        None, description="Cron (UTC) of yesterday's run; none: after its inputs change."
    )

    @field_validator("sql")
    @classmethod
    def _names_the_day(cls, value: str) -> str:
        if DAY not in value:
            raise problem(
                "the SQL does not name the day it computes",
                "filter on it, e.g. WHERE dt = {dt} (the day as a DATE)",
                value=value[:80],
            )
        return value
