"""Engine contract shared by the DuckDB and Spark backends.

A store table is a directory of Parquet files under ``<data_dir>/tables/<name>/``, optionally
hive-partitioned (``day=YYYY-MM-DD``). Both engines read and write the same layout, so any stage
can run on either and the results can be compared.
"""

from __future__ import annotations

import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from stillwatch.exceptions import EngineError, NotFoundError, StoreError

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from stillwatch.config import Settings

#: Rows per Arrow batch handed to a Python batch function by default (a multiple of DuckDB's vector).
MAP_BATCH_ROWS = 32_768

#: A Python batch function: one Arrow record batch in, one out (same row count not required).
BatchFn = Callable[[pa.RecordBatch], pa.RecordBatch]


class PendingMap:
    """A :meth:`Engine.map_batches_background` in progress.

    Args:
        wait: Blocks until the rows are computed and returns the table over them.
        cancel: Stops the work if it is still running (idempotent).
    """

    def __init__(self, wait: Callable[[], ir.Table], cancel: Callable[[], None] | None = None) -> None:
        self._wait = wait
        self._cancel = cancel

    def result(self) -> ir.Table:
        """The mapped table (raises what the background work raised)."""
        return self._wait()

    def close(self) -> None:
        """Stop the background work if it still runs; always safe to call."""
        if self._cancel is not None:
            self._cancel()


class Engine(ABC):
    """A compute engine over the store's Parquet tables.

    Subclasses implement the abstract hooks only; the public methods add checks and context.

    Args:
        settings: Validated settings; ``settings.data_dir`` is the store.
    """

    name: str = "abstract"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tables_dir = Path(settings.data_dir) / "tables"

    # ----------------------------------------------------------------- hooks for subclasses
    @property
    @abstractmethod
    def con(self) -> Any:
        """The Ibis backend connection."""

    @abstractmethod
    def _read_parquet(self, path: Path, partitioned: bool) -> ir.Table:
        """Return an Ibis table over a Parquet directory."""

    @abstractmethod
    def _write_parquet(self, expr: ir.Table, path: Path, partition_by: list[str]) -> None:
        """Write the result of ``expr`` as Parquet under ``path`` (which does not exist yet)."""

    @abstractmethod
    def _map_batches(self, expr: ir.Table, fn: BatchFn, schema: pa.Schema, batch_rows: int, parallel: bool) -> ir.Table:
        """Apply a Python batch function to every Arrow batch of ``expr``."""

    def _materialize(self, expr: ir.Table) -> ir.Table:
        """Compute ``expr`` once and return a table over the result (default: no caching)."""
        return expr

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    # ----------------------------------------------------------------------- public methods
    def table_path(self, name: str) -> Path:
        """Directory of a store table."""
        if not name.replace("_", "").isalnum():
            raise StoreError(f"invalid table name {name!r}", hint="use letters, digits and underscores")
        return self.tables_dir / name

    def has_table(self, name: str) -> bool:
        """Whether a store table has at least one Parquet file."""
        path = self.table_path(name)
        return path.is_dir() and next(path.rglob("*.parquet"), None) is not None

    def table(self, name: str) -> ir.Table:
        """An Ibis table over the named store table.

        Raises:
            NotFoundError: The table has no data yet.
        """
        path = self.table_path(name)
        if not self.has_table(name):
            raise NotFoundError(f"table {name!r} has no data in {self.tables_dir}", hint="run ingest first")
        partitioned = any(p.is_dir() and "=" in p.name for p in path.iterdir())
        try:
            return self._read_parquet(path, partitioned)
        except Exception as exc:  # pragma: no cover - engine specific failures
            raise EngineError(f"{self.name}: cannot read table {name!r}: {exc}") from exc

    def execute(self, expr: ir.Table | ir.Column | ir.Scalar) -> pa.Table:
        """Run an expression and return the result as an Arrow table."""
        try:
            result = expr.to_pyarrow()
        except Exception as exc:
            raise EngineError(f"{self.name}: query failed: {exc}") from exc
        if isinstance(result, pa.Table):
            return result
        if isinstance(result, pa.ChunkedArray | pa.Array):
            return pa.table({"value": result})
        return pa.table({"value": [result.as_py() if hasattr(result, "as_py") else result]})

    def batches(self, expr: ir.Table, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Stream the result of ``expr`` as Arrow record batches."""
        reader = expr.to_pyarrow_batches(chunk_size=batch_rows)
        yield from reader

    def write_table(self, name: str, data: ir.Table | pa.Table, *, partition_by: list[str] | None = None) -> Path:
        """Replace a store table with ``data`` atomically (write aside, then swap directories).

        Args:
            name: Store table name.
            data: An Ibis expression or an Arrow table.
            partition_by: Hive partition columns (e.g. ``["day"]``).

        Returns:
            The table directory.
        """
        final = self.table_path(name)
        tmp = final.with_name(f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        try:
            if isinstance(data, pa.Table):
                _write_arrow(data, tmp, partition_by or [])
            else:
                self._write_parquet(data, tmp, partition_by or [])
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise EngineError(f"{self.name}: cannot write table {name!r}: {exc}") from exc
        old = final.with_name(f".{name}.{uuid.uuid4().hex[:8]}.old")
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    def write_partitions(self, name: str, data: ir.Table | pa.Table, *, partition_by: list[str]) -> Path:
        """Replace only the partitions present in ``data``; other partitions are kept.

        Writes aside first, then swaps each partition directory (used for incremental,
        day-partitioned outputs). Creates the table when it does not exist.

        Args:
            name: Store table name.
            data: An Ibis expression or an Arrow table.
            partition_by: Hive partition columns (at least one).

        Returns:
            The table directory.
        """
        if not partition_by:
            raise StoreError("write_partitions needs partition columns", hint="use write_table instead")
        final = self.table_path(name)
        if not final.exists():
            return self.write_table(name, data, partition_by=partition_by)
        staged = f"{name}__staged_{uuid.uuid4().hex[:8]}"
        staged_path = self.write_table(staged, data, partition_by=partition_by)
        try:
            depth = len(partition_by)
            for part in sorted(p for p in staged_path.glob("/".join(["*"] * depth)) if p.is_dir()):
                rel = part.relative_to(staged_path)
                target = final / rel
                old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    target.rename(old)
                part.rename(target)
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staged_path, ignore_errors=True)
        return final

    def materialize(self, expr: ir.Table) -> ir.Table:
        """Compute an expression once for reuse by several queries in this session
        (DuckDB: a temporary table; Spark: a cached DataFrame).

        Args:
            expr: Table expression reused by several downstream queries.

        Returns:
            A table over the computed rows, valid until the engine is closed.
        """
        try:
            return self._materialize(expr)
        except Exception as exc:
            raise EngineError(f"{self.name}: cannot materialize expression: {exc}") from exc

    def map_batches(
        self,
        expr: ir.Table,
        fn: BatchFn,
        schema: pa.Schema,
        *,
        batch_rows: int = MAP_BATCH_ROWS,
        parallel: bool = True,
    ) -> ir.Table:
        """Apply a Python function to Arrow batches of ``expr`` (DuckDB: Arrow stream; Spark:
        ``mapInArrow``). The same ``fn`` gives the same rows on both engines.

        Args:
            expr: Input table.
            fn: Batch function returning batches with exactly ``schema``.
            schema: Output schema.
            batch_rows: Rows per batch on DuckDB (smaller batches spread costly rows, such as
                distinct texts, over more workers); Spark batches by its own settings.
            parallel: On DuckDB, run ``fn`` on ``map_workers`` processes. Worth it when ``fn``
                does much work per byte (text analysis); a cheap function over wide rows is
                faster in process, because every batch would be copied to a worker and back.
        """
        return self._map_batches(expr, fn, schema, batch_rows, parallel)

    def map_batches_background(
        self, expr: ir.Table, fn: BatchFn, schema: pa.Schema, *, batch_rows: int = MAP_BATCH_ROWS
    ) -> PendingMap:
        """:meth:`map_batches` (parallel) started now and finished while the caller does other work.

        On DuckDB the input is computed first, then ``fn`` runs on the worker processes while
        the caller's own queries and batch functions run in this process, so both cores stay
        busy. Engines that map lazily (Spark) just return the lazy table. Call
        ``result()`` for the table and ``close()`` in a ``finally``.
        """
        table = self.map_batches(expr, fn, schema, batch_rows=batch_rows)
        return PendingMap(lambda: table)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_arrow(data: pa.Table, path: Path, partition_by: list[str]) -> None:
    """Write an Arrow table as (optionally hive-partitioned) Parquet, engine-independent."""
    import pyarrow.dataset as ds

    ds.write_dataset(
        data,
        str(path),
        format="parquet",
        partitioning=partition_by or None,
        partitioning_flavor="hive" if partition_by else None,
        basename_template="part-{i}.parquet",
    )


def get_engine(settings: Settings, name: str | None = None) -> Engine:
    """Create the engine named in settings (or ``name``).

    Raises:
        MissingExtraError: Spark was asked for but the ``spark`` extra is not installed.
    """
    which = name or settings.engine
    if which == "duckdb":
        from stillwatch.engine.duckdb import DuckDBEngine

        return DuckDBEngine(settings)
    if which == "spark":
        from stillwatch.engine.spark import SparkEngine

        return SparkEngine(settings)
    raise EngineError(f"unknown engine {which!r}", hint="use duckdb or spark")
