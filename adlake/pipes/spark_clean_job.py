"""The Spark clean transform as a job a cluster runs, reporting back to Dagster through Pipes.

EMR Serverless, Glue or ``spark-submit`` run this module's :func:`main` (docs/spark.md has the
configuration): it reads the source, dataset and partitions from the Pipes context, finds the
raw deliveries in the lake of the profile (S3 on aws), cleans them with
:func:`~adlake.transform.spark_clean.clean_partitions_spark` on the cluster's session, and
reports the materialization with the same counts the in-process engines report. Locally,
``python -m adlake.pipes.spark_clean_job`` under ``PipesSubprocessClient`` runs the same code on
a local-mode session (``adlake_tests/test_spark_engine.py`` does).
"""

from __future__ import annotations

import tempfile


def main() -> None:
    """Clean the partitions that the launching Dagster run asked for, on Spark."""
    from dagster_pipes import open_dagster_pipes
    from pyspark.sql import SparkSession

    from adlake.assets.clean import delivery_dates
    from adlake.config import load_config
    from adlake.lake.deliveries import DeliveryLedger, current_deliveries
    from adlake.resources.profile import build_resources
    from adlake.resources.spark import local_spark_conf, spark_resource
    from adlake.transform.clean import CleanInput, DatasetRef
    from adlake.transform.spark_clean import clean_partitions_spark

    with open_dagster_pipes() as pipes:
        source, dataset = pipes.get_extra("source"), pipes.get_extra("dataset")
        targets = sorted(pipes.get_extra("targets"))
        config = load_config(pipes.get_extra("config") if "config" in pipes.extras else None)
        spec = {(s, d): spec for s, d, spec in config.datasets()}[(source, dataset)]
        resources = build_resources(config)
        store = resources["lake"].lake()
        hmac = sorted({c.pii.secret for c in spec.columns.values() if c.pii and c.pii.secret})
        keys = {name: resources["secrets"].get_bytes(name) for name in hmac}
        recorded = DeliveryLedger(store, source, dataset).for_dates(
            delivery_dates(targets, spec.partition.lateness_days)
        )
        deliveries = current_deliveries(recorded)
        if pipes.extras.get("local"):
            conf = local_spark_conf(tempfile.mkdtemp(prefix="adlake-spark-"), config.engine.threads)
            spark = spark_resource(conf).spark_session
        else:
            spark = SparkSession.builder.appName(f"adlake clean {source}/{dataset}").getOrCreate()
        pipes.log.info(f"cleaning {len(targets)} partition(s) from {len(deliveries)} deliveries")
        with store.scratch() as downloads:
            inputs = [
                CleanInput(
                    d.delivery_id, store.localize(d.raw_path, downloads), d.dt, d.origin, d.lines
                )
                for d in deliveries
            ]
            outcome = clean_partitions_spark(
                spark,
                store,
                DatasetRef(source, dataset, spec),
                inputs,
                targets,
                keys,
                config.engine,
            )
        for problem in outcome.file_problems:
            pipes.log.error(problem)
        pipes.report_asset_materialization(
            metadata={
                name: outcome.total(name)
                for name in ("rows_in", "rows_out", "duplicates", "quarantined")
            }
            | {"engine": "spark", "partitions": len(outcome.partitions)}
        )


if __name__ == "__main__":
    main()
