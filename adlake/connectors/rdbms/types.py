"""What an extract reads (:class:`TableSpec`) and the errors it raises."""

from __future__ import annotations

from dataclasses import dataclass, field


class RdbmsExtractError(Exception):
    """An extract cannot run as specified; the message names the table or query and the fix."""


@dataclass(frozen=True)
class TableSpec:
    """One table (``schema``.``table``) or one ``query`` to extract; exactly one of the two.

    ``primary_key`` names the columns that identify a row (used downstream to deduplicate the
    overlap of incremental extracts); ``incremental_column`` is the monotonic column (timestamp
    or id) that incremental extracts filter and order by.
    """

    schema: str | None
    table: str | None
    query: str | None
    primary_key: list[str] = field(default_factory=list)
    incremental_column: str | None = None

    def __post_init__(self) -> None:
        if (self.table is None) == (self.query is None):
            raise RdbmsExtractError(
                f"a table spec needs exactly one of table or query, got table={self.table!r} "
                f"and query={self.query!r}"
            )
        if self.query is not None and self.schema is not None:
            raise RdbmsExtractError(
                f"schema={self.schema!r} applies to a table only: qualify names in the query"
            )

    @property
    def label(self) -> str:
        """The table's qualified name, or ``query`` — for error messages and logs."""
        if self.table is None:
            return "query"
        return f"{self.schema}.{self.table}" if self.schema else self.table
