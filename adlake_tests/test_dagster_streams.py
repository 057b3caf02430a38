"""Stream sources as Dagster runs: the sensor, micro-batches, and exactly-once in clean."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from adlake.lake.storage import Lake
from adlake_tests.conftest import AwsTestAccount
from adlake_tests.pull_project import PullProject, write_project
from adlake_tests.test_streams import COLUMNS, Topic, event_day


@pytest.fixture
def project(
    aws: AwsTestAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, topic: Topic
) -> PullProject:
    source = {
        "kind": "kinesis",
        "region": aws.region,
        "endpoint_url": aws.endpoint_url,
        "interval_seconds": 30,
        "datasets": {
            "events": {
                "stream": topic.name,
                "columns": COLUMNS,
                "primary_key": ["event_id"],
                "partition": {"column": "event_time", "lateness_days": 1},
                "max_records_per_batch": 1_000,
            }
        },
    }
    (tmp_path / "project").mkdir()
    return write_project(tmp_path / "project", monkeypatch, {"adserver": source})


@pytest.fixture
def topic(aws: AwsTestAccount, tmp_path: Path) -> Topic:
    return Topic(aws, tmp_path)


def today() -> str:
    return datetime.now(tz=UTC).date().isoformat()


def materialize(project: PullProject, selection: list[str], partition: str, instance, **kw):  # noqa: ANN001, ANN003, ANN201
    defs = project.defs()
    return dg.materialize(
        list(defs.assets),
        selection=selection,
        resources=defs.resources,
        partition_key=partition,
        instance=instance,
        **kw,
    )


def test_the_sensor_starts_a_batch_only_when_records_wait_and_clean_has_each_event_once(
    project: PullProject, topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = project.defs()
    sensor = defs.resolve_sensor_def("stream_adserver__events_sensor")
    instance = dg.DagsterInstance.ephemeral()

    def tick() -> object:
        with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
            return sensor(context)

    assert isinstance(tick(), dg.SkipReason)
    sent = topic.put(1_500)
    request = tick()
    assert isinstance(request, dg.RunRequest) and request.partition_key == today()

    real = Lake.write_json

    def die_on_checkpoint(self, path, document):  # noqa: ANN001, ANN202
        if path.endswith("checkpoints.json"):
            raise OSError("killed before the checkpoint")
        return real(self, path, document)

    monkeypatch.setattr(Lake, "write_json", die_on_checkpoint)
    failed = materialize(project, ["raw/adserver/events"], today(), instance, raise_on_error=False)
    assert not failed.success
    monkeypatch.setattr(Lake, "write_json", real)
    for _ in range(2):
        materialize(project, ["raw/adserver/events"], today(), instance)
    assert isinstance(tick(), dg.SkipReason)
    materialize(project, ["clean/adserver/events"], event_day(), instance)
    catalog = project.config.resolve(project.config.catalog.duckdb_path)
    materialize(project, ["catalog/adserver/events"], event_day(), instance)
    with duckdb.connect(str(catalog)) as con:
        rows, events = con.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM adserver.events"
        ).fetchone()
    assert rows == events == len(sent)  # the replayed batch landed twice in raw, once in clean
