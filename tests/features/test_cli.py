"""`stillwatch enrich` and `stillwatch features` commands."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from stillwatch.cli.main import app
from stillwatch.config import Settings
from stillwatch.engine import get_engine
from stillwatch.enrich.sample import generate


def test_enrich_and_features_commands(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    with get_engine(Settings(data_dir=data_dir), "duckdb") as engine:
        engine.write_table("exchanges", generate(60, accounts=4, days=2), partition_by=["day"])
    runner = CliRunner()
    res = runner.invoke(app, ["--data-dir", str(data_dir), "enrich"])
    assert res.exit_code == 0, res.output
    assert "enriched 60 exchanges" in res.output
    res = runner.invoke(app, ["--data-dir", str(data_dir), "features", "--until", "2026-01-06T12:00Z"])
    assert res.exit_code == 0, res.output
    assert "4 accounts" in res.output
    res = runner.invoke(app, ["--data-dir", str(data_dir), "features", "--until", "yesterday"])
    assert res.exit_code != 0
