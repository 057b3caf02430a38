"""What a catalog is told about a clean dataset, the same for every catalog implementation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class CatalogTable:
    """A clean dataset to register: names, where its Parquet lives, its columns and partitions.

    ``location`` is the URL of the dataset's clean folder (a local path or ``s3://...``), under
    which every partition is ``dt=YYYY-MM-DD/<file_name>``. ``columns`` are (name, DuckDB type)
    pairs of the clean schema; ``column_notes`` say how PII columns were protected.
    """

    source: str
    dataset: str
    description: str
    location: str
    columns: tuple[tuple[str, str], ...]
    partitions: tuple[str, ...]
    column_notes: dict[str, str] = field(default_factory=dict)
    file_name: str = "data.parquet"

    def partition_location(self, dt: str) -> str:
        """The folder of one daily partition."""
        return f"{self.location}/dt={dt}"


@dataclass(frozen=True)
class TableRegistration:
    """What the catalog holds for one dataset after registering it."""

    table: str
    location: str
    partitions: list[str]
    rows_in_partitions: int | None


@dataclass(frozen=True)
class JsonTable:
    """A small table of JSON documents (one object per line) under a folder, unpartitioned.

    Used for state the platform keeps as documents, such as the report ledger: ``columns`` are
    (name, DuckDB type, Hive type) triples, so each catalog reads them with stable types.
    """

    source: str
    name: str
    description: str
    location: str
    columns: tuple[tuple[str, str, str], ...]


class Catalog(Protocol):
    """A place clean datasets are registered for queries (DuckDB file, Glue Data Catalog)."""

    def register(self, table: CatalogTable) -> TableRegistration:
        """Create or update the table and register the given partitions; idempotent."""
        ...

    def register_json(self, table: JsonTable) -> str:
        """Create or update a table over JSON documents; return its qualified name."""
        ...
