"""The same enrich + features code gives equal tables on DuckDB and Spark (local mode)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stillwatch.config import Settings
from stillwatch.engine import get_engine
from stillwatch.enrich.pipeline import enrich
from stillwatch.enrich.sample import generate
from stillwatch.features.pipeline import build_features
from stillwatch.features.registry import TABLE_KEYS

pytestmark = pytest.mark.spark


def _norm(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 9)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def _rows(engine: Any, table: str) -> list[dict[str, Any]]:
    keys = [k for k in TABLE_KEYS[table] if k != "part"]
    rows = []
    for row in engine.execute(engine.table(table)).to_pylist():
        row.pop("part", None)
        row = {k: _norm(v) for k, v in row.items()}
        row["day"] = str(row["day"]) if "day" in row else None
        rows.append(row)
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))


@pytest.fixture(scope="session")
def both_engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = generate(160, accounts=8, days=2, seed=11)
    engines = {}
    for name in ("duckdb", "spark"):
        # half the texts sampled out, so light rows and the deep-share estimates are compared too
        settings = Settings(data_dir=Path(tmp_path_factory.mktemp(name)), text_sample_rate=0.5)
        engine = get_engine(settings, name)
        engine.write_table("exchanges", data, partition_by=["day"])
        enrich(engine, settings)
        build_features(engine, settings, window_days=7)
        engines[name] = engine
    return engines


@pytest.mark.parametrize("table", list(TABLE_KEYS))
def test_tables_equal_on_duckdb_and_spark(both_engines: dict[str, Any], table: str) -> None:
    duck = _rows(both_engines["duckdb"], table)
    spark = _rows(both_engines["spark"], table)
    assert len(duck) == len(spark) > 0
    assert set(duck[0]) == set(spark[0])
    for d, s in zip(duck, spark, strict=True):
        assert d == s, {k: (d[k], s[k]) for k in d if d[k] != s[k]}
