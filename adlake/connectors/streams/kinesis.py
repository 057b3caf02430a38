"""Amazon Kinesis Data Streams as a :class:`~adlake.connectors.streams.Stream` (boto3).

Shards come from ``ListShards`` (paged), with ``ParentShardId``/``AdjacentParentShardId`` as
their parents and an ``EndingSequenceNumber`` when a split or merge closed them. A read takes
an ``AFTER_SEQUENCE_NUMBER`` iterator (``TRIM_HORIZON`` the first time) and follows
``NextShardIterator`` until it has enough records or has caught up; a closed shard read to its
end answers no next iterator, which is how the consumer knows its children may be read.
Throttling (``ProvisionedThroughputExceededException``) is retried by botocore's standard mode.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from adlake.connectors.streams.base import Shard, ShardBatch, StreamRecord

MAX_RECORDS_PER_CALL = 10_000  # GetRecords' own limit
EMPTY_READS = 5  # empty answers in a row while behind (Kinesis skips empty stretches so)


class KinesisStream:
    """One Kinesis data stream."""

    def __init__(self, name: str, *, region: str, endpoint_url: str | None = None) -> None:
        self.name = name
        self._client = boto3.client(
            "kinesis",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 8}),
        )

    def shards(self) -> list[Shard]:
        """Every shard, open or closed, as ListShards returns them (parents first)."""
        found: list[Shard] = []
        kwargs: dict[str, Any] = {"StreamName": self.name}
        while True:
            page = self._client.list_shards(**kwargs)
            for item in page.get("Shards", []):
                parents = tuple(
                    p for p in (item.get("ParentShardId"), item.get("AdjacentParentShardId")) if p
                )
                closed = "EndingSequenceNumber" in item.get("SequenceNumberRange", {})
                found.append(Shard(item["ShardId"], parents, closed))
            token = page.get("NextToken")
            if not token:
                return found
            kwargs = {"NextToken": token}

    def read(self, shard: Shard, after: str | None, limit: int) -> ShardBatch:
        """Up to ``limit`` records after ``after``; ``ended`` once a closed shard is read out."""
        start: dict[str, Any] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
            if after
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = self._client.get_shard_iterator(
            StreamName=self.name, ShardId=shard.shard_id, **start
        )["ShardIterator"]
        records: list[StreamRecord] = []
        empty = 0
        caught_up = False
        while iterator and len(records) < limit and empty < EMPTY_READS:
            answer = self._client.get_records(
                ShardIterator=iterator, Limit=min(MAX_RECORDS_PER_CALL, limit - len(records))
            )
            got = answer.get("Records", [])
            records += [StreamRecord(r["SequenceNumber"], bytes(r["Data"])) for r in got]
            iterator = answer.get("NextShardIterator")
            behind = int(answer.get("MillisBehindLatest") or 0)
            if not got and behind == 0:
                caught_up = True
                break
            empty = 0 if got else empty + 1
        # Kinesis ends a closed shard with no next iterator; some emulators keep answering
        # empty pages instead, which for a closed shard means the same
        return ShardBatch(records, ended=iterator is None or (shard.closed and caught_up))

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()
