"""Shared fixtures: settings in a temporary data dir, and one test body over several engines.

``engine`` is parametrised over DuckDB and Spark (marker ``spark``); run ``pytest -m "not spark"``
for a quick loop. One SparkSession is shared by the whole run.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stillwatch.config import Settings, load_settings
from stillwatch.engine import Engine, get_engine

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]

#: The whole suite writes about 2.5 GB of stores, Spark scratch and browser profiles under the
#: temporary directory; below this it fails part-way with scattered fixture errors.
MIN_FREE_BYTES = 3 * 1024**3


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, with the reason, when the temporary directory's disk is nearly full."""
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < MIN_FREE_BYTES:
        raise pytest.UsageError(
            f"only {free / 1024**3:.1f} GB free under {tempfile.gettempdir()}; the test suite "
            f"needs about {MIN_FREE_BYTES / 1024**3:.0f} GB (free space, e.g. `uv cache prune`)"
        )


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
