"""The CLI command writes every file and honours seed, scale, window and populations."""

from __future__ import annotations

import json
from pathlib import Path

from stillwatch.cli.main import main
from stillwatch.simulate.writer import OUTPUT_FILES


def test_cli_simulate(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    code = main(
        [
            "simulate",
            "--out",
            str(out),
            "--seed",
            "3",
            "--scale",
            "2000",
            "--start",
            "2026-02-23",
            "--days",
            "7",
            "--population",
            "benign_en",
            "--population",
            "relay",
            "--quiet",
        ]
    )
    assert code == 0
    for name in OUTPUT_FILES:
        assert (out / name).exists()
    meta = json.loads((out / "simulation.json").read_text())
    assert meta["seed"] == 3 and meta["start"] == "2026-02-23" and meta["days"] == 7
    assert set(meta["by_group"]) <= {"benign_en"} | {g for g in meta["by_group"] if g.startswith("relay_")}
    assert "CN" in meta["restricted_regions"]


def test_restricted_regions_come_from_settings(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STILLWATCH_RESTRICTED_REGIONS", "RU,IR")
    out = tmp_path / "ru"
    assert main(["simulate", "--out", str(out), "--scale", "3000", "--population", "subrouting", "--quiet"]) == 0
    meta = json.loads((out / "simulation.json").read_text())
    assert meta["restricted_regions"] == ["IR", "RU"]
    labels = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    shares = [r["restricted_share"] for r in labels if r["entity"] == "account" and r["label"] == "subrouting"]
    assert shares and max(shares) > 0
