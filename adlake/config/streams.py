"""Models of event streams: ad-server and bid logs consumed from Amazon Kinesis Data Streams.

A ``kinesis`` source names its streams, one dataset each: JSON events whose typed columns,
event id (the primary key that makes at-least-once delivery exactly-once in clean) and event
time (the partition column) are declared like any dataset's. Micro-batches are bounded in
records and seconds; the sensor that drives them runs every ``interval_seconds``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from adlake.config.base import Name, Ownership
from adlake.config.datasets import DatasetConfig


class StreamDatasetConfig(DatasetConfig):
    """One stream and the dataset its events become."""

    stream: str = Field(min_length=1, description="Kinesis stream name.")
    format: Literal["jsonl"] = Field("jsonl", description="Each record is one JSON event.")
    max_records_per_batch: int = Field(
        10_000, ge=1, description="Records a micro-batch takes at most (all shards together)."
    )
    max_seconds_per_batch: float = Field(
        30.0, gt=0, description="A micro-batch stops reading after this long."
    )


class KinesisSourceConfig(Ownership):
    """Amazon Kinesis Data Streams read in micro-batches, checkpointed per shard."""

    kind: Literal["kinesis"] = Field(description="kinesis: Amazon Kinesis Data Streams.")
    description: str = Field("", description="Shown in the Dagster UI.")
    region: str = Field("us-east-1", description="AWS region of the streams.")
    endpoint_url: str | None = Field(
        None, description="Kinesis endpoint (set for a local emulator such as moto)."
    )
    interval_seconds: int = Field(
        60, ge=5, description="How often the sensor starts a micro-batch when records wait."
    )
    datasets: dict[Name, StreamDatasetConfig] = Field(
        min_length=1, description="Streams by dataset name."
    )

    def dataset_configs(self) -> dict[str, DatasetConfig]:
        """The streams' datasets, by name."""
        return dict(self.datasets)
