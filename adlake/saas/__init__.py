"""SaaS pulls from declarative REST sources: resumable page-by-page landing into raw, cursors.

No Dagster here: :func:`~adlake.saas.runner.pull_resource` drives a
:class:`~adlake.connectors.rest.RestClient` for one resource and keeps its state in the lake.
"""

from adlake.saas.runner import PullOutcome, pull_resource, saved_cursor

__all__ = ["PullOutcome", "pull_resource", "saved_cursor"]
