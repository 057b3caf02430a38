"""The catalog resource of the local profile: a DuckDB file."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from adlake.catalog.duckdb_catalog import DuckDBCatalog
from adlake.catalog.table import Catalog


class CatalogResource(dg.ConfigurableResource):
    """Where clean datasets are registered for queries, whatever the profile."""

    def catalog(self) -> Catalog:
        """The catalog client."""
        raise NotImplementedError


class DuckDBCatalogResource(CatalogResource):
    """Registers clean datasets as views in a DuckDB file, one schema per source."""

    path: str = Field(description="Absolute path of the catalog DuckDB file.")

    def catalog(self) -> DuckDBCatalog:
        """The catalog client."""
        return DuckDBCatalog(self.path)
