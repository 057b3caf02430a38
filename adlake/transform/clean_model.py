"""What a clean run takes and returns, and the clean columns that every phase of it shares.

:mod:`adlake.transform.clean` re-exports the public names; the phases (staging, finishing,
quarantine) import them from here so that none of them imports the module that drives them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from adlake.config import DatasetConfig
from adlake.transform import pii
from adlake.transform.readers import FileRead, sql_string
from adlake.transform.types import clean_type

CLEAN_FILE = "data.parquet"
QUARANTINE_FILE = "rows.parquet"


@dataclass(frozen=True)
class CleanInput:
    """One raw delivery to clean: its local path, delivery date and a name for messages."""

    delivery_id: str
    path: str
    dt: str
    display: str
    lines: int = 0


# a delivery that can be read: its rank in the run's inputs, the input, and how to read it
DeliveryRead = tuple[int, CleanInput, FileRead]


@dataclass(frozen=True)
class PartitionOutcome:
    """What one clean partition received and wrote, counted from the files written."""

    dt: str
    rows_in: int
    rows_out: int
    duplicates: int
    quarantined: int
    clean_path: str
    clean_bytes: int
    quarantine_path: str | None
    clear_pii: dict[str, int] = field(default_factory=dict)
    preview: str = ""

    @property
    def published(self) -> bool:
        """Whether the clean file was published (never when it held clear PII)."""
        return not self.clear_pii


@dataclass
class CleanOutcome:
    """The result of a clean run over one or more partitions."""

    partitions: list[PartitionOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)
    schema: list[tuple[str, str]] = field(default_factory=list)
    engine: str = "duckdb"  # that cleaned the partitions: duckdb or spark
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per stage

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the wall seconds of the block to ``seconds[stage]`` (stage, finish, publish)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.seconds[stage] = round(self.seconds.get(stage, 0.0) + spent, 3)

    def total(self, name: str) -> int:
        """Sum of one counter (rows_in, rows_out, duplicates, quarantined) over partitions."""
        return sum(getattr(p, name) for p in self.partitions)


@dataclass(frozen=True)
class DatasetRef:
    """Which dataset a clean run writes: names and the validated spec."""

    source: str
    dataset: str
    spec: DatasetConfig


def output_columns(spec: DatasetConfig) -> list[str]:
    """Declared columns that reach the clean zone (dropped PII never does)."""
    return [n for n, c in spec.columns.items() if not (c.pii and c.pii.policy == "drop")]


def clean_schema(spec: DatasetConfig) -> list[tuple[str, str]]:
    """(name, DuckDB type) of every clean column, in order."""
    return [(n, clean_type(spec.columns[n])) for n in output_columns(spec)] + [
        ("_delivery_id", "VARCHAR")
    ]


def clean_values(spec: DatasetConfig, labels: Sequence[CleanInput], *extra: str) -> str:
    """SQL of the clean columns over staged rows (PII hashed, delivery id looked up).

    ``labels`` are the run's inputs in rank order (a staged row's ``_delivery``); ``extra``
    are more select items to append.
    """
    values = []
    for name in output_columns(spec):
        value = f'"{name}"'
        if spec.columns[name].pii:
            value = pii.hash_sql(f"CAST({value} AS VARCHAR)", spec.columns[name].pii)
        values.append(f'{value} AS "{name}"')
    ids = ", ".join(sql_string(item.delivery_id) for item in labels)
    return ", ".join([*values, f"[{ids}][_delivery + 1] AS _delivery_id", *extra])
