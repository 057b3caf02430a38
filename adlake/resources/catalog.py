"""Catalog resources: a DuckDB file on the local profile, the Glue Data Catalog on aws."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from adlake.catalog.duckdb_catalog import DuckDBCatalog
from adlake.catalog.glue_catalog import GlueCatalog
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


class GlueCatalogResource(CatalogResource):
    """Registers clean datasets in the Glue Data Catalog: a database per source, a Parquet
    table per dataset partitioned by ``dt``, each new partition added without a crawler."""

    region: str = Field(description="AWS region of the Glue Data Catalog.")
    endpoint_url: str | None = Field(
        default=None, description="Custom Glue endpoint (a moto server in tests); None for AWS."
    )
    database_prefix: str = Field(
        default="", description="Glue database of a source: this prefix + the source name."
    )

    def catalog(self) -> GlueCatalog:
        """The catalog client."""
        return GlueCatalog(self.region, self.endpoint_url, self.database_prefix)
