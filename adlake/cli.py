"""``adlake`` command line: set up the local profile, sample data, the IAM policy, ad-hoc SQL."""

from __future__ import annotations

import argparse
import csv
import io
import json
import secrets
import sys
from urllib.parse import urlparse

from adlake.catalog.query import QueryError, QueryResult, run_query
from adlake.config import AdlakeConfig, ConfigError, RestSourceConfig, load_config
from adlake.iam import IamPolicyError, build_iam_policy
from adlake.lake.landing import today_utc
from adlake.sample_data import write_sample_landing
from adlake.sample_events import write_publisher_landing

LOOPBACK = {"127.0.0.1", "localhost"}


def init_local(days: int) -> str:
    """Create the local folders, a random HMAC key file if missing, and sample deliveries."""
    config = load_config()
    lake_root = config.resolve(config.lake.root)
    lake_root.mkdir(parents=True, exist_ok=True)
    notes = []
    if config.secrets.file:
        secrets_file = config.resolve(config.secrets.file)
        needed = {name: "HMAC key" for name in config.hmac_secret_names()}
        needed.update({name: "emulator credential" for name in _emulator_credentials(config)})
        try:
            current = json.loads(secrets_file.read_text()) if secrets_file.is_file() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{secrets_file}: not valid JSON (line {exc.lineno}). Fix: correct it; do not "
                "delete it, or a new HMAC key changes every pseudonymous id"
            ) from None
        added = [name for name in sorted(needed) if name not in current]
        for name in added:
            current[name] = secrets.token_hex(32)
        if added:
            secrets_file.parent.mkdir(parents=True, exist_ok=True)
            secrets_file.touch(mode=0o600)  # private before the first key is written into it
            secrets_file.chmod(0o600)
            secrets_file.write_text(json.dumps(current, indent=2) + "\n")
            kinds = sorted({needed[name] for name in added})
            notes.append(f"generated {' and '.join(kinds)}(s) {', '.join(added)} in {secrets_file}")
    files = []
    if days:
        files = write_sample_landing(lake_root, today_utc(), days=days)
        files += write_publisher_landing(lake_root, today_utc())
    notes.append(f"wrote {len(files)} sample file(s) under {lake_root / 'landing'}")
    return "; ".join(notes)


def _emulator_credentials(config: AdlakeConfig) -> set[str]:
    """Credential names of sources and destinations pointed at a local emulator.

    Amazon sources and destinations (LWA secrets) and REST sources whose base URL is on
    loopback; a real API's credentials are never made up.
    """
    amazon_destinations = [d for d in config.destinations.values() if d.kind == "amazon_ads"]
    names: set[str] = set()
    for item in [*config.pull_sources().values(), *amazon_destinations]:
        hosts = {urlparse(u).hostname for u in (item.endpoint, item.token_url) if u}
        if hosts and hosts <= LOOPBACK:
            names.update(item.credentials.model_dump().values())
    for source in config.sources.values():
        if isinstance(source, RestSourceConfig) and urlparse(source.base_url).hostname in LOOPBACK:
            names |= source.secret_names()
    return names


def iam_policy(account_id: str | None) -> str:
    """The IAM policy JSON of the configured project; how ARNs were derived goes to stderr."""
    result = build_iam_policy(load_config(), account_id)
    for note in result.notes:
        sys.stderr.write(f"adlake: note: {note}\n")
    return json.dumps(result.document, indent=2)


def render(result: QueryResult, fmt: str) -> str:
    """A query's result as an aligned table, CSV or JSON lines."""
    if fmt == "json":
        return "".join(
            json.dumps(dict(zip(result.columns, row, strict=True)), default=str) + "\n"
            for row in result.rows
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(result.rows)
        return out.getvalue()
    cells = [result.columns] + [["" if v is None else str(v) for v in row] for row in result.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(result.columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({len(result.rows)} row(s))\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``adlake`` command."""
    parser = argparse.ArgumentParser(prog="adlake", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="prepare the local profile and write sample data")
    init.add_argument("--days", type=int, default=3, help="days of sample deliveries (0: none)")
    policy = commands.add_parser(
        "iam-policy", help="print the least-privilege IAM policy JSON of the aws profile"
    )
    policy.add_argument(
        "--account-id", help="12-digit AWS account of the Glue, Secrets Manager and KMS ARNs"
    )
    query = commands.add_parser(
        "query", help="run SQL over the catalog (DuckDB locally, Athena on the aws profile)"
    )
    query.add_argument("sql", help='the query, e.g. "SELECT count(*) FROM crm.contacts"')
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.add_argument("--limit", type=int, default=1_000, help="rows printed at most")
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            sys.stdout.write(init_local(args.days) + "\n")
        elif args.command == "iam-policy":
            sys.stdout.write(iam_policy(args.account_id) + "\n")
        elif args.command == "query":
            result = run_query(load_config(), args.sql, limit=args.limit)
            sys.stdout.write(render(result, args.format))
    except (ConfigError, IamPolicyError, QueryError) as exc:
        sys.stderr.write(f"adlake: {exc}\n")
        return 2
    return 0
