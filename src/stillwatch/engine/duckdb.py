"""DuckDB engine: embedded, the default."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from stillwatch.engine.base import BatchFn, Engine
from stillwatch.engine.batchpool import map_stream, resolve_workers

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from stillwatch.config import Settings


class DuckDBEngine(Engine):
    """Ibis on an in-memory DuckDB connection reading the store's Parquet files."""

    name = "duckdb"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._con: Any = None
        self._scratch_dir: Path | None = None

    @property
    def con(self) -> Any:
        if self._con is None:
            import ibis

            kwargs: dict[str, Any] = {"memory_limit": self.settings.duckdb_memory_limit}
            if self.settings.duckdb_threads:
                kwargs["threads"] = self.settings.duckdb_threads
            self._con = ibis.duckdb.connect(**kwargs)
            self._con.raw_sql("SET TimeZone = 'UTC'")
        return self._con

    def _read_parquet(self, path: Path, partitioned: bool) -> ir.Table:
        pattern = str(path / "**" / "*.parquet") if partitioned else str(path / "*.parquet")
        return self.con.read_parquet(pattern, hive_partitioning=partitioned, union_by_name=True)

    def _write_parquet(self, expr: ir.Table, path: Path, partition_by: list[str]) -> None:
        hook = getattr(self.con, "_run_pre_execute_hooks", None)
        if hook is not None:  # registers memtables referenced by the expression
            hook(expr)
        sql = str(self.con.compile(expr))
        target = str(path).replace("'", "''")
        if partition_by:
            cols = ", ".join('"' + c.replace('"', '""') + '"' for c in partition_by)
            self.con.raw_sql(f"COPY ({sql}) TO '{target}' (FORMAT parquet, PARTITION_BY ({cols}))")
        else:
            path.mkdir(parents=True)
            self.con.raw_sql(f"COPY ({sql}) TO '{target}/part-0.parquet' (FORMAT parquet)")

    def _scratch(self) -> Path:
        """A scratch folder of this engine under the data dir (removed on close)."""
        if self._scratch_dir is None:
            root = Path(self.settings.data_dir) / "_scratch"
            try:
                root.mkdir(parents=True, exist_ok=True)
                self._scratch_dir = Path(tempfile.mkdtemp(prefix="duckdb-", dir=root))
            except OSError:  # a read-only store: the system temp folder
                self._scratch_dir = Path(tempfile.mkdtemp(prefix="stillwatch-duckdb-"))
        return self._scratch_dir

    def _map_batches(self, expr: ir.Table, fn: BatchFn, schema: pa.Schema, batch_rows: int, parallel: bool) -> ir.Table:
        """Stream batches through ``fn`` (on ``map_workers`` processes) into a scratch Parquet file.

        Memory stays a few batches deep; the rows come out in input order.
        """
        path = self._scratch() / f"mapped-{uuid.uuid4().hex[:10]}.parquet"
        workers = resolve_workers(self.settings.map_workers) if parallel else 1

        def stream() -> Any:
            return self.con.to_pyarrow_batches(expr, chunk_size=batch_rows)

        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for out in map_stream(stream, fn, workers):
                if out.num_rows:
                    writer.write_batch(out)
        return self.con.read_parquet(str(path))

    def _materialize(self, expr: ir.Table) -> ir.Table:
        hook = getattr(self.con, "_run_pre_execute_hooks", None)
        if hook is not None:
            hook(expr)
        return self.con.create_table(f"_mat_{uuid.uuid4().hex[:10]}", expr, temp=True)

    def close(self) -> None:
        if self._con is not None:
            self._con.disconnect()
            self._con = None
        if self._scratch_dir is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)
            self._scratch_dir = None
