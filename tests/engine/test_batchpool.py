"""The forked batch pool gives the serial loop's output, in order, and surfaces worker errors."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from stillwatch.config import Settings
from stillwatch.engine import get_engine
from stillwatch.engine.batchpool import fork_map, map_stream, resolve_workers


def _batches(n: int) -> list[pa.RecordBatch]:
    return [pa.record_batch({"x": list(range(i * 10, i * 10 + (i % 3) * 5))}) for i in range(n)]


def _double_with_pid(batch: pa.RecordBatch) -> pa.RecordBatch:
    x = batch.column("x")
    return pa.record_batch({"x": pa.compute.multiply(x, 2), "pid": [os.getpid()] * batch.num_rows})


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_same_rows_in_input_order(workers: int) -> None:
    out = list(map_stream(lambda: iter(_batches(12)), _double_with_pid, workers))
    got = [v for b in out for v in b.column("x").to_pylist()]
    want = [2 * v for b in _batches(12) for v in b.column("x").to_pylist()]
    assert got == want
    pids = {p for b in out for p in b.column("pid").to_pylist()}
    if workers == 1:
        assert pids == {os.getpid()}
    else:
        assert os.getpid() not in pids  # the work really ran in the forked workers


def _boom(batch: pa.RecordBatch) -> pa.RecordBatch:
    if 40 in batch.column("x").to_pylist():
        raise ValueError("bad batch 40")
    return batch


def test_worker_error_is_raised_in_caller() -> None:
    with pytest.raises(ValueError, match="bad batch 40"):
        list(map_stream(lambda: iter(_batches(8)), _boom, 2))


def test_resolve_workers() -> None:
    assert resolve_workers(3) == 3
    assert resolve_workers(0) == (os.cpu_count() or 1)


def test_duckdb_map_batches_same_on_one_and_two_workers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = pa.table({"x": list(range(100_000)), "day": ["2026-01-01"] * 100_000})
    schema = pa.schema([("x", pa.int64()), ("pid", pa.int64())])

    def fn(batch: pa.RecordBatch) -> pa.RecordBatch:
        return _double_with_pid(batch.select(["x"])).cast(schema)

    results = {}
    for workers in (1, 2):
        settings = Settings(data_dir=tmp_path / f"w{workers}", map_workers=workers)
        with get_engine(settings, "duckdb") as engine:
            engine.write_table("t", rows)
            mapped = engine.map_batches(engine.table("t").select("x"), fn, schema)
            out = engine.execute(mapped)
            results[workers] = out
    assert results[1].column("x").to_pylist() == results[2].column("x").to_pylist()
    assert set(results[2].column("pid").to_pylist()) - {os.getpid()}


@pytest.mark.parametrize("workers", [1, 2])
def test_background_map_equals_map_batches_while_the_connection_is_used(tmp_path, workers: int) -> None:  # type: ignore[no-untyped-def]
    rows = pa.table({"x": list(range(50_000))})
    schema = pa.schema([("x", pa.int64()), ("pid", pa.int64())])

    def fn(batch: pa.RecordBatch) -> pa.RecordBatch:
        return _double_with_pid(batch.select(["x"])).cast(schema)

    settings = Settings(data_dir=tmp_path, map_workers=workers)
    with get_engine(settings, "duckdb") as engine:
        engine.write_table("t", rows)
        expr = engine.table("t").select("x")
        pending = engine.map_batches_background(expr, fn, schema, batch_rows=4096)
        try:
            busy = engine.execute(engine.table("t").x.sum().name("s").as_table())  # the caller's own query
            got = engine.execute(pending.result().select("x").order_by("x")).column("x").to_pylist()
        finally:
            pending.close()
        pids = set(engine.execute(pending.result().select("pid")).column("pid").to_pylist())
    assert busy.column("s")[0].as_py() == sum(range(50_000))
    assert got == [2 * v for v in range(50_000)]
    assert (os.getpid() not in pids) if workers > 1 else (pids == {os.getpid()})


def test_background_map_error_is_raised_by_result_and_close_is_safe(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, map_workers=2)
    with get_engine(settings, "duckdb") as engine:
        engine.write_table("t", pa.table({"x": list(range(100))}))
        pending = engine.map_batches_background(engine.table("t"), _boom, pa.schema([("x", pa.int64())]), batch_rows=10)
        with pytest.raises(ValueError, match="bad batch 40"):
            pending.result()
        pending.close()
        pending.close()
        abandoned = engine.map_batches_background(engine.table("t"), _boom, pa.schema([("x", pa.int64())]))
        abandoned.close()  # never waited for: stops cleanly


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_fork_map_gives_the_serial_results_in_order(workers: int) -> None:
    data = [i * i for i in range(37)]  # inherited by the forked workers, never pickled
    got = fork_map(lambda k: (k, data[k], os.getpid()), len(data), workers)
    assert [(k, v) for k, v, _ in got] == list(enumerate(data))
    pids = {p for _, _, p in got}
    assert (os.getpid() not in pids) if workers > 1 else (pids == {os.getpid()})


def test_fork_map_raises_the_task_error() -> None:
    def task(k: int) -> int:
        if k == 5:
            raise ValueError("item 5")
        return k

    with pytest.raises(ValueError, match="item 5"):
        fork_map(task, 10, 2)
