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
