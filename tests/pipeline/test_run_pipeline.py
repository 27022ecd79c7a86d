"""The main job end to end on a small simulated data set: every stage runs and hands on its tables."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest

from stillwatch.config import load_settings
from stillwatch.detect.findings import read_jsonl
from stillwatch.pipeline import run_pipeline
from stillwatch.simulate import simulate

pytestmark = pytest.mark.slow


def test_pipeline_writes_findings_and_clusters(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    settings = load_settings(data_dir=tmp_path / "store")
    simulate(raw, seed=3, scale=2000, start=date(2026, 2, 12), days=4, restricted_regions=settings.restricted_regions)
    stages: list[str] = []
    result = run_pipeline(settings, [raw], out_dir=tmp_path / "out", step=stages.append)
    assert stages == ["ingest", "enrich", "features", "link", "detect"]
    assert result.ingest is not None and result.ingest.loaded > 0 and result.ingest.quarantined == 0
    skipped = {Path(f.path).name for f in result.ingest.files if f.status == "skipped"}
    assert {"labels.jsonl", "simulation.json"} <= skipped
    findings = read_jsonl(tmp_path / "out" / "findings.jsonl")
    assert len(findings) == len(result.findings)
    assert all(0.0 <= f.score <= 1.0 and f.evidence and f.detector for f in findings)
    clusters = [orjson.loads(line) for line in (tmp_path / "out" / "clusters.jsonl").read_bytes().splitlines()]
    assert all({"cluster_id", "accounts", "links"} <= set(c) for c in clusters)
    # the store tables a console and the decision service read
    tables = {p.name for p in (tmp_path / "store" / "tables").iterdir()}
    assert {"exchanges", "exchanges_enriched", "account_day", "links", "clusters", "findings"} <= tables
