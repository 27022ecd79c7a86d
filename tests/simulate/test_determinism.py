"""Same seed and version give byte-identical files; another seed gives different files."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stillwatch.simulate import simulate
from stillwatch.simulate.writer import OUTPUT_FILES
from tests.simulate.conftest import SMALL


def _digests(path: Path) -> dict[str, str]:
    return {name: hashlib.sha256((path / name).read_bytes()).hexdigest() for name in OUTPUT_FILES}


def test_same_seed_is_byte_identical(sim_dir: Path, tmp_path: Path) -> None:
    # a fresh process with another hash seed: nothing may depend on hash() or memory addresses
    again = tmp_path / "again"
    code = f"from stillwatch.cli.main import main; raise SystemExit(main(['simulate', '--out', {str(again)!r}, "
    code += f"'--seed', '1', '--scale', '{SMALL}', '--quiet']))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
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
    assert names == sorted([*OUTPUT_FILES, "simulation.json", "models.json"])


@pytest.mark.parametrize("name", OUTPUT_FILES)
def test_every_file_is_non_empty(sim_dir: Path, name: str) -> None:
    assert (sim_dir / name).stat().st_size > 0


def test_worker_processes_do_not_change_the_output(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    simulate(one, seed=4, scale=3000, workers=1)
    simulate(two, seed=4, scale=3000, workers=2)
    assert _digests(one) == _digests(two)
