"""Exceptions of the AMC connector; each message names the instance, workflow and fix."""

from __future__ import annotations

from adlake.connectors.http import ApiError

API = "Amazon Marketing Cloud"


class AmcError(ApiError):
    """An AMC call failed for good."""


class WorkflowRejected(AmcError):
    """AMC refused a workflow's SQL or definition; the message is AMC's validation text."""

    default_fix = "correct the workflow's .sql file (AMC's message says where) and run again"


class ExecutionNotFound(AmcError):
    """AMC does not know the execution id (expired, or another instance's)."""

    default_fix = "the execution is gone; a new execution of the window will be created"


class ExecutionFailed(AmcError):
    """An execution ended FAILED or CANCELLED; ``reason`` is AMC's text."""

    default_fix = (
        "read AMC's reason: fix the workflow's SQL or its time window, then run the partition "
        "again (a new execution is created)"
    )
    reason: str = ""
