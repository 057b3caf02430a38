"""Batch extracts of relational tables (no Dagster): PostgreSQL through ADBC, MySQL/MariaDB
through PyMySQL's unbuffered cursor, both streamed as Arrow record batches into Parquet.

A :class:`TableSpec` names a table or a query; an extract is full, or incremental from a
watermark minus an overlap. :func:`write_parquet` returns the next watermark, which the caller
saves only once the file is durable.
"""

from adlake.connectors.rdbms.extract import ExtractResult, write_parquet
from adlake.connectors.rdbms.mysql import extract_mysql
from adlake.connectors.rdbms.postgres import extract_postgres
from adlake.connectors.rdbms.types import RdbmsExtractError, TableSpec

__all__ = [
    "ExtractResult",
    "RdbmsExtractError",
    "TableSpec",
    "extract_mysql",
    "extract_postgres",
    "write_parquet",
]
