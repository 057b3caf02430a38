"""The stream interface the consumer reads through, whatever the log behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Shard:
    """One shard (partition) of a stream: its id, the shards it came from, whether it ended.

    A shard made by a split or a merge is read only after its parents are read to their end,
    so events of one key stay in order across a reshard.
    """

    shard_id: str
    parents: tuple[str, ...] = ()
    closed: bool = False


@dataclass(frozen=True)
class StreamRecord:
    """One record: its position in its shard and its bytes."""

    sequence: str
    data: bytes


@dataclass(frozen=True)
class ShardBatch:
    """Records read from one shard after a position, and whether the shard is now exhausted."""

    records: list[StreamRecord]
    ended: bool  # a closed shard read to its last record: its children may be read


class Stream(Protocol):
    """A log of records in shards, read after positions the consumer keeps."""

    name: str

    def shards(self) -> list[Shard]:
        """Every shard the stream holds, open or closed, parents before children."""
        ...

    def read(self, shard: Shard, after: str | None, limit: int) -> ShardBatch:
        """Up to ``limit`` records of ``shard`` after position ``after`` (None: from its start)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
