"""Retention: which daily partitions of a zone have outlived their dataset's policy, and removal.

A partition ``dt=D`` of a zone is expired on ``today`` when it is at least ``keep_days`` old
(``(today - D).days >= keep_days``): with ``raw_days: 30`` the last 30 days, today included,
are kept. Nothing younger is ever listed, whatever the folder holds. Expiring a raw partition
deletes its files and marks its delivery manifests ``expired`` (the record that the files
existed stays), so clean knows not to rebuild a partition from what is no longer there.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta

from adlake.lake.deliveries import DeliveryLedger
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, dataset_prefix

PARTITION = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})(?:/|$)")
EXPIRED = "expired"


@dataclass(frozen=True)
class Expiry:
    """One partition past its retention: where it is and what it holds."""

    zone: str
    source: str
    dataset: str
    dt: str
    path: str
    files: int
    bytes: int

    def to_dict(self) -> dict[str, object]:
        """The expiry as a JSON-able dict."""
        return asdict(self)


def expired_partitions(
    lake: Lake, zone: Zone, source: str, dataset: str, keep_days: int, today: date
) -> list[Expiry]:
    """The partitions of one dataset in one zone that are ``keep_days`` old or older."""
    prefix = dataset_prefix(zone, source, dataset)
    if not lake.exists(prefix):
        return []
    cutoff = today - timedelta(days=keep_days)
    found: dict[str, list[int]] = {}
    for stored in lake.list_files(prefix):
        match = PARTITION.search(stored.path[len(prefix) :])
        if match and date.fromisoformat(match[1]) <= cutoff:
            found.setdefault(match[1], []).append(stored.size)
    return [
        Expiry(zone.value, source, dataset, dt, f"{prefix}/dt={dt}", len(sizes), sum(sizes))
        for dt, sizes in sorted(found.items())
    ]


def expire(lake: Lake, expiry: Expiry) -> None:
    """Delete an expired partition; for raw, mark the day's delivery manifests expired first."""
    if expiry.zone == Zone.RAW.value:
        ledger = DeliveryLedger(lake, expiry.source, expiry.dataset)
        for delivery in ledger.for_dates([expiry.dt]):
            if delivery.status != EXPIRED:
                ledger.record(replace(delivery, status=EXPIRED))
    lake.delete_tree(expiry.path)


RULE_PREFIX = "adlake-retention-"
TIER_AFTER_DAYS = 30  # objects move to S3 Intelligent-Tiering after this many days


def lifecycle_rules(
    lake_prefix: str, datasets: list[tuple[str, str, int, int | None]]
) -> list[dict]:
    """S3 lifecycle rules matching the retention of ``(source, dataset, raw_days, clean_days)``.

    Each zone of a dataset gets a rule on its prefix: Intelligent-Tiering after 30 days, and
    expiration one day after the retention (S3 counts from the object's creation, a delivery
    of day D is written on D or later, so nothing is expired by S3 before adlake would).
    """
    base = f"{lake_prefix.strip('/')}/" if lake_prefix.strip("/") else ""
    rules = []
    for source, dataset, raw_days, clean_days in datasets:
        for zone, days in ((Zone.RAW, raw_days), (Zone.CLEAN, clean_days)):
            rule: dict = {
                "ID": f"{RULE_PREFIX}{zone.value}-{source}-{dataset}"[:255],
                "Filter": {"Prefix": f"{base}{dataset_prefix(zone, source, dataset)}/"},
                "Status": "Enabled",
                "Transitions": [{"Days": TIER_AFTER_DAYS, "StorageClass": "INTELLIGENT_TIERING"}],
            }
            if days is not None:
                rule["Expiration"] = {"Days": days + 1}
                if days + 1 <= TIER_AFTER_DAYS:
                    rule.pop("Transitions")
            rules.append(rule)
    return rules
