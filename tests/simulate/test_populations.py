"""Every population and every label kind is present, and benign groups are labelled as such."""

from __future__ import annotations

from collections import Counter

from tests.simulate.conftest import SimData

BENIGN_GROUPS = {"benign_en", "benign_zh_legit", "enterprise_gateway", "researcher_benchmark", "subsidiary_local"}
RELAY_FAMILIES = {"one-api", "new-api", "claude-relay-service", "sub2api", "CLIProxyAPI", "litellm-relay"}


def test_every_label_kind_present(sim: SimData) -> None:
    kinds = Counter(r["label"] for r in sim.labels if r["entity"] == "account")
    for kind in ("benign", "relay", "subrouting", "subsidiary", "distillation", "ban_evasion", "jailbreak"):
        assert kinds[kind] > 0, kind
    entities = {r["entity"] for r in sim.labels}
    assert entities == {"account", "api_key", "exchange", "cluster"}


def test_every_population_has_traffic(sim: SimData) -> None:
    groups = Counter(sim.meta["by_group"])
    for group in BENIGN_GROUPS | {
        "subrouting_platform",
        "subsidiary",
        "ban_evasion",
        "jailbreak_manual",
        "hydra_reasoning",
        "hydra_agentic",
        "hydra_instruct",
    }:
        assert groups[group] > 0, group
    assert {g.removeprefix("relay_") for g in groups if g.startswith("relay_")} == RELAY_FAMILIES


def test_benign_groups_are_labelled_benign(sim: SimData) -> None:
    for row in sim.account_labels().values():
        if row["group"] in BENIGN_GROUPS:
            assert row["label"] == "benign"
        else:
            assert row["label"] != "benign" or row["group"] == "ban_evasion"


def test_clusters_list_their_accounts(sim: SimData) -> None:
    acc = sim.account_labels()
    clusters = [r for r in sim.labels if r["entity"] == "cluster"]
    assert {c["label"] for c in clusters} == {"relay", "distillation", "ban_evasion"}
    for c in clusters:
        assert c["accounts"]
        assert all(acc[a]["campaign_id"] == c["campaign_id"] for a in c["accounts"])


def test_distillation_cluster_is_large_and_per_account_volume_unremarkable(sim: SimData) -> None:
    hydra = sim.by_group("hydra_")
    per_account_day = Counter((e["account_id"], e["ts"][:10]) for e in hydra)
    counts = sorted(per_account_day.values())
    median = counts[len(counts) // 2]
    assert 8 <= median <= 60
    accounts = {e["account_id"] for e in hydra}
    assert len(accounts) >= 24


def test_models_json_has_launch_in_window(sim: SimData) -> None:
    launched = [m for m in sim.meta["models"] if m["in_window"]]
    assert len(launched) == 1
    assert sim.meta["start"] < launched[0]["launched_at"][:10]
