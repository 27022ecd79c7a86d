"""PySpark engine: local mode in tests, a cluster through ``settings.spark.master``.

Gotchas handled here (see research/stack-check.md): ``PYSPARK_PYTHON`` must be this interpreter
so workers have pyarrow; the warehouse and Derby directories go to a temporary folder so re-runs do
not fail with LOCATION_ALREADY_EXISTS; ``SPARK_LOCAL_IP`` defaults to loopback.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from stillwatch.engine.base import BatchFn, Engine
from stillwatch.exceptions import MissingExtraError

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from stillwatch.config import Settings

_SESSION: Any = None


def spark_session(settings: Settings) -> Any:
    """Return the process-wide SparkSession, creating it on first use."""
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on install
        raise MissingExtraError("the Spark engine needs pyspark", hint="pip install 'stillwatch[spark]'") from exc
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", settings.spark.local_ip)
    scratch = Path(tempfile.mkdtemp(prefix="stillwatch-spark-"))
    builder = (
        SparkSession.builder.master(settings.spark.master)
        .appName("stillwatch")
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={scratch / 'derby'}")
        .config("spark.driver.memory", settings.spark.driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(settings.spark.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.legacy.timeParserPolicy", "CORRECTED")
    )
    for key, value in settings.spark.extra_conf.items():
        builder = builder.config(key, value)
    _SESSION = builder.getOrCreate()
    _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


class SparkEngine(Engine):
    """Ibis on PySpark over the same Parquet layout as DuckDB."""

    name = "spark"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._con: Any = None

    @property
    def session(self) -> Any:
        """The SparkSession."""
        return spark_session(self.settings)

    @property
    def con(self) -> Any:
        if self._con is None:
            import ibis

            self._con = ibis.pyspark.connect(self.session)
        return self._con

    def _read_parquet(self, path: Path, partitioned: bool) -> ir.Table:
        df = self.session.read.option("mergeSchema", "true").parquet(str(path))
        name = f"sw_{path.name}_{uuid.uuid4().hex[:8]}"
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def _dataframe(self, expr: ir.Table) -> Any:
        hook = getattr(self.con, "_run_pre_execute_hooks", None)
        if hook is not None:  # registers memtables referenced by the expression
            hook(expr)
        return self.session.sql(str(self.con.compile(expr)))

    def _write_parquet(self, expr: ir.Table, path: Path, partition_by: list[str]) -> None:
        writer = self._dataframe(expr).write.mode("errorifexists")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.parquet(str(path))

    def _map_batches(self, expr: ir.Table, fn: BatchFn, schema: pa.Schema, batch_rows: int, parallel: bool) -> ir.Table:
        from pyspark.sql.pandas.types import from_arrow_schema

        spark_schema = from_arrow_schema(schema)

        def run(batches: Any) -> Any:
            for batch in batches:
                if batch.num_rows:
                    yield fn(batch)

        df = self._dataframe(expr).mapInArrow(run, spark_schema)
        name = f"sw_mapped_{uuid.uuid4().hex[:10]}"
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def _materialize(self, expr: ir.Table) -> ir.Table:
        df = self._dataframe(expr).cache()
        df.count()  # compute now, once
        name = f"sw_mat_{uuid.uuid4().hex[:10]}"
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def close(self) -> None:
        self._con = None  # the session is shared by the process; stopped at exit by Spark
