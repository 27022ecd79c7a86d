"""The packed corpora are small and permissive only; --corpora reads the full set at run time."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from stillwatch.simulate import simulate
from stillwatch.simulate.corpora import LICENCES, PACKED_DIR, REQUIRED_POOLS, load_packed
from tests.paths import SHARED_DATA as DATA  # noqa: E402


def test_packed_copy_is_small_and_permissive() -> None:
    manifest = json.loads((PACKED_DIR / "MANIFEST.json").read_text())
    packed = PACKED_DIR / manifest["file"]
    assert packed.stat().st_size == manifest["bytes"] < 5_000_000
    names = {s["name"] for s in manifest["sources"]}
    non_commercial = {n for n, (_lic, nc) in LICENCES.items() if nc}
    assert names and not names & non_commercial
    assert all(s["licence"] for s in manifest["sources"])
    pools = load_packed()
    assert set(REQUIRED_POOLS) <= set(pools)
    assert manifest["pools"] == {k: len(v) for k, v in sorted(pools.items())}


def test_packed_copy_has_no_logiqa() -> None:
    with gzip.open(PACKED_DIR / "pools.json.gz", "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    logiqa = set()
    with gzip.open(DATA / "agieval" / "agieval_v1.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["subset"].startswith("logiqa") and row.get("passage"):
                logiqa.add(row["passage"].strip()[:80])  # the passage carries the content
    assert len(logiqa) > 1000
    packed = {p[:80] for p, _ in data["pools"]["bench_agieval"]}
    assert not any(any(q in p for q in logiqa if q) for p in packed)


def test_full_corpora_read_at_run_time(tmp_path: Path) -> None:
    out = tmp_path / "full"
    simulate(out, seed=5, scale=3000, corpora=DATA, populations=["distillation"])
    meta = json.loads((out / "simulation.json").read_text())
    assert "alpaca" in meta["corpora"] and "sharegpt-sample" in meta["corpora"]
    alpaca = set()
    with gzip.open(DATA / "alpaca" / "alpaca_data.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            alpaca.add(json.loads(line)["instruction"])
    hits = 0
    with gzip.open(out / "exchanges.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            msgs = json.loads(line)["request"]["messages"]
            text = msgs[-1]["content"] if isinstance(msgs[-1]["content"], str) else ""
            hits += text.split("\n\n")[0] in alpaca
    assert hits > 0
    assert not any(p.name.startswith("pools") for p in out.iterdir())  # nothing copied
