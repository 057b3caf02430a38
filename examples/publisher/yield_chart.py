"""Plot a day of publisher yield from the catalog: revenue and fill rate per hour and ad unit.

Reads ``aggregates.yield_hourly`` (see adlake.yaml) through ``adlake query``'s engine, so it
runs on the local DuckDB catalog and, on the aws profile, on Athena. Run it after the
``aggregates/yield_hourly`` asset has materialized the day (``make dev`` and the UI, or
``dagster asset materialize --select aggregates/yield_hourly --partition <day>``):

    uv run python examples/publisher/yield_chart.py --day 2026-12-01 --out yield.png

It also prints the day's totals per ad unit.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

from adlake.catalog.query import QueryError, run_query  # noqa: E402
from adlake.config import ConfigError, load_config  # noqa: E402

SQL = """
SELECT hour, ad_unit, requests, impressions, revenue
FROM aggregates.yield_hourly WHERE day = DATE '{day}' ORDER BY hour, ad_unit
"""


def main() -> int:
    """Query the day's hourly yield, save the chart, print the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    parser.add_argument("--day", default=yesterday, help="YYYY-MM-DD (default: yesterday)")
    parser.add_argument("--out", default="yield.png", help="PNG file to write")
    args = parser.parse_args()
    try:
        result = run_query(
            load_config(), SQL.format(day=date.fromisoformat(args.day)), limit=10_000
        )
    except (ConfigError, QueryError, ValueError) as exc:
        print(f"yield_chart: {exc}", file=sys.stderr)
        return 2
    if not result.rows:
        print(
            f"yield_chart: no yield for {args.day} in aggregates.yield_hourly. Fix: materialize "
            f"aggregates/yield_hourly for partition {args.day}",
            file=sys.stderr,
        )
        return 1
    units: dict[str, dict[int, tuple[int, int, float]]] = defaultdict(dict)
    for hour, unit, requests, impressions, revenue in result.rows:
        units[unit][int(hour)] = (int(requests), int(impressions), float(revenue))
    draw(units, args.day, args.out)
    print(f"{'ad unit':<20} {'requests':>9} {'fill rate':>9} {'revenue':>10} {'eCPM':>7}")
    for unit, hours in sorted(units.items()):
        requests = sum(h[0] for h in hours.values())
        shown = sum(h[1] for h in hours.values())
        revenue = sum(h[2] for h in hours.values())
        ecpm = revenue * 1000 / shown if shown else 0.0
        print(f"{unit:<20} {requests:>9} {shown / requests:>9.1%} {revenue:>10.4f} {ecpm:>7.3f}")
    print(f"chart: {args.out}")
    return 0


def draw(units: dict[str, dict[int, tuple[int, int, float]]], day: str, out: str) -> None:
    """Stacked revenue bars per hour and a fill-rate line per ad unit, in one PNG."""
    hours = list(range(24))
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    base = [0.0] * 24
    for unit, by_hour in sorted(units.items()):
        revenue = [by_hour.get(h, (0, 0, 0.0))[2] for h in hours]
        top.bar(hours, revenue, bottom=base, label=unit)
        base = [b + r for b, r in zip(base, revenue, strict=True)]
        fill = [by_hour[h][1] / by_hour[h][0] if h in by_hour else None for h in hours]
        bottom.plot(hours, fill, marker="o", label=unit)
    top.set_title(f"Yield on {day}: revenue (USD) per hour and ad unit")
    top.set_ylabel("revenue (USD)")
    top.legend(fontsize="small")
    bottom.set_ylabel("fill rate")
    bottom.set_xlabel("hour (UTC)")
    bottom.set_ylim(0, 1)
    bottom.set_xticks(hours)
    figure.tight_layout()
    figure.savefig(out, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
