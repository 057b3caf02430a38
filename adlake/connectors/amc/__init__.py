"""Amazon Marketing Cloud: workflows and their executions on one instance (no Dagster here)."""

from adlake.connectors.amc.client import AmcClient, AmcInstance
from adlake.connectors.amc.errors import (
    AmcError,
    ExecutionFailed,
    ExecutionNotFound,
    WorkflowRejected,
)

__all__ = [
    "AmcClient",
    "AmcError",
    "AmcInstance",
    "ExecutionFailed",
    "ExecutionNotFound",
    "WorkflowRejected",
]
