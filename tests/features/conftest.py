"""Fixtures: a small enriched store on DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stillwatch.config import Settings
from stillwatch.engine import Engine, get_engine


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "store")


@pytest.fixture
def duck(settings: Settings) -> Iterator[Engine]:
    engine = get_engine(settings, "duckdb")
    yield engine
    engine.close()
