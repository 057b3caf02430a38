"""Daily aggregates in SQL over the clean zone (no Dagster): compute a day, publish it."""

from adlake.aggregates.compute import AggregateError, compute_day, publish_day

__all__ = ["AggregateError", "compute_day", "publish_day"]
