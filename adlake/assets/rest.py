"""Raw assets of declarative REST sources: one per resource, what changed since its cursor.

A REST pull has no past to backfill: it lands what changed since the resource's cursor, as
deliveries of the day it runs. So the raw asset is partitioned by day like the clean table it
feeds, and a run materializes today's partition (the schedule asks for it); asking for another
day fails with that explanation instead of pulling into the wrong day.
"""

import contextlib
from datetime import UTC

import dagster as dg

from adlake.assets.keys import dataset_key
from adlake.assets.partitions import daily_partitions, only_today
from adlake.config import AdlakeConfig
from adlake.config.rest import RestSourceConfig
from adlake.connectors.rest import RestClient
from adlake.resources.lake import LakeResource
from adlake.resources.secrets import SecretsResource
from adlake.saas import PullOutcome, pull_resource

NO_TYPE_CHANGES = "no_type_changes"


def build_rest_defs(config: AdlakeConfig) -> dg.Definitions:
    """The raw asset of every resource of every REST source, and each source's schedule."""
    assets: list[dg.AssetsDefinition] = []
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    for name, source in config.sources.items():
        if not isinstance(source, RestSourceConfig):
            continue
        keys = [dataset_key("raw", name, resource) for resource in source.resources]
        assets += [build_rest_asset(name, source, resource) for resource in source.resources]
        job = dg.define_asset_job(
            f"{name}_pull_job", selection=keys, description=f"Pull every resource of {name}."
        )
        jobs.append(job)
        if source.schedule is not None:
            schedules.append(build_rest_schedule(name, source, job))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules)


def build_rest_asset(name: str, source: RestSourceConfig, resource: str) -> dg.AssetsDefinition:
    """The raw asset of one resource: a run pulls it into today's partition."""
    key = dataset_key("raw", name, resource)
    spec = source.dataset_configs()[resource]
    config = source.resources[resource]
    parent = config.parent

    @dg.asset(
        key=key,
        group_name=name,
        kinds={"rest", "json"},
        partitions_def=daily_partitions(spec),
        pool=f"rest_{name}",
        deps=[dataset_key("raw", name, parent.resource)] if parent else None,
        description=f"{resource} records pulled from {source.base_url}{config.path}, page by "
        f"page, as delivered. {config.description}".strip(),
        metadata={
            "endpoint": f"{config.method} {source.base_url}{config.path}",
            "incremental": config.incremental.cursor_field if config.incremental else "none",
            "paginator": config.paginator.type,
        },
        check_specs=[
            dg.AssetCheckSpec(
                NO_TYPE_CHANGES,
                asset=key,
                description="No record field changed its JSON type since the last pull.",
            )
        ],
    )
    def _pull(
        context: dg.AssetExecutionContext, lake: LakeResource, secrets: SecretsResource
    ) -> dg.MaterializeResult:
        only_today(
            context,
            f"{name}/{resource} pulls what changed since its cursor and",
            "the schedule does); to pull everything again, delete the resource's cursor in "
            f"state/{name}/rest/{resource}/cursor.json first",
        )
        with contextlib.closing(RestClient(name, source, secrets.get)) as client:
            outcome = pull_resource(client, lake.lake(), name, source, resource, context.log.info)
        if outcome.declared_changes:
            changes = ", ".join(f"{k} ({v})" for k, v in outcome.declared_changes.items())
            raise dg.Failure(
                description=f"{name}/{resource}: declared field(s) changed type: {changes}. The "
                f"{outcome.records:,} record(s) of this pull are kept in raw and the cursor "
                "moved on; clean quarantines values that no longer cast. Fix: change the "
                "column's type in adlake.yaml if the API changed for good, then run clean again",
                metadata=_metadata(outcome),
            )
        return dg.MaterializeResult(
            metadata=_metadata(outcome),
            check_results=[
                dg.AssetCheckResult(
                    check_name=NO_TYPE_CHANGES,
                    passed=not outcome.type_changes,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "type_changes": ", ".join(
                            f"{k}: {v}" for k, v in outcome.type_changes.items()
                        )
                        or "none"
                    },
                )
            ],
        )

    return _pull


def build_rest_schedule(
    name: str, source: RestSourceConfig, job: "dg.UnresolvedAssetJobDefinition"
) -> dg.ScheduleDefinition:
    """The schedule of one REST source: every resource, into today's partition, on its cron."""
    assert source.schedule is not None

    @dg.schedule(
        name=f"{name}_pull_schedule",
        job=job,
        cron_schedule=source.schedule,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Pulls what changed in every resource of {name} ({source.schedule}, UTC).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        moment = context.scheduled_execution_time.astimezone(UTC)
        return dg.RunRequest(
            run_key=f"{name}:{moment.isoformat(timespec='minutes')}",
            partition_key=moment.date().isoformat(),
        )

    return _schedule


def _metadata(outcome: PullOutcome) -> dict[str, object]:
    return {
        "records": outcome.records,
        "pages": outcome.pages,
        "resumed_pages": outcome.resumed_pages,
        "restarted": outcome.restarted,
        "cursor_from": outcome.cursor_from or "none",
        "cursor_to": outcome.cursor_to or outcome.cursor_from or "none",
        "new_fields": ", ".join(outcome.new_fields) or "none",
        "type_changes": ", ".join(f"{k}: {v}" for k, v in outcome.type_changes.items()) or "none",
        "pull_id": outcome.pull_id,
        "deliveries": len(outcome.deliveries),
    }
