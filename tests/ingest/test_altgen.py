"""The independent generator (benchmarks/altgen) writes provider-logs-v1 that ingests cleanly."""

from __future__ import annotations

import gzip
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stillwatch.config import Settings
from stillwatch.ingest.pipeline import ingest
from tests.ingest.conftest import stored
from tests.paths import SHARED_DATA as CORPORA

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPORA.exists(), reason="needs the shared text corpora"),
]


def _generate(out: Path) -> dict[str, int]:
    """Run the generator (a script folder, not a package) at a small scale into ``out``."""
    folder = ROOT / "benchmarks" / "altgen"
    spec = importlib.util.spec_from_file_location("altgen_main", folder / "__main__.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # puts its own folder on sys.path
    return mod.generate(out, seed=41, days=3, scale=0.03, data=CORPORA)  # type: ignore[no-any-return]


def test_altgen_ingests_without_quarantine(settings: Settings, tmp_path: Path) -> None:
    counts = _generate(tmp_path / "set")
    d = tmp_path / "set"
    summary = ingest(settings, [d / "accounts.jsonl", d / "enforcement.jsonl", d / "exchanges.jsonl.gz"])
    assert summary.quarantined == 0, summary.reasons()
    assert summary.loaded == counts["accounts"] + counts["exchanges"] + counts["enforcement"]
    # timestamps are written in the gateway's local offset (-07:00); the store holds the same instants
    with gzip.open(d / "exchanges.jsonl.gz", "rt", encoding="utf-8") as fh:
        first = json.loads(fh.readline())
    assert first["ts"].endswith("-07:00")
    rows = {r["request_id"]: r for r in stored(settings)}
    got = rows[first["request_id"]]["ts"]
    want = datetime.fromisoformat(first["ts"]).astimezone(UTC)
    assert got.astimezone(UTC) == want
