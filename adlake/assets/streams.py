"""Raw assets of event streams, and the sensor that starts a micro-batch when records wait.

Each stream dataset is ``raw/<source>/<dataset>``, partitioned by day like the clean table it
feeds: a run lands one micro-batch into today's partition. The sensor checks, every
``interval_seconds``, whether a readable shard holds records after its checkpoint, and only
then asks for a run, so an idle stream makes no runs.
"""

import contextlib
from datetime import UTC, datetime

import dagster as dg

from adlake.assets.keys import dataset_key
from adlake.assets.partitions import daily_partitions, only_today
from adlake.config import AdlakeConfig
from adlake.config.streams import KinesisSourceConfig
from adlake.connectors.streams.kinesis import KinesisStream
from adlake.resources.lake import LakeResource
from adlake.streams import consume_batch, load_checkpoints, waiting


def build_stream_defs(config: AdlakeConfig) -> dg.Definitions:
    """The raw asset and the sensor of every dataset of every stream source."""
    assets, sensors = [], []
    for name, source in config.sources.items():
        if not isinstance(source, KinesisSourceConfig):
            continue
        for dataset in source.datasets:
            asset = build_stream_asset(name, source, dataset)
            assets.append(asset)
            sensors.append(build_stream_sensor(name, source, dataset, asset))
    return dg.Definitions(assets=assets, sensors=sensors)


def open_stream(source: KinesisSourceConfig, dataset: str) -> KinesisStream:
    """The Kinesis stream of one dataset."""
    spec = source.datasets[dataset]
    return KinesisStream(spec.stream, region=source.region, endpoint_url=source.endpoint_url)


def build_stream_asset(name: str, source: KinesisSourceConfig, dataset: str) -> dg.AssetsDefinition:
    """One dataset's raw asset: a run lands one micro-batch into today's partition."""
    spec = source.datasets[dataset]

    @dg.asset(
        key=dataset_key("raw", name, dataset),
        group_name=name,
        kinds={"kinesis", "json"},
        partitions_def=daily_partitions(spec),
        pool=f"stream_{name}_{dataset}",
        description=f"Events of Kinesis stream {spec.stream}, micro-batch by micro-batch, as "
        f"delivered (checkpointed per shard). {spec.description}".strip(),
        metadata={"stream": spec.stream, "region": source.region},
    )
    def _consume(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        only_today(context, f"{name}/{dataset} reads its stream and", "the sensor does")
        with contextlib.closing(open_stream(source, dataset)) as stream:
            outcome = consume_batch(stream, lake.lake(), name, dataset, spec, context.log.info)
        return dg.MaterializeResult(
            metadata={
                "records": outcome.records,
                "shards_read": len(outcome.shards_read),
                "shards_ended": ", ".join(outcome.shards_ended) or "none",
                "batch_id": outcome.batch_id,
                "delivery": outcome.delivery or "none (no new records)",
            }
        )

    return _consume


def build_stream_sensor(
    name: str, source: KinesisSourceConfig, dataset: str, asset: dg.AssetsDefinition
) -> dg.SensorDefinition:
    """Ask for a micro-batch of today when the stream holds records after the checkpoints."""

    @dg.sensor(
        name=f"stream_{name}__{dataset}_sensor",
        asset_selection=dg.AssetSelection.assets(asset),
        minimum_interval_seconds=source.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts a micro-batch of {name}/{dataset} when its stream has new records.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, lake: LakeResource
    ) -> dg.RunRequest | dg.SkipReason:
        checkpoints = load_checkpoints(lake.lake(), name, dataset)
        with contextlib.closing(open_stream(source, dataset)) as stream:
            if not waiting(stream, checkpoints):
                return dg.SkipReason(f"no record waits in {source.datasets[dataset].stream}")
        now = datetime.now(tz=UTC)
        return dg.RunRequest(
            run_key=f"{name}/{dataset}:{now.isoformat(timespec='seconds')}",
            partition_key=now.date().isoformat(),
        )

    return _sensor
