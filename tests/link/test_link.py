"""Linking on the fixture world: clusters, purity, ban evasion, bad input, stable ids, tables, CLI."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.link.fixtures import T0, World, build_world, write_world

from stillwatch.link import ban_evasion_findings, cluster_findings, clusters_jsonl, link_accounts


def _best_share(result: Any, accounts: list[str]) -> float:
    members = {a: c for c, ms in result.clusters_members().items() for a in ms}
    best = Counter(members.get(a) for a in accounts if a in members).most_common(1)
    return best[0][1] / len(accounts) if best else 0.0


def test_hydra_lands_in_one_pure_cluster(linked: Any, world_store: tuple[Any, Any, World, Path]) -> None:
    world = world_store[2]
    assert _best_share(linked, world.hydra) >= 0.9
    cid = linked.cluster_of(world.hydra[0])
    members = set(linked.clusters_members()[cid])
    assert members <= set(world.hydra), "no benign account may join the hydra cluster"


def test_public_prompt_and_cloud_nat_do_not_link_benign(linked: Any, world_store: tuple[Any, Any, World, Path]) -> None:
    world = world_store[2]
    benign = set(world.benign) | {world.huge}
    clustered = {a for ms in linked.clusters_members().values() for a in ms}
    assert not (clustered & benign), "shared persona prompt / cloud NAT / popular SDK alone must not cluster"
    edges = linked.edges
    assert not ((edges["a"].isin(benign)) & (edges["b"].isin(benign))).any()


def test_placeholders_never_link(linked: Any, world_store: tuple[Any, Any, World, Path]) -> None:
    world = world_store[2]
    ph = set(world.placeholder)
    assert not (linked.edges["a"].isin(ph) | linked.edges["b"].isin(ph)).any()
    assert linked.clean_report.placeholders["payment_fingerprint"] == len(ph)


def test_ban_evaders_found_with_evidence(linked: Any, world_store: tuple[Any, Any, World, Path]) -> None:
    world = world_store[2]
    found = {f["entity_id"]: f for f in ban_evasion_findings(linked)}
    for new, old in world.evaders.items():
        assert new in found, f"{new} should be linked to enforced {old}"
        f = found[new]
        assert f["kind"] == "ban_evasion" and f["entity"] == "account"
        assert old in f["accounts"]
        assert any(e["value"] == old for e in f["evidence"])
        first = linked.activity.accounts.set_index("account_id").loc[new, "first_ts"]
        assert pd.Timestamp(f["first_flagged_at"]) <= pd.Timestamp(first) + pd.Timedelta(days=1)
        assert 0 <= f["score"] <= 1
    assert not set(found) & set(world.benign)


def test_weak_links_never_make_benign_ban_evaders(linked: Any, world_store: tuple[Any, Any, World, Path]) -> None:
    """New customers who share only a public cloud NAT, the popular SDK, a persona prompt, a
    free-mail domain and placeholder organisation names with a banned account are not evaders."""
    world = world_store[2]
    assert world.late_benign
    found = {f["entity_id"] for f in ban_evasion_findings(linked)}
    assert not found & set(world.late_benign)
    weak = linked.weak_links
    late = set(world.late_benign)
    assert not (
        (weak["a"].isin(late) & (weak["b"] == "acct_e_old3")) | (weak["b"].isin(late) & (weak["a"] == "acct_e_old3"))
    ).any()
    # they signed up within hours from the same cloud NAT address, so they may cluster among
    # themselves (a benign cluster); never with the banned account or any abuse account
    for ms in linked.clusters_members().values():
        if set(ms) & late:
            assert set(ms) <= late, ms


def test_cluster_findings_and_campaign(linked: Any, world_store: tuple[Any, Any, World, Path], tmp_path: Path) -> None:
    world = world_store[2]
    findings = cluster_findings(linked)
    hydra = [f for f in findings if set(f["accounts"]) & set(world.hydra)]
    assert hydra and hydra[0]["kind"] == "distillation" and hydra[0]["entity"] == "cluster"
    est = hydra[0]["estimate"]
    assert est["accounts"] >= 0.9 * len(world.hydra) and est["exchanges"] > 0 and est["span_days"] > 4
    camp = linked.campaigns[hydra[0]["entity_id"]]
    assert camp["cot_share"] > 0.9 and camp["capabilities"]["math"] > 0.9
    assert camp["egress_asns"] == {"Vultr": 1.0}
    path = tmp_path / "clusters.jsonl"
    n = clusters_jsonl(linked, path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == n and {"cluster_id", "accounts", "links", "campaign"} <= set(rows[0])
    assert all({"a", "b", "reason", "weight"} <= set(link) for row in rows for link in row["links"])


def test_tables_written_and_ids_stable(linked: Any, world_store: tuple[Any, Any, World, Path]) -> None:
    settings, engine, world, _ = world_store
    links = engine.execute(engine.table("links")).to_pandas()
    clusters = engine.execute(engine.table("clusters")).to_pandas()
    assert len(links) == len(linked.edges) and {"a", "b", "weight", "reasons", "cluster_id"} <= set(links.columns)
    assert set(clusters["account_id"]) == set(linked.membership)
    again = link_accounts(engine, settings)
    assert again.clusters_members() == linked.clusters_members()


def test_until_hides_the_future(world_store: tuple[Any, Any, World, Path]) -> None:
    settings, engine, world, _ = world_store
    until = T0 + timedelta(days=2, hours=12)  # after the bans, before the evaders' first exchanges
    res = link_accounts(engine, settings, until=until, write=False)
    assert res.activity.accounts["last_ts"].max() < pd.Timestamp(until)
    assert not {"acct_e_new2"} & set(res.accounts["account_id"]) or "acct_e_new2" not in set(
        res.activity.accounts["account_id"]
    )
    assert not {f["entity_id"] for f in ban_evasion_findings(res)} & set(world.evaders)


@pytest.mark.parametrize("n_benign", [12])
def test_tiny_world_on_each_engine(engine: Any, settings: Any, n_benign: int) -> None:
    """The same small world links the same way on DuckDB and Spark (records run on DuckDB)."""
    world = build_world(seed=5, n_benign=n_benign, n_hydra=8, huge_exchanges=0)
    write_world(engine, world)
    res = link_accounts(engine, settings)
    assert _best_share(res, world.hydra) >= 0.9
    assert engine.has_table("clusters") and engine.has_table("links")


def test_empty_store_raises(settings: Any) -> None:
    from stillwatch.engine import get_engine
    from stillwatch.exceptions import NotFoundError

    with get_engine(settings, "duckdb") as eng, pytest.raises(NotFoundError):
        link_accounts(eng, settings)


def test_cli_link(world_store: tuple[Any, Any, World, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stillwatch.cli.main import app

    data_dir = world_store[3]
    out = tmp_path / "clusters.jsonl"
    fnd = tmp_path / "findings.jsonl"
    res = CliRunner().invoke(app, ["--data-dir", str(data_dir), "link", "--out", str(out), "--findings", str(fnd)])
    assert res.exit_code == 0, res.output
    assert "clusters" in res.output and out.exists() and fnd.exists()
    kinds = {json.loads(x)["kind"] for x in fnd.read_text().splitlines()}
    assert {"distillation", "ban_evasion"} <= kinds
    bad = CliRunner().invoke(app, ["--data-dir", str(data_dir), "link", "--until", "yesterday"])
    from stillwatch.exceptions import ConfigError

    assert bad.exit_code != 0 and isinstance(bad.exception, ConfigError)
