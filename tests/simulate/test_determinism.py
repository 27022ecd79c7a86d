"""Same seed and version give byte-identical files; another seed gives different files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stillwatch.simulate import simulate
from stillwatch.simulate.writer import OUTPUT_FILES
from tests.simulate.conftest import SMALL


def _digests(path: Path) -> dict[str, str]:
    return {name: hashlib.sha256((path / name).read_bytes()).hexdigest() for name in OUTPUT_FILES}


def test_same_seed_is_byte_identical(sim_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    summary = simulate(again, seed=1, scale=SMALL)
    assert summary.exchanges > SMALL * 0.5
    assert _digests(again) == _digests(sim_dir)
    assert (again / "simulation.json").read_bytes() == (sim_dir / "simulation.json").read_bytes()


def test_other_seed_differs(sim_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    simulate(other, seed=2, scale=SMALL)
    first, second = _digests(sim_dir), _digests(other)
    for name in OUTPUT_FILES:
        assert first[name] != second[name], name


def test_no_partial_files_left(sim_dir: Path) -> None:
    names = sorted(p.name for p in sim_dir.iterdir())
    assert names == sorted([*OUTPUT_FILES, "simulation.json"])


@pytest.mark.parametrize("name", OUTPUT_FILES)
def test_every_file_is_non_empty(sim_dir: Path, name: str) -> None:
    assert (sim_dir / name).stat().st_size > 0
