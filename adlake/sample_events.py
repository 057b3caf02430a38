"""A publisher's synthetic ad-server logs: auctions with their bids, impressions and clicks.

Each ad request is an auction: bid requests go to a few demand partners, some answer with a
price, the highest bid at or above the ad unit's floor wins, most wins render an impression
and a few impressions are clicked. The same generator feeds the sample project (hourly
gzip JSON-lines files in landing, as an ad server drops them), the tests that check the yield
aggregates against figures computed here, and the publisher benchmark. Deterministic for a
given day, hour and size.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

SOURCE = "ad_server"
DATASETS = ("bids", "impressions", "clicks")
# ad unit -> (placement, floor CPM in USD)
AD_UNITS = {
    "home_leaderboard": ("header", 0.80),
    "article_mpu": ("in_article", 0.50),
    "article_sidebar": ("sidebar", 0.20),
    "video_preroll": ("instream", 4.00),
}
PARTNERS = ("appnexus", "magnite", "pubmatic", "openx", "index_exchange")
COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "CA")
DEVICES = ("mobile", "mobile", "desktop", "tablet", "ctv")


@dataclass
class HourOfEvents:
    """One hour of events, by dataset, as JSON-ready records."""

    bids: list[dict] = field(default_factory=list)
    impressions: list[dict] = field(default_factory=list)
    clicks: list[dict] = field(default_factory=list)

    def by_dataset(self) -> dict[str, list[dict]]:
        """Records per dataset name."""
        return {"bids": self.bids, "impressions": self.impressions, "clicks": self.clicks}


def hour_of_events(day: date, hour: int, auctions: int) -> HourOfEvents:
    """The events of ``auctions`` ad requests during one hour of ``day`` (UTC)."""
    rng = random.Random(day.toordinal() * 24 + hour)
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    out = HourOfEvents()
    for i in range(auctions):
        _auction(rng, f"{day:%Y%m%d}{hour:02d}{i:07d}", start, out)
    return out


def _auction(rng: random.Random, auction_id: str, start: datetime, out: HourOfEvents) -> None:
    ad_unit = rng.choice(list(AD_UNITS))
    placement, floor = AD_UNITS[ad_unit]
    when = start + timedelta(microseconds=rng.randrange(3_600_000_000))
    context = {
        "auction_id": auction_id,
        "ad_unit": ad_unit,
        "placement": placement,
        "country": rng.choice(COUNTRIES),
        "device": rng.choice(DEVICES),
    }
    offers = []
    for n, partner in enumerate(rng.sample(PARTNERS, rng.randint(1, 4))):
        price = round(floor * rng.lognormvariate(0.1, 0.6), 4) if rng.random() < 0.7 else None
        offers.append((f"{auction_id}-b{n}", partner, price))
    eligible = [o for o in offers if o[2] is not None and o[2] >= floor]
    winner = max(eligible, key=lambda o: o[2]) if eligible else None
    for event_id, partner, price in offers:
        out.bids.append(
            {
                "event_id": event_id,
                **context,
                "ts": _iso(when),
                "demand_partner": partner,
                "floor_price": floor,
                "bid_price": price,
                "won": winner is not None and event_id == winner[0],
            }
        )
    if winner is None or rng.random() >= 0.95:  # no fill, or the creative failed to render
        return
    shown = when + timedelta(milliseconds=rng.randrange(50, 800))
    impression_id = f"{auction_id}-i"
    out.impressions.append(
        {
            "event_id": impression_id,
            **context,
            "ts": _iso(shown),
            "demand_partner": winner[1],
            "price": winner[2],
            "device_id": _maid(rng),
            "ip": f"203.0.113.{rng.randrange(1, 255)}",
        }
    )
    if rng.random() < 0.02:
        out.clicks.append(
            {
                "event_id": f"{auction_id}-c",
                "impression_id": impression_id,
                **context,
                "ts": _iso(shown + timedelta(seconds=rng.randrange(1, 120))),
                "demand_partner": winner[1],
            }
        )


def day_of_events(day: date, auctions_per_hour: int) -> Iterator[tuple[int, HourOfEvents]]:
    """The day's 24 hours of events, hour by hour."""
    for hour in range(24):
        yield hour, hour_of_events(day, hour, auctions_per_hour)


def write_publisher_landing(
    lake_root: Path, today: date, days: int = 1, auctions_per_hour: int = 40
) -> list[Path]:
    """Hourly gzip JSON-lines logs of ``days`` days ending yesterday, as an ad server drops
    them into ``landing/ad_server/<dataset>/dt=<day>/<dataset>_<HH>.jsonl.gz``; the files
    written. Every hour's bid log repeats its first line, as a retrying log shipper does; an
    hour without events of a dataset (often clicks) has no file."""
    written = []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        for hour, events in day_of_events(day, auctions_per_hour):
            for dataset, records in events.by_dataset().items():
                if not records:
                    continue
                if dataset == "bids":
                    records = [*records, records[0]]
                written.append(_write_hour(lake_root, day, hour, dataset, records))
    return written


def _write_hour(root: Path, day: date, hour: int, dataset: str, records: list[dict]) -> Path:
    folder = root / "landing" / SOURCE / dataset / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dataset}_{hour:02d}.jsonl.gz"
    lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    path.write_bytes(gzip.compress(lines.encode(), mtime=0))
    return path


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _maid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}".upper()
