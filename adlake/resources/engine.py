"""The engine resource: which engine runs a clean transform, and its limits.

DuckDB runs in-process under a memory limit; Spark takes a dataset declared ``engine: spark``,
or one declared ``auto`` whose run reads more raw bytes than ``spark_above_mb``. Both compile
the same :class:`~adlake.transform.plan.CleanPlan` and publish alike, so a dataset can move
between them without a change to its clean zone.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from adlake.config import DatasetConfig, EngineConfig
from adlake.lake import Lake
from adlake.transform.clean import CleanInput, CleanOutcome, DatasetRef, clean_partitions


def choose_engine(spec: DatasetConfig, inputs: Sequence[CleanInput], above_mb: int | None) -> str:
    """``duckdb`` or ``spark`` for one clean run: the dataset's choice, or by raw input size."""
    if spec.engine != "auto":
        return spec.engine
    if above_mb is None:
        return "duckdb"
    size = sum(os.path.getsize(item.path) for item in inputs if os.path.exists(item.path))
    return "spark" if size > above_mb * 1_000_000 else "duckdb"


class DuckDBEngineResource(dg.ConfigurableResource):
    """Runs the clean transform on DuckDB in-process, or on Spark for the datasets that need it."""

    memory_limit: str = Field(default="768MB", description="DuckDB memory_limit for one run.")
    threads: int = Field(default=2, description="DuckDB worker threads; Spark local-mode cores.")
    spark_above_mb: int | None = Field(
        default=None, description="engine auto: Spark above this raw input size (MB)."
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict, description="Spark session settings; local mode without master."
    )
    _spark: Any = PrivateAttr(default=None)

    def clean(
        self,
        lake: Lake,
        ref: DatasetRef,
        inputs: Sequence[CleanInput],
        targets: Sequence[str],
        hmac_keys: Mapping[str, bytes],
    ) -> CleanOutcome:
        """Clean the target partitions from the given raw deliveries, on the chosen engine."""
        engine = choose_engine(ref.spec, inputs, self.spark_above_mb)
        if engine == "spark":
            from adlake.transform.spark_clean import clean_partitions_spark

            outcome = clean_partitions_spark(
                self.spark_session(), lake, ref, inputs, targets, hmac_keys, self.limits()
            )
        else:
            outcome = clean_partitions(lake, ref, inputs, targets, hmac_keys, self.limits())
        outcome.engine = engine
        return outcome

    def spark_session(self):
        """The Spark session, started on first use (dagster-pyspark's lazy resource)."""
        if self._spark is None:
            from adlake.resources.spark import local_spark_conf, spark_resource

            conf: dict[str, Any] = dict(self.spark_conf)
            if "spark.master" not in conf:
                scratch = tempfile.mkdtemp(prefix="adlake-spark-")
                conf = local_spark_conf(scratch, cores=self.threads, extra=conf)
            self._spark = spark_resource(conf)
        return self._spark.spark_session

    def limits(self) -> EngineConfig:
        """The memory and thread limits every DuckDB run of this resource works within."""
        return EngineConfig(memory_limit=self.memory_limit, threads=self.threads)
