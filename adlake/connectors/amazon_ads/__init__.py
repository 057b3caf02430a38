"""Amazon Ads API connector: profiles and Reporting v3 reports, without Dagster.

``AmazonAdsClient`` creates a report, polls it, streams the gzip file to disk and iterates its
records; ``spec`` checks a request against the vendored Reporting v3 docs first.
"""

from adlake.connectors.amazon_ads import spec
from adlake.connectors.amazon_ads.client import ADS_HOSTS, AmazonAdsClient
from adlake.connectors.amazon_ads.errors import (
    AmazonAdsError,
    InvalidReportRequest,
    ReportFailed,
    ReportFileError,
    ReportNotFound,
)
from adlake.connectors.amazon_ads.models import AdsProfile, AdsReport, ReportRequest

__all__ = [
    "ADS_HOSTS",
    "AdsProfile",
    "AdsReport",
    "AmazonAdsClient",
    "AmazonAdsError",
    "InvalidReportRequest",
    "ReportFailed",
    "ReportFileError",
    "ReportNotFound",
    "ReportRequest",
    "spec",
]
