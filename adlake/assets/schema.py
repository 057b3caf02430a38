"""The clean zone's columns as the Dagster UI shows them: types, PII notes and tags."""

import dagster as dg

from adlake.assets.catalog import column_notes
from adlake.config import DatasetConfig
from adlake.transform.clean_model import clean_schema


def clean_column_schema(spec: DatasetConfig) -> dg.TableSchema:
    """The clean table's columns: DuckDB type, the catalog's PII note, ``pii`` tags if hashed.

    Shown on the asset's page before the first run (definition metadata) and on every
    materialization, so a reader sees which columns are match keys without opening the YAML;
    the notes are the ones the catalog (DuckDB comments, Glue) carries.
    """
    notes = column_notes(spec)
    columns = []
    for name, kind in clean_schema(spec):
        column = spec.columns.get(name)
        pii = column.pii if column else None
        tags = {"pii": pii.policy, "pii_identifier": pii.identifier} if pii else {}
        if column is None:
            notes[name] = "The raw delivery the row came from."
        columns.append(dg.TableColumn(name, kind, description=notes.get(name), tags=tags))
    return dg.TableSchema(columns=columns)
