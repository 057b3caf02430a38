"""Configuration mistakes give a clear message: file, dotted key, value, allowed values, fix."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from adlake.config import ConfigError, load_config
from adlake_tests.conftest import REPO, SAMPLE_CONFIG, link_examples

POS = ("sources", "retail_partner", "datasets", "pos_transactions")
POS_KEY = "sources.retail_partner.datasets.pos_transactions"

ADS = ("sources", "amazon_ads")
ADS_REPORT = (*ADS, "reports", "sp_campaigns")
ADS_KEY = "sources.amazon_ads.reports.sp_campaigns"
ORDERS = ("sources", "seller", "reports", "orders")
ORDERS_KEY = "sources.seller.reports.orders"

Mutation = Callable[[dict[str, Any]], None]
SEGMENT = {"sql": "SELECT email FROM crm.contacts", "identifiers": {"email": "email"}}


def database(**table: Any) -> dict[str, Any]:
    """A PostgreSQL CDC source of one customers table, with ``table`` keys overriding."""
    return {
        "kind": "postgres",
        "connection": "crm_db_url",
        "mode": "cdc",
        "tables": {
            "customers": {
                "table": "public.customers",
                "primary_key": ["id"],
                "columns": {"id": {"type": "bigint"}, "created": {"type": "date"}},
                **table,
            }
        },
    }


DB_KEY = "sources.crm_db.tables.customers"


def sftp(remote: dict[str, Any] | None = None, **source: Any) -> dict[str, Any]:
    """An SFTP source of one orders dataset, with ``source`` and ``remote`` keys overriding."""
    return {
        "kind": "sftp",
        "host": "127.0.0.1",
        "username": "adlake",
        "private_key": "partner_sftp_key",
        "datasets": {
            "orders": {
                "format": "csv",
                "remote": {"path": "/outbound", **(remote or {})},
                "primary_key": ["id"],
                "columns": {"id": {"type": "string"}},
            }
        },
        **source,
    }


SFTP_KEY = "sources.partner.datasets.orders"


def _at(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for part in path:
        data = data[part]
    return data


def put(*path: str, value: Any) -> Mutation:
    """Set the key at ``path`` (created if missing) to ``value``."""
    return lambda data: _at(data, path[:-1]).__setitem__(path[-1], value)


def audience(segment: dict[str, Any]) -> Mutation:
    """Declare a Meta destination ``meta`` and the segment ``buyers``."""

    def mutate(data: dict[str, Any]) -> None:
        data["destinations"] = {
            "meta": {"kind": "meta", "ad_account_id": "act_1", "access_token": "meta_token"}
        }
        data["segments"] = {"buyers": segment}

    return mutate


def remove(*path: str) -> Mutation:
    """Delete the key at ``path``."""
    return lambda data: _at(data, path[:-1]).pop(path[-1])


def rename(*path: str, to: str) -> Mutation:
    """Rename the key at ``path``, keeping its value."""
    return lambda data: _at(data, path[:-1]).__setitem__(to, _at(data, path[:-1]).pop(path[-1]))


def both(*mutations: Mutation) -> Mutation:
    """Apply several mutations in order."""

    def apply(data: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(data)

    return apply


# (mutation of the sample adlake.yaml, dotted key the message names, other fragments it must hold)
MISTAKES: list[Any] = [
    pytest.param(
        put("sources", "retail_partner", "owners", value=["partnerships"]),
        "sources.retail_partner.owners[0]",
        ["'partnerships'", "not an owner", "team:<name>"],
        id="owner-not-email-or-team",
    ),
    pytest.param(
        put("sources", "retail_partner", "tags", value={"layer": "gold"}),
        "sources.retail_partner.tags.layer",
        ["a tag adlake or Dagster sets itself"],
        id="tag-adlake-sets",
    ),
    pytest.param(
        put("sources", "crm", "tags", value={"cost center": "42"}),
        "sources.crm.tags.cost center",
        ["not a tag name", "letters, digits"],
        id="tag-name-with-space",
    ),
    pytest.param(
        put("sources", "partner", value=sftp(password="partner_sftp_password")),
        "sources.partner.private_key",
        ["exactly one of 'password' and 'private_key'", "names of secrets"],
        id="sftp-two-credentials",
    ),
    pytest.param(
        audience({**SEGMENT, "exports": [{"destination": "metta"}]}),
        "segments.buyers.exports[0].destination",
        ["no destination 'metta'", "did you mean 'meta'", "declare it under `destinations:`"],
        id="export-to-unknown-destination",
    ),
    pytest.param(
        audience({**SEGMENT, "exports": [{"destination": "meta", "purpose": "ads"}]}),
        "segments.buyers.exports[0].purpose",
        ["purpose 'ads' has no consent column", "add consent: {ads: <boolean column>}"],
        id="export-purpose-without-consent",
    ),
    pytest.param(
        put(
            "destinations",
            value={"dsp": {"kind": "amazon_ads", "advertiser_id": "1", "connection_id": "c-1"}},
        ),
        "destinations.dsp.advertiser_id",
        ["exactly one of advertiser_id and connection_id", "/amc/audiences/connections"],
        id="amazon-audience-two-targets",
    ),
    pytest.param(
        audience({**SEGMENT, "identifiers": {"mail": "email"}}),
        "segments.buyers.identifiers.mail",
        ["'email'"],
        id="segment-unknown-identifier",
    ),
    pytest.param(
        put("sources", "partner", value=sftp(remote={"after": "move"})),
        f"{SFTP_KEY}.remote.move_to",
        ["after: move needs 'move_to'", "add move_to: <folder>"],
        id="sftp-move-without-target",
    ),
    pytest.param(
        put("sources", "partner", value={**sftp(), "kind": "sftpp"}),
        "sources.partner.kind",
        ["'sftpp'", "did you mean 'sftp'", "azure_blob"],
        id="file-source-kind-typo",
    ),
    pytest.param(
        put(
            "sources",
            "partner",
            value={
                **{k: v for k, v in sftp().items() if k not in ("host", "username", "private_key")},
                "kind": "azure_blob",
                "account_name": "partnerdata",
                "container": "exports",
            },
        ),
        "sources.partner.account_key",
        ["exactly one of 'account_key', 'connection_string' and 'sas_token'", "given: none"],
        id="azure-no-credential",
    ),
    pytest.param(
        put(*POS, "pgp", value={"passphrase": "pos_pgp_passphrase"}),
        f"{POS_KEY}.pgp.private_key",
        ["missing"],
        id="pgp-without-private-key",
    ),
    pytest.param(
        put("sources", "crm_db", value=database(primary_key=["customer_id"])),
        f"{DB_KEY}.primary_key",
        ["'customer_id'", "not a declared column", "declare 'customer_id' under columns"],
        id="db-primary-key-undeclared",
    ),
    pytest.param(
        put("sources", "crm_db", value=database(partition_column="id")),
        f"{DB_KEY}.partition_column",
        ["'id'", "must have type date or timestamp"],
        id="db-partition-column-not-a-date",
    ),
    pytest.param(
        put("sources", "crm_db", value=database(table=None, query="SELECT * FROM customers")),
        f"{DB_KEY}.query",
        ["change capture follows tables, not queries", "use mode: batch"],
        id="db-cdc-of-a-query",
    ),
    pytest.param(
        put("sources", "crm_db", value={**database(), "kind": "postgress"}),
        "sources.crm_db.kind",
        ["'postgress'", "did you mean 'postgres'", "mysql"],
        id="db-kind-typo",
    ),
    pytest.param(
        put(*ADS_REPORT, "columns", value=["date", "campaignId", "clikcs", "cost"]),
        f"{ADS_KEY}.columns",
        ["spCampaigns", "'clikcs'", "did you mean clicks"],
        id="ads-unknown-report-column",
    ),
    pytest.param(
        put(*ADS_REPORT, "report_type", value="spCampaign"),
        f"{ADS_KEY}.columns",
        ["spCampaign", "spCampaigns"],
        id="ads-unknown-report-type",
    ),
    pytest.param(
        put(*ADS_REPORT, "group_by", value=["campain"]),
        f"{ADS_KEY}.columns",
        ["campain", "campaign"],
        id="ads-unknown-group-by",
    ),
    pytest.param(
        put(*ADS_REPORT, "time_unit", value="SUMMARY"),
        f"{ADS_KEY}.time_unit",
        ["'SUMMARY'", "allowed: DAILY"],
        id="ads-summary-not-partitionable",
    ),
    pytest.param(
        put(*ADS, "profiles", value=["ACME-US"]),
        "sources.amazon_ads.profiles",
        ["'ACME-US'", "profile ids are numbers", "GET /v2/profiles"],
        id="ads-profile-not-an-id",
    ),
    pytest.param(
        put(*ADS, "kind", value="amazon_adds"),
        "sources.amazon_ads.kind",
        ["'amazon_adds'", "did you mean 'amazon_ads'", "push, amazon_ads, selling_partner"],
        id="source-kind-typo",
    ),
    pytest.param(
        put(*ADS, "schedule", "timezone", value="Pacific"),
        "sources.amazon_ads.schedule.timezone",
        ["'Pacific'", "IANA time zone", "America/Los_Angeles"],
        id="schedule-timezone-unknown",
    ),
    pytest.param(
        put("sources", "seller", "marketplaces", value=["ATVPDKIKX0DE"]),
        "sources.seller.marketplaces",
        ["'ATVPDKIKX0DE'", "did you mean 'ATVPDKIKX0DER'"],
        id="sp-marketplace-typo",
    ),
    pytest.param(
        put("sources", "seller", "marketplaces", value=["ATVPDKIKX0DER", "A1PA6795UKMFR9"]),
        "sources.seller.marketplaces",
        ["'A1PA6795UKMFR9'", "(DE) is served by the EU endpoint", "region: EU"],
        id="sp-marketplace-other-region",
    ),
    pytest.param(
        put(*ORDERS, "report_type", value="GET_SALES_AND_TRAFIC_REPORT"),
        f"{ORDERS_KEY}.report_type",
        ["unknown report type", "did you mean 'GET_SALES_AND_TRAFFIC_REPORT'"],
        id="sp-report-type-typo",
    ),
    pytest.param(
        put(*ORDERS, "partition_column", value="order_status"),
        f"{ORDERS_KEY}.partition_column",
        ["'order_status'", "date or timestamp", "last_updated_date"],
        id="sp-partition-column-not-a-date",
    ),
    pytest.param(
        put(*POS, "columns", "amount", "type", value="strng"),
        f"{POS_KEY}.columns.amount.type",
        ["'strng'", "did you mean 'string'", "allowed: string, integer, bigint", "timestamp_tz"],
        id="unknown-column-type",
    ),
    pytest.param(
        rename("sources", to="sourcse"),
        "sourcse",
        [
            "unknown key 'sourcse'",
            "did you mean 'sources'",
            "allowed here: profile, aws, notifications, lake",
        ],
        id="top-level-key-typo",
    ),
    pytest.param(
        rename(*POS, "columns", "amount", "type", to="typ"),
        f"{POS_KEY}.columns.amount.typ",
        ["unknown key 'typ'", "did you mean 'type'", "allowed here: type, source, precision"],
        id="column-key-typo",
    ),
    pytest.param(
        put(*POS, "columns", "email", "pii", "policy", value="md5"),
        f"{POS_KEY}.columns.email.pii.policy",
        ["'md5'", "allowed: sha256, hmac, drop"],
        id="pii-policy-md5",
    ),
    pytest.param(
        put(*POS, "columns", "email", "pii", "policy", value="hmac"),
        f"{POS_KEY}.columns.email.pii.secret",
        ["policy 'hmac' needs 'secret'", "add secret: <name>", "ADLAKE_SECRET_"],
        id="hmac-without-secret",
    ),
    pytest.param(
        put(*POS, "columns", "email", "pii", "secret", value="pos_key"),
        f"{POS_KEY}.columns.email.pii.secret",
        ["'pos_key'", "only used by policy 'hmac'", "remove 'secret', or set policy: hmac"],
        id="secret-on-sha256-policy",
    ),
    pytest.param(
        put(*POS, "primary_key", value=["transaction_idd"]),
        f"{POS_KEY}.primary_key",
        ["'transaction_idd'", "not a declared column", "did you mean 'transaction_id'"],
        id="primary-key-undeclared",
    ),
    pytest.param(
        put(*POS, "partition", "column", value="store_id"),
        f"{POS_KEY}.partition.column",
        ["'store_id'", "type 'string'", "date, timestamp or timestamp_tz", "(transaction_ts)"],
        id="partition-column-not-a-date",
    ),
    pytest.param(
        put(*POS, "partition", "column", value="ts"),
        f"{POS_KEY}.partition.column",
        ["'ts'", "not a declared column", "name one of the date columns (transaction_ts)"],
        id="partition-column-undeclared",
    ),
    pytest.param(
        put(*POS, "columns", "amount", "scale", value=14),
        f"{POS_KEY}.columns.amount.scale",
        ["value 14", "larger than precision 12", "scale to at most 12"],
        id="decimal-scale-above-precision",
    ),
    pytest.param(
        rename(*POS, to="POS-Transactions"),
        "sources.retail_partner.datasets.POS-Transactions",
        ["'POS-Transactions'", "lower-case letters, digits and underscores", "'pos_transactions'"],
        id="dataset-name-with-dash-and-capitals",
    ),
    pytest.param(
        put(*POS, "format", value="xml"),
        f"{POS_KEY}.format",
        ["'xml'", "allowed: csv, jsonl, parquet"],
        id="format-xml",
    ),
    pytest.param(
        remove(*POS, "format"),
        f"{POS_KEY}.format",
        ["required key is missing", "one of csv, jsonl, parquet", "add 'format:'"],
        id="format-missing",
    ),
    pytest.param(
        put(*POS, "landing", "date_from", value="header"),
        f"{POS_KEY}.landing.date_from",
        ["'header'", "allowed: folder, filename, arrival"],
        id="landing-date-from-header",
    ),
    pytest.param(
        put(*POS, "csv", "delimiter", value=";;"),
        f"{POS_KEY}.csv.delimiter",
        ["';;'", "at most 1 character", "a single character such as ','"],
        id="csv-delimiter-two-chars",
    ),
    pytest.param(
        put("engine", "memory_limit", value="2 bananas"),
        "engine.memory_limit",
        ["'2 bananas'", "not a size", "768MB or 2GB"],
        id="memory-limit-bananas",
    ),
    pytest.param(
        put("engine", "threads", value="two"),
        "engine.threads",
        ["'two'", "wrong type", "a whole number"],
        id="threads-not-a-number",
    ),
    pytest.param(
        put(*POS, "columns", "phone", "pii", "region", value="XX"),
        f"{POS_KEY}.columns.phone.pii.region",
        ["'XX'", "not a phone region", "such as US, GB, DE"],
        id="phone-region-unknown",
    ),
    pytest.param(
        put(*POS, "columns", "phone", "pii", "region", value="gb"),
        f"{POS_KEY}.columns.phone.pii.region",
        ["'gb'", "write it in capitals: GB"],
        id="phone-region-lower-case",
    ),
    pytest.param(
        put(*POS, "columns", "quantity", "pii", value={"policy": "sha256"}),
        f"{POS_KEY}.columns.quantity.pii.policy",
        ["'sha256'", "type 'integer'", "set type: string"],
        id="sha256-on-integer-column",
    ),
    pytest.param(
        put(*POS, "columns", "sku", "source", value="store_id"),
        f"{POS_KEY}.columns.sku.source",
        ["'store_id'", "'store_id' and 'sku' both read 'store_id'", "its own 'source'"],
        id="two-columns-read-one-field",
    ),
    pytest.param(
        put(*POS, "start_date", value="2026-02-30"),
        f"{POS_KEY}.start_date",
        ["'2026-02-30'", "not a date as YYYY-MM-DD", "2026-01-01"],
        id="start-date-not-a-day",
    ),
    pytest.param(
        put("sources", "retail_partner", "kind", value="pull"),
        "sources.retail_partner.kind",
        ["'pull'", "allowed: push"],
        id="source-kind-unknown",
    ),
]


def write_sample(tmp_path: Path, mutation: Mutation) -> Path:
    """The sample adlake.yaml with one mistake, written to a fresh folder."""
    data = copy.deepcopy(yaml.safe_load(SAMPLE_CONFIG.read_text()))
    mutation(data)
    file = tmp_path / "adlake.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    link_examples(tmp_path)
    return file


def config_error(file: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    return str(caught.value)


@pytest.mark.parametrize(("mutation", "key", "fragments"), MISTAKES)
def test_mistake_names_file_key_value_and_fix(
    tmp_path: Path, mutation: Mutation, key: str, fragments: list[str]
) -> None:
    file = write_sample(tmp_path, mutation)
    message = config_error(file)
    assert message.startswith(f"{file.resolve()}: "), message
    assert "problem(s) in the configuration" in message
    assert f"  - {key}: " in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert "Fix: " in message.split(f"  - {key}: ", 1)[1], message


# mistakes the YAML parser or the loader catches, before any model sees the data
RAW_MISTAKES: list[Any] = [
    pytest.param(
        "profile: local\nsources:\n  crm: [1, 2\n  other: 3\n",
        ["line 4, column 8", "invalid YAML", "Fix: correct the YAML syntax on that line"],
        id="yaml-syntax-error",
    ),
    pytest.param(
        "profile: local\nengine:\n  threads: 2\n  threads: 4\n",
        ["line 4", "key 'threads' appears twice (lines 3 and 4)", "Fix: keep one of the two"],
        id="yaml-duplicate-key",
    ),
    pytest.param(
        "- profile: local\n- sources: {}\n",
        ["top level is a list, not a mapping", "Fix: start the file with keys"],
        id="top-level-list",
    ),
]


@pytest.mark.parametrize(("text", "fragments"), RAW_MISTAKES)
def test_unparseable_file_names_line_and_fix(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    file = tmp_path / "adlake.yaml"
    file.write_text(text)
    message = config_error(file)
    assert message.startswith(str(file.resolve())), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_missing_file_mentions_adlake_config(tmp_path: Path) -> None:
    message = config_error(tmp_path / "nowhere" / "adlake.yaml")
    assert str(tmp_path / "nowhere" / "adlake.yaml") in message
    assert "not found" in message
    assert "ADLAKE_CONFIG" in message


def test_every_mistake_is_reported_at_once(tmp_path: Path) -> None:
    file = write_sample(
        tmp_path,
        both(
            put(*POS, "format", value="xml"),
            put("engine", "memory_limit", value="lots"),
        ),
    )
    message = config_error(file)
    assert "2 problem(s)" in message
    assert f"{POS_KEY}.format: value 'xml'" in message
    assert "engine.memory_limit: value 'lots'" in message


def test_a_secret_typed_into_the_file_is_not_echoed(tmp_path: Path) -> None:
    file = write_sample(tmp_path, put("secrets", "password", value="hunter2-do-not-show"))
    message = config_error(file)
    assert "secrets.password: unknown key 'password'" in message
    assert "hunter2" not in message


def test_sample_config_loads() -> None:
    config = load_config(SAMPLE_CONFIG)
    assert [(s, d) for s, d, _ in config.datasets()] == [
        ("retail_partner", "pos_transactions"),
        ("crm", "contacts"),
        ("ad_server", "bids"),
        ("ad_server", "impressions"),
        ("ad_server", "clicks"),
        ("amazon_ads", "sp_campaigns"),
        ("seller", "orders"),
        ("amc", "campaign_daily"),
        ("amc", "reach_weekly"),
        ("amc", "sponsored_ads_daily"),
        ("salesforce", "contacts"),
        ("hubspot", "contacts"),
        ("hubspot", "campaigns"),
        ("hubspot", "campaign_metrics"),
    ]
    assert config.resolve(config.lake.root) == REPO / ".adlake" / "lake"


def test_dagster_validate_shows_the_config_message(tmp_path: Path) -> None:
    file = write_sample(tmp_path, put(*POS, "columns", "amount", "type", value="strng"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "ADLAKE_CONFIG": str(file), "DAGSTER_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "adlake.definitions"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert str(file) in output
    assert f"{POS_KEY}.columns.amount.type: value 'strng'" in output
    assert "Fix: use one of those" in output
