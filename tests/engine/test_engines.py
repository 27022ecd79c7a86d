"""The engine contract holds on DuckDB and Spark alike."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from stillwatch.engine import Engine
from stillwatch.exceptions import EngineError, NotFoundError, StillwatchError

DATA = pa.table(
    {
        "account_id": ["a", "b", "a", "c", "a"],
        "n": [1, 2, 3, 4, 5],
        "day": pa.array([dt.date(2026, 2, 1), dt.date(2026, 2, 1), dt.date(2026, 2, 2), dt.date(2026, 2, 2),
                         dt.date(2026, 2, 2)], pa.date32()),
    }
)


def test_write_read_group_by(engine: Engine) -> None:
    engine.write_table("events", DATA, partition_by=["day"])
    t = engine.table("events")
    assert set(t.columns) == {"account_id", "n", "day"}
    out = engine.execute(t.group_by(["account_id", "day"]).aggregate(total=t.n.sum()).order_by(["account_id", "day"]))
    assert out.to_pylist() == [
        {"account_id": "a", "day": dt.date(2026, 2, 1), "total": 1},
        {"account_id": "a", "day": dt.date(2026, 2, 2), "total": 8},
        {"account_id": "b", "day": dt.date(2026, 2, 1), "total": 2},
        {"account_id": "c", "day": dt.date(2026, 2, 2), "total": 4},
    ]


def test_write_expression_and_replace(engine: Engine) -> None:
    engine.write_table("events", DATA, partition_by=["day"])
    t = engine.table("events")
    engine.write_table("per_account", t.group_by("account_id").aggregate(rows=t.count()))
    first = engine.execute(engine.table("per_account").order_by("account_id")).to_pylist()
    assert first == [{"account_id": "a", "rows": 3}, {"account_id": "b", "rows": 1}, {"account_id": "c", "rows": 1}]
    engine.write_table("per_account", pa.table({"account_id": ["z"], "rows": [9]}))
    assert engine.execute(engine.table("per_account")).to_pylist() == [{"account_id": "z", "rows": 9}]


def test_map_batches_same_rows(engine: Engine) -> None:
    engine.write_table("events", DATA)
    schema = pa.schema([("account_id", pa.string()), ("upper", pa.string())])

    def upper(batch: pa.RecordBatch) -> pa.RecordBatch:
        col = batch.column(0)
        return pa.record_batch([col, pc.utf8_upper(col)], schema=schema)

    out = engine.map_batches(engine.table("events").select("account_id"), upper, schema)
    rows = engine.execute(out.order_by("account_id")).to_pylist()
    assert [r["upper"] for r in rows] == ["A", "A", "A", "B", "C"]


def test_missing_table_is_clear(engine: Engine) -> None:
    with pytest.raises(NotFoundError, match="has no data"):
        engine.table("nothing_here")
    assert isinstance(NotFoundError("x"), LookupError)


def test_invalid_table_name(engine: Engine) -> None:
    with pytest.raises(StillwatchError):
        engine.table("../etc")
    assert issubclass(EngineError, RuntimeError)
