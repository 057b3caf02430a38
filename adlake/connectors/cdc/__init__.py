"""Change data capture readers (no Dagster): PostgreSQL logical decoding, MySQL/MariaDB binlog.

Both emit the same :class:`~adlake.connectors.cdc.changes.Change` records, written to raw as
Parquet change batches by :class:`~adlake.connectors.cdc.changes.ChangeBatchWriter`, so clean
applies changes from either engine the same way.
"""
