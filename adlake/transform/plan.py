"""The clean transform of one dataset, declared once for every engine that runs it.

A :class:`CleanPlan` is what adlake.yaml says about a dataset's clean zone, in the terms the
engines compile: each column's source, type, checks and PII policy, the partition date and its
lateness window, the primary key that deduplication keeps the latest row of, and the exact
quarantine messages. :mod:`~adlake.transform.staging` compiles it to DuckDB SQL and
:mod:`~adlake.transform.spark_compile` to PySpark column expressions; neither holds a rule of
its own, so both give the same rows, hashes and quarantine reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from adlake.config import ColumnConfig, DatasetConfig, PiiConfig

BAD_JSON = "the line is not valid JSON"
SHOWN_CHARS = 40  # of an invalid value quoted in its quarantine reason


@dataclass(frozen=True)
class Shown:
    """The invalid value of a column in a message: quoted, its first characters, or ``***``."""

    column: str
    masked: bool  # a PII column's value is never shown


@dataclass(frozen=True)
class RowDate:
    """The row's partition date in a message (YYYY-MM-DD)."""


@dataclass(frozen=True)
class WindowDate:
    """A date of the delivery's window in a message: ``delivery``, ``oldest`` or ``newest``."""

    which: str


# a message is literal text and the values an engine fills in, concatenated in order
Part = str | Shown | RowDate | WindowDate
Message = tuple[Part, ...]


@dataclass(frozen=True)
class ColumnRule:
    """One declared column: where it is read from, its type, its checks and its PII policy."""

    name: str
    source: str  # header name or JSON path
    column: ColumnConfig
    required: bool  # required, or part of the primary key

    @property
    def pii(self) -> PiiConfig | None:
        """The column's PII policy, if any."""
        return self.column.pii

    @property
    def kept(self) -> bool:
        """Whether the column reaches the clean zone (a dropped PII column never does)."""
        return not (self.pii and self.pii.policy == "drop")

    def cast_error(self) -> Message:
        """Why a value that does not cast to the column's type is quarantined."""
        return (
            f"column {self.name}: ",
            Shown(self.name, masked=self.pii is not None),
            f" is not a valid {self.column.type}",
        )

    def required_error(self) -> Message:
        """Why a row without a value for a required column is quarantined."""
        return (f"column {self.name}: required but empty. Fix: ask the partner to fill it",)


@dataclass(frozen=True)
class DateWindow:
    """The partition dates a delivery's rows may have: its date, back by the lateness window."""

    column: str
    delivery_dt: str
    lateness_days: int

    @property
    def newest(self) -> date:
        """One day past the delivery date: a partner's local day straddles two UTC days."""
        return date.fromisoformat(self.delivery_dt) + timedelta(days=1)

    @property
    def oldest(self) -> date:
        """The oldest partition date a row of the delivery may have."""
        return self.newest - timedelta(days=self.lateness_days + 1)

    def missing_error(self) -> Message:
        """Why a row without a date to partition by is quarantined."""
        return (f"column {self.column}: no date to partition by",)

    def outside_error(self) -> Message:
        """Why a row dated outside the window is quarantined, with the fix."""
        return (
            f"column {self.column}: date ",
            RowDate(),
            " is outside ",
            WindowDate("oldest"),
            "..",
            WindowDate("newest"),
            " (delivery date ",
            WindowDate("delivery"),
            f" with partition.lateness_days {self.lateness_days}). Fix: raise lateness_days or "
            "ask for a corrected file",
        )

    def dates(self) -> dict[str, str]:
        """The window's dates by the name a :class:`WindowDate` gives them (YYYY-MM-DD)."""
        return {
            "delivery": self.delivery_dt,
            "oldest": str(self.oldest),
            "newest": str(self.newest),
        }


@dataclass(frozen=True)
class CleanPlan:
    """A dataset's clean transform: columns, partitioning, deduplication key and messages."""

    columns: tuple[ColumnRule, ...]
    primary_key: tuple[str, ...]
    partition_column: str | None
    lateness_days: int

    @classmethod
    def of(cls, spec: DatasetConfig) -> CleanPlan:
        """The plan that a dataset's spec declares."""
        return cls(
            columns=tuple(
                ColumnRule(
                    name=name,
                    source=column.source or name,
                    column=column,
                    required=column.required or name in spec.primary_key,
                )
                for name, column in spec.columns.items()
            ),
            primary_key=tuple(spec.primary_key),
            partition_column=spec.partition.column,
            lateness_days=spec.partition.lateness_days,
        )

    @property
    def output(self) -> list[ColumnRule]:
        """The columns that reach the clean zone, in declared order."""
        return [rule for rule in self.columns if rule.kept]

    def window(self, delivery_dt: str) -> DateWindow | None:
        """The date window of a delivery's rows, or None when rows take the delivery's date."""
        if self.partition_column is None:
            return None
        return DateWindow(self.partition_column, delivery_dt, self.lateness_days)
