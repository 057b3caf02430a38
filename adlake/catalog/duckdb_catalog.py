"""The local catalog: one DuckDB file, one schema per source, one view per clean dataset.

A view over the clean zone's Hive-partitioned Parquet means a new partition is queryable the
moment it is published; registering only (re)creates the view and records its column notes. An
unpartitioned dataset (one current-state Parquet file) is a view over that file alone.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from adlake.catalog.table import CatalogTable, JsonTable, TableRegistration
from adlake.transform.readers import sql_string


class DuckDBCatalog:
    """A DuckDB database file used as the catalog of the local profile."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def register(self, table: CatalogTable) -> TableRegistration:
        """Create or refresh ``<source>.<dataset>`` over the clean files; count the rows.

        A partitioned dataset is read through its ``dt=`` folders (``dt`` becomes a DATE
        column) and the rows of ``table.partitions`` are counted; an unpartitioned one is a view
        over its single file, so a replaced file is visible at once, and all its rows count.
        """
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        schema = table.source
        name = f'"{schema}"."{table.dataset}"'
        if table.partitioned:
            read = f"{table.location}/dt=*/{table.file_name}"
            source = (
                f"read_parquet({sql_string(read)}, hive_partitioning=true, "
                "hive_types={'dt': DATE}, union_by_name=true)"
            )
        else:
            read = table.file_location
            source = f"read_parquet({sql_string(read)})"
        with duckdb.connect(self.path) as con:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {source}")
            con.execute(f"COMMENT ON VIEW {name} IS {sql_string(table.description)}")
            for column, note in table.column_notes.items():
                con.execute(f'COMMENT ON COLUMN {name}."{column}" IS {sql_string(note)}')
            if not table.partitioned:
                rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                return TableRegistration(f"{schema}.{table.dataset}", read, [], int(rows))
            known = [
                str(row[0])
                for row in con.execute(f"SELECT DISTINCT dt FROM {name} ORDER BY dt").fetchall()
            ]
            wanted = ", ".join(f"DATE {sql_string(dt)}" for dt in table.partitions) or "NULL"
            rows = con.execute(f"SELECT count(*) FROM {name} WHERE dt IN ({wanted})").fetchone()[0]
        return TableRegistration(f"{schema}.{table.dataset}", read, known, int(rows))

    def drop_partitions(self, source: str, name: str, dts: list[str]) -> int:
        """Nothing to do: a DuckDB view globs the partition folders, so gone files are gone."""
        return 0

    def register_json(self, table: JsonTable) -> str:
        """Create or refresh ``<source>.<name>`` over the JSON documents below its folder."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        name = f'"{table.source}"."{table.name}"'
        columns = ", ".join(f"{sql_string(c)}: {sql_string(t)}" for c, t, _ in table.columns)
        source = (
            f"read_json({sql_string(table.location + '/**/*.json')}, "
            f"format='newline_delimited', columns={{{columns}}})"
        )
        with duckdb.connect(self.path) as con:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{table.source}"')
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {source}")
            con.execute(f"COMMENT ON VIEW {name} IS {sql_string(table.description)}")
        return f"{table.source}.{table.name}"
