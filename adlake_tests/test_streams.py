"""Stream micro-batches from Kinesis on moto: budgets, checkpoints, resharding, replay."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from adlake.config.streams import KinesisSourceConfig, StreamDatasetConfig
from adlake.connectors.streams.kinesis import KinesisStream
from adlake.lake.deliveries import DeliveryLedger
from adlake.lake.storage import Lake
from adlake.streams import consume_batch, load_checkpoints, waiting
from adlake_tests.conftest import AwsTestAccount

COLUMNS = {
    "event_id": {"type": "string", "required": True},
    "event_time": {"type": "timestamp_tz"},
    "ad_unit": {"type": "string"},
    "price": {"type": "double"},
}


def dataset(stream: str, **extra: Any) -> StreamDatasetConfig:
    return StreamDatasetConfig.model_validate(
        {"stream": stream, "columns": COLUMNS, "primary_key": ["event_id"], **extra}
    )


def event_day() -> str:
    """Yesterday in UTC: inside a one-day lateness window whatever day the suite runs."""
    return (datetime.now(tz=UTC).date() - timedelta(days=1)).isoformat()


class Topic:
    """A fresh Kinesis stream on moto, and a lake consuming it."""

    def __init__(self, aws: AwsTestAccount, tmp_path: Path, shards: int = 2) -> None:
        self.name = f"adserver-{uuid.uuid4().hex[:8]}"
        self.client = aws.client("kinesis")
        self.client.create_stream(StreamName=self.name, ShardCount=shards)
        self.stream = KinesisStream(self.name, region=aws.region, endpoint_url=aws.endpoint_url)
        self.lake = Lake(tmp_path / "lake")
        self.sent = 0

    def put(self, count: int) -> list[str]:
        ids = []
        moment = f"{event_day()}T10:00:00Z"
        for start in range(0, count, 500):
            records = []
            for n in range(self.sent + start, self.sent + min(start + 500, count)):
                event = {"event_id": f"e{n}", "event_time": moment,
                         "ad_unit": f"unit{n % 7}", "price": n / 100}  # fmt: skip
                records.append({"Data": json.dumps(event).encode(), "PartitionKey": f"k{n}"})
                ids.append(event["event_id"])
            self.client.put_records(StreamName=self.name, Records=records)
        self.sent += count
        return ids

    def consume(self, spec: StreamDatasetConfig):  # noqa: ANN201
        return consume_batch(self.stream, self.lake, "adserver", "events", spec, lambda _: None)

    def landed(self) -> list[str]:
        today = datetime.now(tz=UTC).date().isoformat()
        ids = []
        for delivery in DeliveryLedger(self.lake, "adserver", "events").for_dates([today]):
            with gzip.open(self.lake.full(delivery.raw_path), "rt") as handle:
                ids += [json.loads(line)["event_id"] for line in handle]
        return ids


@pytest.fixture
def topic(aws: AwsTestAccount, tmp_path: Path) -> Topic:
    return Topic(aws, tmp_path)


def test_micro_batches_take_their_budget_and_checkpoint_per_shard(topic: Topic) -> None:
    sent = topic.put(5_000)
    spec = dataset(topic.name, max_records_per_batch=2_000)
    sizes = [topic.consume(spec).records for _ in range(4)]
    assert sizes == [2_000, 2_000, 1_000, 0]
    assert sorted(topic.landed()) == sorted(sent)
    checkpoints = load_checkpoints(topic.lake, "adserver", "events")
    assert len(checkpoints) == 2 and all(c["after"] for c in checkpoints.values())
    assert not waiting(topic.stream, checkpoints)
    topic.put(3)
    assert waiting(topic.stream, checkpoints)


def test_a_split_shard_is_read_to_its_end_before_its_children(topic: Topic) -> None:
    first = topic.put(1_000)
    spec = dataset(topic.name)
    assert topic.consume(spec).records == 1_000
    parent = topic.client.list_shards(StreamName=topic.name)["Shards"][0]
    low, high = (int(parent["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
    second_before = topic.put(200)  # still into the parent shard
    topic.client.split_shard(
        StreamName=topic.name,
        ShardToSplit=parent["ShardId"],
        NewStartingHashKey=str((low + high) // 2),
    )
    second_after = topic.put(800)  # into the children and the other shard
    outcome = topic.consume(spec)
    assert parent["ShardId"] in outcome.shards_ended
    assert outcome.records + topic.consume(spec).records == 1_000
    landed = topic.landed()
    assert sorted(landed) == sorted(first + second_before + second_after)
    assert len(landed) == len(set(landed))


def test_a_crash_before_the_checkpoint_replays_the_batch_into_raw(
    topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = topic.put(600)
    spec = dataset(topic.name)
    real = Lake.write_json

    def die_on_checkpoint(self, path, document):  # noqa: ANN001, ANN202
        if path.endswith("checkpoints.json"):
            raise OSError("killed before the checkpoint")
        return real(self, path, document)

    monkeypatch.setattr(Lake, "write_json", die_on_checkpoint)
    with pytest.raises(OSError):
        topic.consume(spec)
    monkeypatch.setattr(Lake, "write_json", real)
    assert topic.consume(spec).records == 600  # replayed: at-least-once into raw
    landed = topic.landed()
    assert len(landed) == 1_200 and set(landed) == set(sent)  # clean dedups by event_id


def test_the_readme_stream_source_example_is_valid_config() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Event streams: ad-server and bid logs from Kinesis", 1)[1]
    example = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    source = KinesisSourceConfig.model_validate(example["sources"]["adserver"])
    assert source.datasets["impressions"].primary_key == ["event_id"]
