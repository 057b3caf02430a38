"""Event streams, engine-neutral: shards, positions, batches of records (no Dagster here).

:class:`Stream` is what the consumer needs of any log: the shards (with their parents, so a
resharded stream is read in order), and records after a position. Kinesis implements it
(:mod:`.kinesis`); a Kafka consumer would implement the same four methods.
"""

from adlake.connectors.streams.base import Shard, ShardBatch, Stream, StreamRecord

__all__ = ["Shard", "ShardBatch", "Stream", "StreamRecord"]
