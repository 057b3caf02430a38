"""Report-pull benchmark: peak memory must not grow with the size of an Amazon Ads report.

Run with ``uv run python benchmarks/report_pull.py`` (``--rows 20000,200000`` to choose sizes).
The Login with Amazon and Amazon Ads emulators run in this process; each pull runs in a fresh
child process so that its peak RSS is its own. For each size it measures:

- ours: adlake's pull (create, poll, stream the gzip JSON to raw, split into one gzip
  JSON-lines delivery per day, ledger), and
- baseline: the usual script — ``requests.get(url).content``, ``gzip.decompress``,
  ``json.loads``, write the rows — measured in the same run against the same report.

It prints rows/s and peak RSS per size, the ratio of peak RSS between the largest and the
smallest report for both, and ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

COLUMNS = ["date", "campaignId", "campaignName", "impressions", "clicks", "cost", "sales7d"]
DAY = date(2026, 11, 1)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, endpoint: str, token_url: str, profile: str, day: date) -> dict:
    """Pull one report in this (fresh) process and report time, rows and peak RSS."""
    import requests

    from adlake.config import AdsReportConfig
    from adlake.connectors.amazon_ads import AmazonAdsClient, ReportRequest
    from adlake.connectors.lwa import LwaCredentials, LwaTokens
    from adlake.lake.storage import Lake
    from adlake.pulls import PullSettings, pull_window
    from adlake.pulls.amazon import AdsReports, Polling
    from adlake_tests.emulators.lwa import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_REFRESH_TOKEN

    tokens = LwaTokens(
        token_url, LwaCredentials(TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_REFRESH_TOKEN)
    )
    client = AmazonAdsClient(endpoint=endpoint, client_id=TEST_CLIENT_ID, tokens=tokens)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        if mode == "ours":
            report = AdsReportConfig(
                report_type="spCampaigns", group_by=["campaign"], columns=COLUMNS
            )
            api = AdsReports(client, "sp_campaigns", report, Polling(0.05, 600))
            settings = PullSettings("amazon_ads", "sp_campaigns", run_id="bench")
            outcome = pull_window(api, Lake(folder), settings, profile, day, day, lambda _: None)
            rows = outcome.entry.rows
        else:
            request = ReportRequest(
                report_type="spCampaigns",
                columns=COLUMNS,
                group_by=["campaign"],
                start_date=day,
                end_date=day,
            )
            report_id = client.create_report(profile, request)
            done = client.wait_for_report(profile, report_id, interval=0.05)
            body = requests.get(done.url, timeout=600).content
            records = json.loads(gzip.decompress(body))
            with gzip.open(Path(folder) / "rows.jsonl.gz", "wt") as out:
                for record in records:
                    out.write(json.dumps({**record, "profile_id": profile}) + "\n")
            rows = len(records)
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 3), "peak_rss_mb": round(peak_rss_mb(), 1)}


def run_child(mode: str, endpoint: str, token_url: str, profile: str, day: date) -> dict:
    """Run :func:`child` in a fresh interpreter and return its figures."""
    output = subprocess.run(
        [sys.executable, __file__, "--child", mode, endpoint, token_url, profile, day.isoformat()],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    """Pull each size with adlake and with the baseline; print figures and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="20000,200000", help="report sizes, comma separated")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, endpoint, token_url, profile, day = args.child
        figures = child(mode, endpoint, token_url, profile, date.fromisoformat(day))
        sys.stdout.write(json.dumps(figures) + "\n")
        return

    from adlake_tests.emulators.amazon_ads import AmazonAdsEmulator
    from adlake_tests.emulators.lwa import LwaEmulator, TokenAuthority

    sizes = [int(n) for n in args.rows.split(",")]
    results: dict[str, dict[int, dict]] = {"ours": {}, "baseline": {}}
    authority = TokenAuthority()
    with LwaEmulator(authority) as lwa, AmazonAdsEmulator(authority) as ads:
        ads.polls_to_complete = 1
        profile = str(ads.profiles[0]["profileId"])
        for index, size in enumerate(sizes):
            ads.rows_per_day = size
            for offset, mode in enumerate(("ours", "baseline")):
                day = DAY.replace(day=1 + 2 * index + offset)  # a new report each time
                figures = run_child(mode, ads.base_url, lwa.token_url, profile, day)
                figures["rows_per_s"] = round(figures["rows"] / figures["seconds"])
                results[mode][size] = figures
                sys.stdout.write(
                    f"{mode:>8} {size:>9,} rows: {figures['seconds']:7.2f} s, "
                    f"{figures['rows_per_s']:>9,} rows/s, "
                    f"peak RSS {figures['peak_rss_mb']:7.1f} MB\n"
                )
    small, large = min(sizes), max(sizes)
    growth = {
        mode: round(results[mode][large]["peak_rss_mb"] / results[mode][small]["peak_rss_mb"], 2)
        for mode in results
    }
    sys.stdout.write(
        f"peak RSS {large:,} rows / {small:,} rows: ours {growth['ours']}x, baseline "
        f"{growth['baseline']}x\n"
        f"peak RSS at {large:,} rows, ours / baseline: "
        f"{results['ours'][large]['peak_rss_mb'] / results['baseline'][large]['peak_rss_mb']:.2f}\n"
    )
    summary = {
        "benchmark": "report_pull",
        "sizes": sizes,
        "ours": {str(k): v for k, v in results["ours"].items()},
        "baseline": {str(k): v for k, v in results["baseline"].items()},
        "rss_growth_ours": growth["ours"],
        "rss_growth_baseline": growth["baseline"],
    }
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
