"""The Spark engine gives the DuckDB engine's clean zone and quarantine, row by row.

Every sample push dataset (POS CSV, CRM contacts, the ad server's bids, impressions and
clicks), and files written to hit each rule's edges, are cleaned by both engines from the
same deliveries; the published files are compared value by value, type by type, and the
quarantine rows reason by reason. Spark runs for real, in local mode (``local[2]``).
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from adlake import definitions as definitions_module
from adlake.config import AdlakeConfig, EngineConfig, load_config
from adlake.lake.storage import Lake
from adlake.sample_data import write_sample_landing
from adlake.sample_events import write_publisher_landing
from adlake.transform.clean import CleanInput, CleanOutcome, DatasetRef, clean_partitions
from adlake.transform.spark_clean import clean_partitions_spark
from adlake_tests.conftest import SAMPLE_DAYS
from adlake_tests.test_dagster_flow import RANGE, catalog_count, layer, materialize, metadata

SAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "adlake.yaml"
TODAY = date(2026, 3, 12)
KEYS = {"crm_hmac_key": b"a test key for loyalty ids"}
SAMPLES = [
    ("retail_partner", "pos_transactions"),
    ("crm", "contacts"),
    ("ad_server", "bids"),
    ("ad_server", "impressions"),
    ("ad_server", "clicks"),
]


def both_engines(spark, tmp_path: Path, source: str, dataset: str, files: list[Path]):
    """Clean the files with each engine into its own lake; the two lakes and outcomes."""
    spec = load_config(SAMPLE_CONFIG).sources[source].datasets[dataset]
    inputs = [
        CleanInput(f"d{n}", str(path), _date_in(path), path.name, _lines(path))
        for n, path in enumerate(sorted(files))
    ]
    newest = max(date.fromisoformat(item.dt) for item in inputs) + timedelta(days=1)
    days = [str(newest - timedelta(days=back)) for back in range(6)]
    ref = DatasetRef(source, dataset, spec)
    lakes, outcomes = [], []
    for name, run in (("duckdb", clean_partitions), ("spark", _spark_run(spark))):
        lake = Lake(tmp_path / name)
        outcomes.append(run(lake, ref, inputs, days, KEYS, EngineConfig()))
        lakes.append(lake)
    return lakes, outcomes


def _spark_run(spark):
    def run(lake, ref, inputs, days, keys, engine):
        return clean_partitions_spark(spark, lake, ref, inputs, days, keys, engine)

    return run


def _date_in(path: Path) -> str:
    return re.search(r"\d{4}-\d{2}-\d{2}", str(path)).group(0)


def _lines(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        return sum(1 for _ in handle)


def published(lake: Lake, zone: str, source: str, dataset: str) -> dict[str, tuple]:
    """Per partition: column types and rows in file order, of one zone's published files."""
    found = {}
    name = "data.parquet" if zone == "clean" else "rows.parquet"
    with duckdb.connect() as con:
        con.execute("SET TimeZone='UTC'")
        for path in sorted(
            Path(lake.local_path(f"{zone}/{source}/{dataset}")).glob(f"dt=*/{name}")
        ):
            relation = con.sql(f"SELECT * FROM read_parquet('{path}')")
            found[path.parent.name] = (
                list(zip(relation.columns, [str(t) for t in relation.types], strict=True)),
                relation.fetchall(),
            )
    return found


def assert_same(lakes: list[Lake], outcomes: list[CleanOutcome], source: str, dataset: str) -> int:
    """Both engines published the same clean and quarantine files; the rows compared."""
    duck, spark = outcomes
    # every figure but the file size, which differs with the writer
    figures = [[{**vars(p), "clean_bytes": None} for p in o.partitions] for o in outcomes]
    for want, have in zip(figures[0], figures[1], strict=True):
        assert {k: v for k, v in have.items() if v != want[k]} == {}, want["dt"]
    assert spark.warnings == duck.warnings and spark.file_problems == duck.file_problems
    compared = 0
    for zone in ("clean", "quarantine"):
        expected = published(lakes[0], zone, source, dataset)
        got = published(lakes[1], zone, source, dataset)
        assert sorted(got) == sorted(expected), zone
        for day, (types, rows) in expected.items():
            assert got[day][0] == types, (zone, day)
            for number, (want, have) in enumerate(zip(rows, got[day][1], strict=True)):
                assert have == want, (zone, day, number)
            compared += len(rows)
    return compared


@pytest.mark.parametrize(("source", "dataset"), SAMPLES)
def test_every_sample_dataset_is_cleaned_alike_by_both_engines(
    spark, tmp_path: Path, source: str, dataset: str
) -> None:
    root = tmp_path / "landing"
    write_sample_landing(root, TODAY, days=3, rows=300)
    write_publisher_landing(root, TODAY, days=1, auctions_per_hour=30)
    files = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and f"/{dataset}" in str(p)
        or (p.is_file() and dataset == "pos_transactions" and p.name.startswith("pos_"))
    ]
    files = [p for p in files if f"/{source}/" in str(p) or dataset == "pos_transactions"]
    assert files
    lakes, outcomes = both_engines(spark, tmp_path, source, dataset, files)
    rows = assert_same(lakes, outcomes, source, dataset)
    assert rows >= 5 and outcomes[0].total("rows_out") >= 5


def test_edge_values_of_each_rule_are_cleaned_alike_jsonl(spark, tmp_path: Path) -> None:
    day = "2026-03-11"
    folder = tmp_path / "in" / f"dt={day}"
    folder.mkdir(parents=True)
    contacts = [
        {
            "contact_id": "c1",
            "email": "  Ann@Example.COM ",
            "phone": "(415) 555-0100 ext. 7",
            "first_name": "Zoë",
            "last_name": "Cafe\u0301",
            "loyalty_id": "L-1",
            "address": {"zip": "94103-1234", "city": "SF", "country": "US"},
            "device": {"maid": "6D92078A-8246-4BA4-AE5B-76104861E7DC"},
            "opted_in": "yes",
            "updated_at": "2026-03-10T14:30:00Z",
            "birth_date": "1990-01-01",
        },
        {
            "contact_id": "c2",
            "email": "not an email",
            "phone": "+44 (0)20 7946 0958",
            "first_name": "ΟΔΥΣΣΕΥΣ",
            "opted_in": "t",
            "updated_at": "2026-03-10 14:30:00+02:00",
        },
        {"contact_id": "c3", "phone": "011 33 1 23 45 67 89", "opted_in": 1, "updated_at": "2026"},
        {"contact_id": "c4", "opted_in": "maybe", "updated_at": "14:30", "email": "x@y.z"},
        {"contact_id": None, "email": "nobody@example.com"},
        {"contact_id": "c1", "email": "ann@example.com", "updated_at": "2026-03-11 01:00"},
        {
            "contact_id": "c5",
            "zip": "1",
            "address": {"zip": "A1B 2C3"},
            "phone": "555-0100",
            "updated_at": "2026-03-10T14:30:00.1234567",
        },
    ]
    lines = [json.dumps(c, ensure_ascii=False) for c in contacts]
    lines[3:3] = ["", "{not json", "   "]
    (folder / "contacts_a.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "contacts_b.jsonl").write_text(
        json.dumps({"contact_id": "c2", "email": "b@b.co"}) + "\n"
    )
    lakes, outcomes = both_engines(spark, tmp_path, "crm", "contacts", list(folder.iterdir()))
    assert assert_same(lakes, outcomes, "crm", "contacts") >= 7
    assert outcomes[1].total("quarantined") >= 3 and outcomes[1].total("duplicates") == 2


def test_edge_values_of_each_rule_are_cleaned_alike_csv(spark, tmp_path: Path) -> None:
    header = "transaction_id,store_id,transaction_ts,amount,currency,email,phone,sku,quantity\n"
    rows = [
        "t1,s1,2026-03-10T10:00:00Z,12.345,USD,A@B.CO,415-555-0100,k1,1.5",
        "t2,s1,2026-03-10 10:00:00+02:00,1_000.5,USD,,,k2,0x10",
        "t3,s1,2026-03-10,abc,USD,x@y.co,,k3,2",
        "t4,s1,2026-03-01T00:00:00Z,1,USD,,,k4,1",
        "t5,s1,2026-03-10T10:00:00Z,1,USD,,,k5",
        "t6,s1,2026-03-10T10:00:00Z,1,USD,,,k6,1,extra",
        ",s1,2026-03-10T10:00:00Z,1,USD,,,k7,1",
        't8,"s, quoted",2026-03-11T23:00:00Z,-.5,EUR,"Q@Example.com","+1 415 555 0100",k8,+7',
        "t1,s1,2026-03-10T12:00:00Z,2,USD,,,k1,1e3",
        "t10,s1,2026-03-10T10:00:00Z,99999999999.99,USD,bad@x,12,k10,2147483648",
    ]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "pos_2026-03-11.csv").write_text(header + "\n".join(rows) + "\n")
    lakes, outcomes = both_engines(
        spark, tmp_path, "retail_partner", "pos_transactions", [folder / "pos_2026-03-11.csv"]
    )
    assert assert_same(lakes, outcomes, "retail_partner", "pos_transactions") >= 8
    assert outcomes[1].total("quarantined") >= 5


def spark_project(project: AdlakeConfig, engine: str, above_mb: int | None = None) -> None:
    """Declare the POS dataset's engine (and the profile's auto threshold) in adlake.yaml."""
    path = project.resolve("adlake.yaml")
    text = path.read_text().replace(
        "        format: csv\n", f"        format: csv\n        engine: {engine}\n", 1
    )
    if above_mb is not None:
        text = text.replace("  threads: 2\n", f"  threads: 2\n  spark_above_mb: {above_mb}\n", 1)
    path.write_text(text)


@pytest.mark.parametrize(
    ("engine", "above_mb", "used"), [("spark", None, "spark"), ("auto", 1, "duckdb")]
)
def test_a_dataset_declared_for_spark_is_cleaned_there_in_a_dagster_run(
    spark, project: AdlakeConfig, sample_landing: list[Path], engine, above_mb, used
) -> None:
    spark_project(project, engine, above_mb)
    defs = definitions_module.defs()
    key = dg.AssetKey(layer("clean").split("/"))
    (spec,) = defs.resolve_assets_def(key).specs
    assert ("spark" in spec.kinds) == (engine == "spark")
    instance = dg.DagsterInstance.ephemeral()
    for day in SAMPLE_DAYS:
        materialize(defs, [layer("raw")], instance, partition=day)
    result = materialize(defs, [layer("clean"), layer("catalog")], instance, partition_range=RANGE)
    clean = metadata(result, layer("clean"))
    assert {day: values["engine"] for day, values in clean.items()} == dict.fromkeys(clean, used)
    rows = clean[RANGE[0]]["rows_out"]  # a range run reports its totals on every partition
    assert rows > 0 and catalog_count(project) == rows


def test_the_pipes_job_cleans_a_range_as_the_asset_does(
    project: AdlakeConfig, sample_landing: list[Path], tmp_path: Path
) -> None:
    """The cluster job, launched through Dagster Pipes, gives the counts of an in-process run."""
    defs = definitions_module.defs()
    instance = dg.DagsterInstance.ephemeral()
    for day in SAMPLE_DAYS:
        materialize(defs, [layer("raw")], instance, partition=day)
    in_process = metadata(
        materialize(defs, [layer("clean")], instance, partition_range=RANGE), layer("clean")
    )
    days = sorted(in_process)

    @dg.asset(key=dg.AssetKey(["cluster_clean"]))
    def cluster_clean(context, pipes: dg.PipesSubprocessClient):  # noqa: ANN001
        extras = {"source": "retail_partner", "dataset": "pos_transactions", "targets": days}
        command = [sys.executable, "-m", "adlake.pipes.spark_clean_job"]
        return pipes.run(
            command=command, context=context, extras={**extras, "local": True}
        ).get_materialize_result()

    result = dg.materialize(
        [cluster_clean], resources={"pipes": dg.PipesSubprocessClient()}, instance=instance
    )
    (event,) = result.get_asset_materialization_events()
    reported = {k: v.value for k, v in event.materialization.metadata.items()}
    for name in ("rows_in", "rows_out", "duplicates", "quarantined"):
        assert reported[name] == in_process[days[0]][name], name
    assert reported["engine"] == "spark" and reported["partitions"] == len(days)


def test_a_quoted_line_break_stops_the_spark_engine_with_the_fix(spark, tmp_path: Path) -> None:
    header = "transaction_id,store_id,transaction_ts,amount,currency,email,phone,sku,quantity\n"
    body = 't1,"store\nwest",2026-03-10T10:00:00Z,1,USD,,,k1,1\n'
    path = tmp_path / "pos_2026-03-11.csv"
    path.write_text(header + body)
    spec = load_config(SAMPLE_CONFIG).sources["retail_partner"].datasets["pos_transactions"]
    item = CleanInput("d0", str(path), "2026-03-11", path.name, 3)
    ref = DatasetRef("retail_partner", "pos_transactions", spec)
    with pytest.raises(ValueError, match=r"pos_2026-03-11.csv line 2: .* set engine: duckdb"):
        clean_partitions_spark(
            spark, Lake(tmp_path / "lake"), ref, [item], ["2026-03-11"], {}, EngineConfig()
        )
    duck = clean_partitions(Lake(tmp_path / "d"), ref, [item], ["2026-03-10"], {}, EngineConfig())
    assert duck.total("rows_out") == 1
