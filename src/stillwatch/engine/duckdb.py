"""DuckDB engine: embedded, the default."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from stillwatch.engine.base import MAP_BATCH_ROWS, BatchFn, Engine, PendingMap
from stillwatch.engine.batchpool import BatchPool, map_stream, resolve_workers

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
        sql = self._sql(expr)
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

    def map_batches_background(
        self, expr: ir.Table, fn: BatchFn, schema: pa.Schema, *, batch_rows: int = MAP_BATCH_ROWS
    ) -> PendingMap:
        """The input is copied to a scratch file now; a thread feeds it to forked workers (the
        thread never touches DuckDB, so this connection stays free for the caller)."""
        scratch = self._scratch()
        source = scratch / f"input-{uuid.uuid4().hex[:10]}.parquet"
        target = scratch / f"mapped-{uuid.uuid4().hex[:10]}.parquet"
        self._write_parquet_file(expr, source)
        workers = resolve_workers(self.settings.map_workers)
        pool = BatchPool(fn, workers) if workers > 1 else None  # forks now, between queries
        failure: list[BaseException] = []
        stop = threading.Event()

        def run() -> None:
            try:
                every = pq.ParquetFile(source).iter_batches(batch_size=batch_rows)
                batches = itertools.takewhile(lambda _: not stop.is_set(), every)
                mapped = pool.map(batches) if pool is not None else (fn(b) for b in batches if b.num_rows)
                with pq.ParquetWriter(target, schema, compression="zstd") as writer:
                    for out in mapped:
                        if out.num_rows:
                            writer.write_batch(out)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
                failure.append(exc)

        thread = threading.Thread(target=run, name="stillwatch-map", daemon=True)
        thread.start()

        def cancel() -> None:
            stop.set()  # no new batches; the few in flight finish
            thread.join(timeout=300)
            if pool is not None:
                pool.close()

        def wait() -> ir.Table:
            thread.join()
            if pool is not None:
                pool.close()
            if failure:
                raise failure[0]
            return self.con.read_parquet(str(target))

        return PendingMap(wait, cancel)

    def _write_parquet_file(self, expr: ir.Table, path: Path) -> None:
        target = str(path).replace("'", "''")
        self.con.raw_sql(f"COPY ({self._sql(expr)}) TO '{target}' (FORMAT parquet)")

    def _sql(self, expr: ir.Table) -> str:
        """The expression as DuckDB SQL (in-memory tables it references registered first)."""
        hook = getattr(self.con, "_run_pre_execute_hooks", None)
        if hook is not None:
            hook(expr)
        return str(self.con.compile(expr))

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
