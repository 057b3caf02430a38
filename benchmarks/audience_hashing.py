"""Benchmark: audience members normalized, hashed and batched per platform rules, vs plain hashlib.

Generates clear members (e-mail, phone written several ways, first/last name, zip, country) and
times, in the same run:
- ours: adlake.destinations.matching for every identifier (phone parsed to E.164 and to Meta's
  digits form, names letters-only, zip 5 digits, already-hashed values detected), grouped into
  batches of 10,000 rows as the destinations send them;
- baseline: a plain loop of ``hashlib.sha256(value.strip().lower().encode()).hexdigest()`` over
  the same fields, with no normalization rules at all.

Run: ``uv run python benchmarks/audience_hashing.py [--members 250000]``. Prints members/s of
each and the ratio, and ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time

from adlake.destinations import matching

BATCH = 10_000
FIELDS = ("email", "phone", "first_name", "last_name", "zip", "country")


def members(count: int, seed: int = 7) -> list[dict[str, str]]:
    """Clear test members; a tenth of the e-mails arrive already hashed."""
    rng = random.Random(seed)
    phones = ("(206) 555-{:04d}", "+1 206 555 {:04d}", "206.555.{:04d}", "1-206-555-{:04d}")
    rows = []
    for n in range(count):
        email = f"  User.{n}@Example.COM "
        rows.append(
            {
                "email": matching.sha256_hex(email.strip().lower()) if n % 10 == 0 else email,
                "phone": rng.choice(phones).format(n % 10_000),
                "first_name": " Mary-Ann ",
                "last_name": "O'Neil",
                "zip": f"{10000 + n % 89999}-1234",
                "country": "US",
            }
        )
    return rows


def ours(rows: list[dict[str, str]]) -> int:
    """Meta-style rows: every identifier normalized by the platform rules and hashed."""
    sent = 0
    batch: list[list[str | None]] = []
    for row in rows:
        batch.append(
            [
                matching.hashed(row["email"], matching.email),
                matching.hashed(row["phone"], matching.phone_digits),
                matching.hashed(row["first_name"], matching.first_name),
                matching.hashed(row["last_name"], matching.last_name),
                matching.hashed(row["zip"], matching.zip_code),
                matching.hashed(row["country"], matching.country),
            ]
        )
        if len(batch) == BATCH:
            sent += len(batch)
            batch = []
    return sent + len(batch)


def baseline(rows: list[dict[str, str]]) -> int:
    """Plain hashlib over the same fields, no rules."""
    sent = 0
    for row in rows:
        [hashlib.sha256(row[f].strip().lower().encode()).hexdigest() for f in FIELDS]
        sent += 1
    return sent


def timed(function, rows: list[dict[str, str]], runs: int) -> float:  # noqa: ANN001
    """Best members/s of ``runs`` runs."""
    best = 0.0
    for _ in range(runs):
        started = time.perf_counter()
        assert function(rows) == len(rows)
        best = max(best, len(rows) / (time.perf_counter() - started))
    return best


def main() -> None:
    """Run both contenders and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=250_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = members(args.members)
    mine = timed(ours, rows, args.runs)
    base = timed(baseline, rows, args.runs)
    sys.stderr.write(
        f"{args.members:,} members x {len(FIELDS)} identifiers\n"
        f"  ours (platform rules, hashed, batched): {mine:,.0f} members/s\n"
        f"  plain hashlib loop (no rules):          {base:,.0f} members/s\n"
        f"  ratio ours/baseline: {mine / base:.2f}\n"
    )
    summary = {
        "benchmark": "audience_hashing",
        "members": args.members,
        "ours_members_per_s": round(mine),
        "baseline_members_per_s": round(base),
        "ratio": round(mine / base, 3),
    }
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
