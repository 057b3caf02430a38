"""Stream ingestion (no Dagster): micro-batches of a stream into raw, per-shard checkpoints."""

from adlake.streams.consume import BatchOutcome, consume_batch, load_checkpoints, waiting

__all__ = ["BatchOutcome", "consume_batch", "load_checkpoints", "waiting"]
