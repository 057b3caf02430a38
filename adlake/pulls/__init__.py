"""Report pulls: request a report, poll it, stream it into raw, and remember every request.

The report ledger (:mod:`~adlake.pulls.ledger`) records each request before it is polled, so a
run that dies resumes the same remote report instead of asking for a second one. The runner
(:mod:`~adlake.pulls.runner`) drives any :class:`~adlake.pulls.api.ReportApi` (Amazon Ads,
Selling Partner, later AMC) the same way and lands one delivery per account and day. No Dagster.
"""

from adlake.pulls.api import PullError, RemoteFailed, RemoteGone, RemoteReport, ReportApi
from adlake.pulls.ledger import ReportEntry, ReportLedger
from adlake.pulls.runner import PullSettings, WindowOutcome, plan_windows, pull_window

__all__ = [
    "PullError",
    "PullSettings",
    "RemoteFailed",
    "RemoteGone",
    "RemoteReport",
    "ReportApi",
    "ReportEntry",
    "ReportLedger",
    "WindowOutcome",
    "plan_windows",
    "pull_window",
]
