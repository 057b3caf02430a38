"""What a catalog is told about a clean dataset, the same for every catalog implementation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class CatalogTable:
    """A clean dataset to register: names, where its Parquet lives, its columns and partitions.

    ``location`` is the URL of the dataset's clean folder (a local path or ``s3://...``).
    ``columns`` are (name, DuckDB type) pairs of the clean schema; ``column_notes`` say how PII
    columns were protected.

    A ``partitioned`` dataset (the default, e.g. daily API pulls) keeps one Parquet file per day
    at ``<location>/dt=YYYY-MM-DD/<file_name>``; ``partitions`` are the days to register and the
    catalogs expose a ``dt`` DATE column. An unpartitioned dataset (``partitioned=False``, e.g. a
    current-state table copied from a database) is exactly one Parquet file at
    ``<location>/<file_name>``, replaced on every copy; it has no ``dt`` column, so
    ``partitions`` must be empty. Its folder should hold nothing else: Glue/Athena read every
    file under the folder.
    """

    source: str
    dataset: str
    description: str
    location: str
    columns: tuple[tuple[str, str], ...]
    partitions: tuple[str, ...] = ()
    column_notes: dict[str, str] = field(default_factory=dict)
    file_name: str = "data.parquet"
    partitioned: bool = True

    def __post_init__(self) -> None:
        """Refuse days for an unpartitioned dataset: they would name folders that do not exist."""
        if not self.partitioned and self.partitions:
            raise ValueError(
                f"{self.source}.{self.dataset} is unpartitioned (one file at "
                f"{self.file_location}) but was given partitions {list(self.partitions)}; "
                "register it with partitions=()"
            )

    @property
    def file_location(self) -> str:
        """The single Parquet file of an unpartitioned dataset (``<location>/<file_name>``)."""
        return f"{self.location}/{self.file_name}"

    def partition_location(self, dt: str) -> str:
        """The folder of one daily partition (partitioned datasets only)."""
        if not self.partitioned:
            raise ValueError(f"{self.source}.{self.dataset} is unpartitioned: it has no dt={dt}")
        return f"{self.location}/dt={dt}"


@dataclass(frozen=True)
class TableRegistration:
    """What the catalog holds for one dataset after registering it.

    ``location`` is what the table reads (DuckDB: the glob or the single file; Glue: the
    folder). ``partitions`` are the days the catalog knows, empty for an unpartitioned dataset.
    ``rows_in_partitions`` counts the rows of the registered days, or of the whole table when it
    is unpartitioned; None when the catalog cannot count cheaply (Glue).
    """

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
        """Create or update the table and register the given partitions (none if unpartitioned).

        Idempotent: registering the same table again changes nothing.
        """
        ...

    def register_json(self, table: JsonTable) -> str:
        """Create or update a table over JSON documents; return its qualified name."""
        ...

    def drop_partitions(self, source: str, name: str, dts: list[str]) -> int:
        """Forget these daily partitions of a table (their files are gone); how many it had."""
        ...
