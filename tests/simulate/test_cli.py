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


def _account_groups(out: Path) -> dict[str, int]:
    groups: dict[str, int] = {}
    for line in (out / "labels.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["entity"] == "account":
            groups[row["group"]] = groups.get(row["group"], 0) + 1
    return groups


def test_share_overrides_population_budget(tmp_path: Path) -> None:
    base = ["simulate", "--seed", "5", "--scale", "20000", "--days", "3", "--quiet"]
    pops = ["--population", "benign_en", "--population", "enterprise_gateway"]
    assert main([*base, "--out", str(tmp_path / "a"), *pops]) == 0
    assert main([*base, "--out", str(tmp_path / "b"), *pops, "--share", "enterprise_gateway=2"]) == 0
    a, b = _account_groups(tmp_path / "a"), _account_groups(tmp_path / "b")
    # default 0.42 : 0.09 -> 0.42 : 2 — many more gateways, fewer benign_en accounts, same total budget
    assert b["enterprise_gateway"] >= 3 * a["enterprise_gateway"]
    assert b["benign_en"] < a["benign_en"] / 2
    meta = json.loads((tmp_path / "b" / "simulation.json").read_text())
    assert meta["shares"] == {"enterprise_gateway": 2.0}
    assert "shares" not in json.loads((tmp_path / "a" / "simulation.json").read_text())


def test_share_rejects_bad_values(tmp_path: Path) -> None:
    base = ["simulate", "--out", str(tmp_path / "x"), "--scale", "2000", "--quiet"]
    assert main([*base, "--share", "enterprise_gateway"]) != 0
    assert main([*base, "--share", "nobody=1"]) != 0
    assert main([*base, "--share", "relay=0"]) != 0
    assert not (tmp_path / "x" / "labels.jsonl").exists()
