"""AMC asset checks: is each tenant's copy of a workflow the one in its .sql file?

The raw asset of a workflow syncs it before executing; this check reads every tenant's remote
definition without changing anything, so drift (someone edited the workflow in AMC, or the
file changed since the last run) shows in the UI before the next execution.
"""

import contextlib

import dagster as dg

from adlake.assets.keys import dataset_key
from adlake.config import AdlakeConfig, AmcSourceConfig
from adlake.pulls.amc import AmcWorkflows
from adlake.resources.secrets import SecretsResource

IN_SYNC = "workflow_in_sync"


def build_amc_defs(config: AdlakeConfig) -> dg.Definitions:
    """The drift check of every workflow of every amc source."""
    return dg.Definitions(
        asset_checks=[
            build_drift_check(name, source, workflow)
            for name, source in config.sources.items()
            if isinstance(source, AmcSourceConfig)
            for workflow in source.workflows
        ]
    )


def build_drift_check(
    source_name: str, source: AmcSourceConfig, workflow: str
) -> dg.AssetChecksDefinition:
    """Compare the workflow file with each tenant's saved workflow (read only)."""
    spec = source.workflows[workflow]

    @dg.asset_check(
        asset=dataset_key("raw", source_name, workflow),
        name=IN_SYNC,
        description=f"Every tenant's AMC instance holds workflow {spec.workflow_id} as its file "
        "defines it (the next run creates or updates it when not).",
    )
    def _check(secrets: SecretsResource) -> dg.AssetCheckResult:
        states: dict[str, str] = {}
        with contextlib.closing(AmcWorkflows(source, workflow, secrets.get)) as api:
            for tenant in source.tenants:
                states[tenant] = api.drift_of(tenant)
        rows = "\n".join(f"| {tenant} | {state} |" for tenant, state in states.items())
        return dg.AssetCheckResult(
            passed=all(state == "in sync" for state in states.values()),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "tenants": dg.MetadataValue.md("| tenant | workflow |\n|---|---|\n" + rows),
                "out_of_sync": sum(state != "in sync" for state in states.values()),
            },
        )

    return _check
