"""Unit tests: normalisation, IDF behaviour scoring, stable ids, sign-up scoring."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import pytest

from stillwatch.link.behaviour import BehaviourParams, score_pairs
from stillwatch.link.clusters import assign_ids, core_id
from stillwatch.link.graph import cluster_graph, merge_edges
from stillwatch.link.normalize import clean_accounts, is_placeholder, local_pattern, org_key
from stillwatch.link.signup import SignupIndex, score_signup


@pytest.mark.parametrize("value", ["N/A", "test", "unknown", "", "0000", "  none ", None, float("nan"), "xxxx"])
def test_placeholders(value: object) -> None:
    assert is_placeholder(value)


def test_org_key_and_pattern() -> None:
    assert org_key("Bluefin Labs Inc.") == org_key("BLUEFIN LABS") == org_key("bluefin labs ltd") == "bluefin labs"
    assert local_pattern("li.wei2024") == local_pattern("zh.ang1998")


def test_overshared_value_nulled_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    rows: list[dict[str, Any]] = [
        {"account_id": f"a{i}", "payment_fingerprint": "pm_default", "signup_ip": f"8.8.{i % 250}.1"} for i in range(80)
    ]
    rows += [{"account_id": "x", "payment_fingerprint": "pm_rare", "signup_ip": None, "org_name": "N/A"}]
    with caplog.at_level(logging.WARNING):
        df, report = clean_accounts(pd.DataFrame(rows))
    assert df["payment_fingerprint"].isna().sum() == 80
    assert "payment_fingerprint" in report.overshared
    assert any("implausibly many" in r.message for r in caplog.records)
    assert df.set_index("account_id").loc["x", "org_name"] is None


def _tokens(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"account_id": a, "type": t, "token": k, "n": 1} for a, t, k in rows])


def test_single_weak_type_never_links() -> None:
    # 40 accounts share one persona prompt, one NAT IP and one SDK: all public, none alone links.
    rows = [(f"b{i}", "sys", "persona") for i in range(40)] + [(f"b{i}", "ip", "nat") for i in range(40)]
    rows += [(f"b{i}", "stack", "sdk") for i in range(40)] + [(f"u{i}", "stack", f"own{i}") for i in range(200)]
    out = score_pairs(_tokens(rows), pd.DataFrame(columns=["account_id", "minute"]))
    assert not out["edge"].any() if len(out) else True


def test_rare_artefacts_across_families_link() -> None:
    rows = [("h1", "ip", "proxy7"), ("h2", "ip", "proxy7"), ("h1", "tpl", "t:abc"), ("h2", "tpl", "t:abc")]
    rows += [(f"u{i}", "stack", f"own{i}") for i in range(300)]
    out = score_pairs(_tokens(rows), pd.DataFrame(columns=["account_id", "minute"]))
    pair = out[(out["a"] == "h1") & (out["b"] == "h2")]
    assert len(pair) == 1 and bool(pair["edge"].iloc[0])
    assert "same egress IP" in pair["reasons"].iloc[0]


def test_lockstep_timing_counts() -> None:
    rows = [("h1", "ip", "p1"), ("h2", "ip", "p1")] + [(f"u{i}", "stack", f"own{i}") for i in range(300)]
    minutes = pd.DataFrame([{"account_id": a, "minute": m} for a in ("h1", "h2") for m in range(0, 20000, 97)])
    minutes = pd.concat([minutes, pd.DataFrame([{"account_id": "h1", "minute": 5}, {"account_id": "h2", "minute": 7}])])
    out = score_pairs(_tokens(rows), minutes, BehaviourParams())
    pair = out[(out["a"] == "h1") & (out["b"] == "h2")]
    assert bool(pair["edge"].iloc[0]) and "lockstep timing" in pair["reasons"].iloc[0]


def test_sharing_busy_hours_is_not_lockstep_but_sharing_minutes_is() -> None:
    """Two benchmark sweeps through the same afternoons, each at its own minutes, expect many
    co-active minutes by chance within those hours; a scheduler's accounts fire in the same ones."""
    import numpy as np

    from stillwatch.link.behaviour import lockstep

    rng = np.random.default_rng(4)
    afternoons = [d * 1440 + 13 * 60 + k for d in range(7) for k in range(60)]  # 13:00-14:00 UTC for a week
    a = rng.choice(afternoons, 200, replace=False)
    b = rng.choice(afternoons, 200, replace=False)
    rows = [("sweep_a", m) for m in a] + [("sweep_b", m) for m in b]
    rows += [("bot_a", m) for m in a[:30]] + [("bot_b", m) for m in a[:30]]  # the same minutes
    minutes = pd.DataFrame(rows, columns=["account_id", "minute"])
    codes = {"sweep_a": 0, "sweep_b": 1, "bot_a": 2, "bot_b": 3}
    co, expected = lockstep(minutes, codes, np.array([[0, 1], [2, 3]]))
    params = BehaviourParams()
    sweeps, bots = (bool(co[i] >= params.lockstep_min and co[i] >= params.lockstep_ratio * expected[i]) for i in (0, 1))
    assert co[0] > 60 and not sweeps  # ~95 shared minutes, all explained by the shared hours
    assert bots and co[1] == 30


def test_bridge_does_not_merge_groups() -> None:
    rows = []
    for g in ("x", "y"):
        ms = [f"{g}{i}" for i in range(10)]
        rows += [(a, b, 1.0) for i, a in enumerate(ms) for b in ms[i + 1 :]]
    rows.append(("x0", "y0", 1.0))
    edges = merge_edges(
        pd.DataFrame([{"a": a, "b": b, "weight": w, "reasons": ["r"], "evidence": []} for a, b, w in rows]), None
    )
    membership = cluster_graph(edges)
    assert membership["x1"] != membership["y1"]
    assert len({membership[f"x{i}"] for i in range(10)}) == 1


def test_ids_stable_and_inherited() -> None:
    created = {f"a{i}": pd.Timestamp("2026-01-01") + pd.Timedelta(days=i) for i in range(10)}
    m1 = {f"a{i}": 0 for i in range(6)}
    ids1 = assign_ids(m1, created)
    m2 = {f"a{i}": 3 for i in range(10)}  # grew, renumbered
    assert assign_ids(m2, created)[3] == ids1[0] == core_id(list(m2), created)
    prev = pd.DataFrame({"cluster_id": ["cl_old"] * 6, "account_id": [f"a{i}" for i in range(6)]})
    assert assign_ids(m2, created, prev)[3] == "cl_old"


def test_score_signup_names_enforced_account() -> None:
    accounts = pd.DataFrame(
        [{"account_id": f"u{i}", "payment_fingerprint": f"pm{i}", "email_domain": "gmail.com",
          "signup_ip": f"9.{i % 200}.{i % 7}.1"} for i in range(500)]
        + [{"account_id": "bad", "payment_fingerprint": "pm_bad", "org_name": "Shadow Harvest Ltd",
            "email_domain": "gmail.com", "signup_ip": "45.1.2.3"}]
    )  # fmt: skip
    index = SignupIndex.from_frames(accounts, ["bad"], {"cl_1": ["bad", "u3"]})
    hits = score_signup({"account_id": "new", "payment_fingerprint": "pm_bad", "org_name": "SHADOW HARVEST"}, index)
    assert hits and hits[0].enforced_account == "bad" and hits[0].cluster_id == "cl_1"
    assert "same payment fingerprint" in hits[0].reasons
    assert score_signup({"account_id": "n2", "payment_fingerprint": "pm_new", "email_domain": "gmail.com"}, index) == []
    assert score_signup({"account_id": "n3", "payment_fingerprint": "N/A", "org_name": "test"}, index) == []


def test_sparsify_keeps_strongest_and_some_cross_wave_edges() -> None:
    import numpy as np

    from stillwatch.link.behaviour import sparsify

    # two registration waves of 20: within-wave pairs score 2, cross-wave pairs 1.2 (all are edges)
    pairs = np.array([(i, j) for i in range(40) for j in range(i + 1, 40)])
    total = np.where((pairs[:, 0] < 20) == (pairs[:, 1] < 20), 2.0, 1.2)
    edge = np.ones(len(pairs), dtype=bool)
    top = sparsify(pairs, total, edge, 5)
    cross = (pairs[:, 0] < 20) != (pairs[:, 1] < 20)
    assert top.sum() <= 5 * 40 and not (top & cross).any()  # top-k alone cuts the pool into its waves
    mixed = sparsify(pairs, total, edge, 5, 5)
    assert (mixed & cross).sum() >= 10 and mixed.sum() <= 10 * 40
    assert (sparsify(pairs, total, edge, 5, 5) == mixed).all()  # deterministic
