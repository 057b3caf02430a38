"""Declarative REST sources (SaaS APIs): auth, pagination and pages, no Dagster here."""

from adlake.connectors.rest.client import Page, RestClient
from adlake.connectors.rest.pages import PageRequest

__all__ = ["Page", "PageRequest", "RestClient"]
