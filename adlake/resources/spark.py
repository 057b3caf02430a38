"""The Spark session of the clean engine: dagster-pyspark's lazy resource, set up for adlake.

The session starts on the first clean run that needs Spark, not when a run starts, so a run
cleaned on DuckDB never pays the JVM's start. Local mode (``local[N]``) serves tests and
laptops; a cluster is reached by ``spark.master`` and the rest of ``spark_conf``, or by
submitting :mod:`adlake.pipes.spark_clean_job` through Dagster Pipes (docs/spark.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from dagster_pyspark import LazyPySparkResource

from adlake.transform.spark_clean import SPARK_SESSION_CONF


def local_spark_conf(local_dir: str, cores: int = 2, extra: Mapping[str, Any] | None = None):
    """Spark settings of a local-mode session: no UI, loopback only, scratch in ``local_dir``."""
    return {
        "spark.master": f"local[{cores}]",
        "spark.app.name": "adlake",
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.local.dir": local_dir,
        "spark.sql.shuffle.partitions": str(max(2, cores * 2)),
        **SPARK_SESSION_CONF,
        **(extra or {}),
    }


class SparkResource(LazyPySparkResource):
    """dagster-pyspark's lazy session, whose Python workers run adlake's own interpreter."""

    def _init_session(self) -> None:
        # PySpark starts UDF workers with PYSPARK_PYTHON (python3 otherwise), which may lack
        # adlake's libraries; a value the user set wins
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        super()._init_session()


def spark_resource(conf: Mapping[str, Any]) -> SparkResource:
    """The lazy Spark session resource with these settings."""
    return SparkResource(spark_config=dict(conf))
