"""Run a Python batch function over an Arrow batch stream on every core, in order.

DuckDB hands the Python side one Arrow stream; a batch function (enrichment of exchanges or of
distinct texts) is pure Python and would use one core. :func:`map_stream` runs it in forked
worker processes instead, with at most ``2 * workers`` batches in flight (memory stays bounded)
and the results yielded in input order, so the output is the same as the serial loop's.

``fork`` is used so that the batch function — usually a closure over loaded indexes — needs no
pickling: it is placed in a module global before the workers start and they inherit it (and
whatever it has already loaded, copy-on-write). Only batches travel, as Arrow IPC buffers.
The pool is started before the stream's query runs, so no DuckDB query is in flight at the fork.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult

    from stillwatch.engine.base import BatchFn

_FN: BatchFn | None = None
_TASK: Callable[[int], Any] | None = None


def _apply(batch: pa.RecordBatch) -> pa.RecordBatch:
    if _FN is None:  # pragma: no cover - a worker always inherits the function
        raise RuntimeError("batch pool worker started without a batch function")
    return _FN(batch)


R = TypeVar("R")


def _run_chunk(chunk: list[int]) -> list[Any]:
    if _TASK is None:  # pragma: no cover - a worker always inherits the task
        raise RuntimeError("fork_map worker started without a task")
    return [_TASK(k) for k in chunk]


def fork_map(task: Callable[[int], R], n: int, workers: int) -> list[R]:
    """``[task(k) for k in range(n)]`` on ``workers`` forked processes, in order.

    The task is usually a closure over data already in memory (per-account arrays); the workers
    inherit it by ``fork`` and receive only index lists, and each result is pickled back. Items
    are dealt out round-robin in small chunks, so uneven items still spread over the workers.
    Call it between DuckDB queries, never during one.

    Args:
        task: Computes the result of item ``k``; must be deterministic (it runs in any worker).
        n: Number of items.
        workers: Worker processes (1: in this process).

    Returns:
        The results, item order.
    """
    if workers <= 1 or n < 2:
        return [task(k) for k in range(n)]
    global _TASK
    _TASK = task
    m = min(n, workers * 8)
    chunks = [list(range(j, n, m)) for j in range(m)]
    gc.freeze()
    try:
        pool = multiprocessing.get_context("fork").Pool(workers)
    finally:
        gc.unfreeze()
        _TASK = None
    try:
        parts = pool.map(_run_chunk, chunks, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
    out: list[Any] = [None] * n
    for chunk, part in zip(chunks, parts, strict=True):
        for k, value in zip(chunk, part, strict=True):
            out[k] = value
    return out


def resolve_workers(setting: int) -> int:
    """Worker processes for a ``map_workers`` setting (0 = one per core)."""
    return setting or os.cpu_count() or 1


class BatchPool:
    """Forked worker processes running one batch function; forks when constructed.

    Construct it while no DuckDB query is in flight (the workers never touch DuckDB, but a fork
    in the middle of a query copies half-done state). :meth:`map` may then run in another thread
    while this process goes on with other work.

    Args:
        fn: The batch function (inherited by the workers; never pickled).
        workers: Worker processes (>= 2).
    """

    def __init__(self, fn: BatchFn, workers: int) -> None:
        global _FN
        self.workers = workers
        self._closed = False
        _FN = fn
        ctx = multiprocessing.get_context("fork")
        # Objects that exist now are shared copy-on-write with the workers; frozen, the workers'
        # garbage collector never walks (and so never copies) them.
        gc.freeze()
        try:
            self._pool = ctx.Pool(workers)
        finally:
            gc.unfreeze()
            _FN = None  # the workers keep their copy; a later pool may carry another function

    def map(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``fn`` over every non-empty batch, at most ``2 * workers`` in flight, in input order.

        A worker's exception is raised here, in the caller.
        """
        pending: deque[AsyncResult[pa.RecordBatch]] = deque()
        for batch in batches:
            if not batch.num_rows:
                continue
            pending.append(self._pool.apply_async(_apply, (batch,)))
            if len(pending) >= 2 * self.workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        if not self._closed:
            self._closed = True
            self._pool.terminate()
            self._pool.join()


def map_stream(
    open_stream: Callable[[], Iterable[pa.RecordBatch]], fn: BatchFn, workers: int
) -> Iterator[pa.RecordBatch]:
    """``fn`` over every non-empty batch of the stream, results in input order.

    Runs in this process when ``workers`` is 1, otherwise in ``workers`` forked processes.

    Args:
        open_stream: Starts the stream (called once, after the pool exists).
        fn: The batch function.
        workers: Worker processes (>= 1).

    Yields:
        ``fn(batch)`` for each non-empty input batch, in order. A worker's exception is raised
        here, in the caller.
    """
    if workers <= 1:
        for batch in open_stream():
            if batch.num_rows:
                yield fn(batch)
        return
    pool = BatchPool(fn, workers)  # forks now: the stream's query has not started yet
    try:
        yield from pool.map(open_stream())
    finally:
        pool.close()
