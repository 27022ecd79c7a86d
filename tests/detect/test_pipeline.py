"""End to end on a tiny simulated store: detect writes findings-v1, respects ``until``, is stable,
and never emits a finding whose only evidence is language or declared country. DuckDB and Spark."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from stillwatch.config import Settings, load_settings
from stillwatch.detect.evidence import SOFT_FAMILIES
from stillwatch.detect.runner import run_detection
from stillwatch.engine import Engine, get_engine

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Simulate ~4,000 exchanges over 4 days, ingest and enrich them (DuckDB)."""
    from stillwatch.enrich.pipeline import enrich
    from stillwatch.ingest.pipeline import ingest
    from stillwatch.simulate import simulate

    base = tmp_path_factory.mktemp("detect_store")
    raw = base / "raw"
    settings = load_settings(data_dir=base / "store")
    simulate(raw, seed=3, scale=4000, days=4, restricted_regions=settings.restricted_regions)
    ingest(settings, [raw / "accounts.jsonl", raw / "enforcement.jsonl", raw / "exchanges.jsonl.gz"])
    with get_engine(settings, "duckdb") as eng:
        enrich(eng, settings)
    return settings


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def eng(request: pytest.FixtureRequest, store: Settings) -> Iterator[Engine]:
    e = get_engine(store, request.param)
    try:
        yield e
    finally:
        e.close()


def _span(eng: Engine) -> tuple[datetime, datetime]:
    t = eng.table("exchanges_enriched")
    row = eng.execute(t.aggregate(lo=t.ts.min(), hi=t.ts.max())).to_pylist()[0]
    return row["lo"].astimezone(UTC), row["hi"].astimezone(UTC)


def test_detect_writes_findings_and_respects_until(eng: Engine, store: Settings, tmp_path: Path) -> None:
    lo, _ = _span(eng)
    until = datetime(lo.year, lo.month, lo.day, tzinfo=UTC) + timedelta(days=2)
    out = tmp_path / "findings.jsonl"
    found = run_detection(eng, store, until, out=out, write=False)
    lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert len(lines) == len(found)
    ts = eng.table("exchanges_enriched")
    for f, line in zip(found, lines, strict=True):
        assert line["window"]["to"] == until.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert 0.0 <= line["score"] <= 1.0 and len(line["exchanges"]) <= 50
        assert any(e["family"] not in SOFT_FAMILIES for e in line["evidence"])
        if f.exchanges:
            sample = ts.filter(ts.request_id.isin(f.exchanges))
            latest = eng.execute(sample.ts.max()).column(0)[0].as_py()
            assert latest.astimezone(UTC) < until


def test_full_run_is_stable_and_writes_the_table(eng: Engine, store: Settings, tmp_path: Path) -> None:
    a = run_detection(eng, store, out=tmp_path / "a.jsonl", write=eng.name == "duckdb")
    b = run_detection(eng, store, out=tmp_path / "b.jsonl", write=False)
    assert [f.finding_id for f in a] == [f.finding_id for f in b]
    assert [round(f.score, 9) for f in a] == [round(f.score, 9) for f in b]
    if eng.name == "duckdb":
        table = eng.execute(eng.table("findings")).to_pylist()
        assert sorted(r["finding_id"] for r in table) == sorted(f.finding_id for f in a)
        assert (tmp_path / "a.jsonl").exists()


def test_cli_detect(store: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stillwatch.cli.main import main

    out = tmp_path / "cli.jsonl"
    assert main(["--data-dir", str(store.data_dir), "detect", "--out", str(out)]) == 0
    assert "findings" in capsys.readouterr().out and out.exists()
    assert main(["--data-dir", str(store.data_dir), "detect", "--until", "not-a-date"]) == 2


@pytest.mark.parametrize(("module", "name", "flag"), [
    ("stillwatch.detect.jailbreak_account", "run", "jailbreak"),
    ("stillwatch.link.pipeline", "link_accounts", "link"),
])  # fmt: skip
def test_a_failing_stage_stops_detection_instead_of_dropping_its_findings(
    store: Settings, monkeypatch: pytest.MonkeyPatch, module: str, name: str, flag: str
) -> None:
    import importlib

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"{name} broke")

    monkeypatch.setattr(importlib.import_module(module), name, broken)
    with get_engine(store, "duckdb") as e, pytest.raises(RuntimeError, match=f"{name} broke"):
        run_detection(e, store, write=False, **{flag: True})
