"""Shared simulated data sets for the simulator tests (tiny scales, generated once per session)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stillwatch.simulate import simulate

SMALL = 8000


@dataclass
class SimData:
    """One simulated output folder, parsed."""

    path: Path
    exchanges: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    enforcement: list[dict[str, Any]]
    reports: list[dict[str, Any]]
    labels: list[dict[str, Any]]
    meta: dict[str, Any]

    def account_labels(self) -> dict[str, dict[str, Any]]:
        """Account id -> its label row."""
        return {r["id"]: r for r in self.labels if r["entity"] == "account"}

    def by_group(self, *groups: str) -> list[dict[str, Any]]:
        """Exchanges whose account belongs to one of ``groups`` (prefix match)."""
        acc = self.account_labels()
        return [e for e in self.exchanges if acc[e["account_id"]]["group"].startswith(groups)]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        return [json.loads(line) for line in fh]


def load(path: Path) -> SimData:
    """Parse every output file of a simulation."""
    return SimData(
        path=path,
        exchanges=_jsonl(path / "exchanges.jsonl.gz"),
        accounts=_jsonl(path / "accounts.jsonl"),
        enforcement=_jsonl(path / "enforcement.jsonl"),
        reports=_jsonl(path / "reports.jsonl"),
        labels=_jsonl(path / "labels.jsonl"),
        meta=json.loads((path / "simulation.json").read_text()),
    )


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulation with the tuning seed."""
    out = tmp_path_factory.mktemp("sim_seed1")
    simulate(out, seed=1, scale=SMALL)
    return out


@pytest.fixture(scope="session")
def sim(sim_dir: Path) -> SimData:
    """The parsed small simulation."""
    return load(sim_dir)
