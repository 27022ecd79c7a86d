"""Shared fixtures: settings in a temporary data dir, and one test body over several engines.

``engine`` is parametrised over DuckDB and Spark (marker ``spark``); run ``pytest -m "not spark"``
for a quick loop. One SparkSession is shared by the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stillwatch.config import Settings, load_settings
from stillwatch.engine import Engine, get_engine

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose data dir is a fresh temporary folder."""
    return load_settings(data_dir=tmp_path / "store")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Engine]:
    """The same test body on DuckDB and on PySpark local mode."""
    eng = get_engine(settings, request.param)
    try:
        yield eng
    finally:
        eng.close()
