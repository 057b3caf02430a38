"""Amazon Selling Partner API connector: Reports API 2021-06-30 and report document parsers.

``SellingPartnerClient`` requests a report, waits for it and downloads its document as
delivered; ``iter_records`` streams the records of a downloaded document (TSV, CSV, JSON, XML,
gzip or not). No Dagster here: assets wire this to the lake.
"""

from adlake.connectors.selling_partner.client import SellingPartnerClient
from adlake.connectors.selling_partner.documents import is_gzip, iter_records
from adlake.connectors.selling_partner.errors import (
    DocumentError,
    InvalidReportRequest,
    ReportFailed,
    SellingPartnerError,
)
from adlake.connectors.selling_partner.models import SpDocument, SpReport
from adlake.connectors.selling_partner.spec import (
    MARKETPLACES,
    MAX_MARKETPLACES,
    SP_HOSTS,
    USAGE_PLANS,
    UnknownReportType,
    marketplace_region,
    report_columns,
    report_format,
)

__all__ = [
    "MARKETPLACES",
    "MAX_MARKETPLACES",
    "SP_HOSTS",
    "USAGE_PLANS",
    "DocumentError",
    "InvalidReportRequest",
    "ReportFailed",
    "SellingPartnerClient",
    "SellingPartnerError",
    "SpDocument",
    "SpReport",
    "UnknownReportType",
    "is_gzip",
    "iter_records",
    "marketplace_region",
    "report_columns",
    "report_format",
]
