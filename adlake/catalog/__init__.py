"""Registering clean tables where people query them: DuckDB locally (no Dagster here)."""
