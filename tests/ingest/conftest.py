"""Helpers for ingest tests."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from stillwatch.config import Settings


def write_jsonl(path: Path, records: Iterable[Any], *, gz: bool = False) -> Path:
    """Write records (dicts, or raw bytes lines) as JSON Lines."""
    data = b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def stored(settings: Settings, table: str = "exchanges") -> list[dict[str, Any]]:
    """Rows of a store table, read straight from Parquet (independent of the engine layer)."""
    root = Path(settings.data_dir) / "tables" / table
    if not root.exists():
        return []
    pattern = str(root / ("**/*.parquet" if table == "exchanges" else "*.parquet"))
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    rel = con.sql(f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = {table == 'exchanges'})")
    cols = rel.columns
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A folder for input files."""
    d = tmp_path / "in"
    d.mkdir()
    return d
