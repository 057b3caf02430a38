"""Errors of change data capture; messages name the source object and the fix, never a DSN."""

from __future__ import annotations


class CdcError(Exception):
    """Change data capture failed: a slot, publication or replication message is not usable."""


class TableTruncated(CdcError):
    """A captured table was truncated: no row changes say which rows went; snapshot again."""
