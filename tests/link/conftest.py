"""Fixtures of the linking tests: one linked fixture world per module (linking takes seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.link.fixtures import World, build_world, write_world

from stillwatch.config import load_settings
from stillwatch.engine import get_engine


@pytest.fixture(scope="module")
def world_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, World, Path]]:
    """A DuckDB store holding the fixture world: ``(settings, engine, world, data_dir)``."""
    data_dir = tmp_path_factory.mktemp("linkworld") / "store"
    settings = load_settings(data_dir=data_dir)
    world = build_world()
    engine = get_engine(settings, "duckdb")
    write_world(engine, world)
    try:
        yield settings, engine, world, data_dir
    finally:
        engine.close()


@pytest.fixture(scope="module")
def linked(world_store: tuple[Any, Any, World, Path]) -> Any:
    """The fixture world linked once (tables written)."""
    from stillwatch.link import link_accounts

    settings, engine, _, _ = world_store
    return link_accounts(engine, settings)
