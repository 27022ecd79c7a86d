"""Account pools: connected components, coincidence filtering, pooled clock and pool scoring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from stillwatch.detect import pools
from stillwatch.detect.evidence import SOFT_FAMILIES
from stillwatch.detect.relay import RelayDetector, family_column, subscription_share
from stillwatch.enrich.timeprofile import _DIURNAL


def test_components_are_connected_sets_with_stable_ids() -> None:
    edges = pd.DataFrame({"a": ["a1", "a2", "b1"], "b": ["a2", "a3", "b2"]})
    comp = pools.components(edges)
    assert sorted(map(tuple, comp.values())) == [("a1", "a2", "a3"), ("b1", "b2")]
    again = pools.components(edges.iloc[::-1])
    assert comp == again


def test_strong_hops_drop_single_coincidences_but_keep_retries_and_pools() -> None:
    hops = pd.DataFrame({
        "a": ["s1", "p1", "p1", "x1"], "b": ["s2", "p2", "p3", "x2"], "retry": [False, False, False, True],
    })  # fmt: skip
    egress = pd.DataFrame({"a": ["p2"], "b": ["p3"]})
    kept = pools.strong_hops(hops, egress)
    pairs = set(zip(kept["a"], kept["b"], strict=True))
    assert ("s1", "s2") not in pairs  # two strangers who opened the same common conversation
    assert {("p1", "p2"), ("p1", "p3"), ("x1", "x2")} <= pairs


def _hourly(account: str, offset: int, per_day: int, days: int = 1) -> pd.DataFrame:
    t0 = datetime(2026, 2, 9, tzinfo=UTC)
    w = np.asarray(_DIURNAL) / sum(_DIURNAL)
    rows = []
    for d in range(days):
        for h in range(24):
            n = int(round(per_day * w[(h + offset) % 24]))
            if n:
                rows.append((account, t0 + timedelta(days=d, hours=h), n))
    return pd.DataFrame(rows, columns=["account_id", "hour_ts", "n"])


def test_pool_clock_is_fitted_on_summed_members() -> None:
    hourly = pd.concat([_hourly(f"m{i}", 8, 30) for i in range(4)], ignore_index=True)
    frame = pd.DataFrame({
        "account_id": [f"m{i}" for i in range(4)], "n_exchanges": [30] * 4, "shared_egress_accounts": [4] * 4,
        "local_offset": [-6.0] * 4, "declared_country": ["US"] * 4, "relay_strong_hits": [30] * 4,
        "followup_share": [0.5] * 4, "hop_n": [3] * 4,
    })  # fmt: skip
    pf = pools.pool_frame(frame, hourly, {"pool-x": [f"m{i}" for i in range(4)]}, {"CN": 8.0})
    row = pf.iloc[0]
    assert row["pool_size"] == 4 and row["n_exchanges"] == 120 and row["relay_strong_hits"] == 120
    assert row["best_utc_offset"] == 8 and row["utc_offset_fit"] > 0.9
    assert row["tz_restricted"] >= 1.0  # UTC+8 clock, declared US
    assert row["hop_share"] == 12 / 60
    local = pools.pool_frame(frame.assign(local_offset=8.0, declared_country="SG"), hourly,
                             {"pool-x": list(frame["account_id"])}, {"CN": 8.0})  # fmt: skip
    assert local.iloc[0]["tz_restricted"] == 0.0  # its own clock is not origin evidence


def test_subscription_share_needs_strong_indicators() -> None:
    col = family_column("sub2api")
    X = pd.DataFrame({"n_exchanges": [20, 20], col: [20, 20], "relay_strong_hits": [20, 0]})  # noqa: N806
    assert list(subscription_share(X)) == [1.0, 0.0]  # the official client matches the weak ones


def _accounts(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "account_id": [f"b{i}" for i in range(n)], "entity_id": [f"b{i}" for i in range(n)],
        "n_exchanges": rng.integers(40, 400, n), "n_sys_prompts": rng.integers(1, 4, n),
        "n_md_devices": rng.integers(0, 2, n), "n_ua_families": np.ones(n), "n_langs": rng.integers(1, 3, n),
        "relay_strong_hits": np.zeros(n), "shared_egress_accounts": np.ones(n),
    })  # fmt: skip


def test_subscription_relay_pool_is_flagged_without_origin_and_a_gateway_pool_is_not() -> None:
    det = RelayDetector().fit(_accounts())
    col = family_column("claude-relay-service")
    pool = pd.DataFrame({
        "account_id": ["pool-sub", "pool-gw"], "entity_id": ["pool-sub", "pool-gw"], "n_exchanges": [80, 800],
        "relay_strong_hits": [80, 0], col: [80, 0], "hop_n": [9, 0], "hop_share": [0.25, 0.0],
        "shared_egress_accounts": [1, 5], "tz_restricted": [0.0, 0.0], "restricted_addr_share": [0.0, 0.0],
        "followup_share": [0.5, 0.5],
    })  # fmt: skip
    dist = type("D", (), {"score": lambda self, X: np.zeros(len(X)), "predict": lambda self, X: np.zeros(len(X), bool)})
    scored = pools.score_pools(pool, {"relay": det, "distillation": dist()})
    assert list(scored["relay_flag"]) == [True, False]
    ev = det.evidence(pool.iloc[[0]])[0]
    assert {e.feature for e in ev} >= {"subscription_relay_share", "hop_share"}
    assert all(e.family not in SOFT_FAMILIES for e in ev)


def test_busy_accounts_sharing_a_few_common_conversations_are_not_pooled() -> None:
    hops = pd.DataFrame({"a": ["gw1", "r1", "r1"], "b": ["gw2", "r2", "gw1"], "weight": [4, 4, 4],
                         "retry": [True, True, False]})  # fmt: skip
    follow = {"gw1": 3000.0, "gw2": 2000.0, "r1": 40.0, "r2": 30.0}
    kept = pools.strong_hops(hops, pd.DataFrame({"a": [], "b": []}), follow)
    assert set(zip(kept["a"], kept["b"], strict=True)) == {("r1", "r2")}


def test_a_lone_pair_on_one_address_does_not_carry_pool_evidence() -> None:
    assert not pools._tied({"egress_partners": 1, "hop_partners": 0}, size=2)  # a VPN exit or office NAT
    assert pools._tied({"egress_partners": 1, "hop_partners": 0}, size=3)
    assert pools._tied({"egress_partners": 0, "hop_partners": 1}, size=2)  # a conversation moved across


def test_pooled_share_is_compared_on_the_spread_of_an_average() -> None:
    """A share averaged over k accounts spreads about sqrt(k) less than one account's share: the
    same pooled value is stronger evidence for 4 even accounts than for one busy account and
    three near-silent ones (Kish effective size), and a single account is unchanged."""
    from stillwatch.detect.distillation import DistillationDetector

    rng = np.random.default_rng(0)
    base = pd.DataFrame({"entity_id": [f"a{i}" for i in range(200)], "n_exchanges": 100,
                         "cap_max_share": rng.normal(0.3, 0.1, 200).clip(0, 1)})  # fmt: skip
    det = DistillationDetector()
    det.fit(base)
    c, s = det.baseline_["cap_max_share"]
    value = c + 2.5 * s  # 0.5 above the shape threshold for one account
    frame = pd.DataFrame({"account_id": [f"m{i}" for i in range(8)], "n_exchanges": [50] * 4 + [400, 2, 2, 2],
                          "shared_egress_accounts": [4] * 8, "cap_max_share": [value] * 8, "followup_share": [0.5] * 8,
                          "local_offset": [0.0] * 8, "declared_country": ["DE"] * 8})  # fmt: skip
    pf = pools.pool_frame(
        frame,
        pd.DataFrame(columns=["account_id", "hour_ts", "n"]),
        {"even": [f"m{i}" for i in range(4)], "lopsided": [f"m{i}" for i in range(4, 8)]},
        {},
    )
    k = dict(zip(pf["account_id"], pf["pool_k_eff"], strict=True))
    assert k["even"] == pytest.approx(4.0) and 1.0 < k["lopsided"] < 1.1
    st = det._strengths(pf)["cap_max_share"]
    even, lopsided = st[list(pf["account_id"]).index("even")], st[list(pf["account_id"]).index("lopsided")]
    assert lopsided == pytest.approx(0.5, abs=0.05) and even > 2.5
    single = det._strengths(frame.iloc[[0]].drop(columns=["local_offset"]))["cap_max_share"][0]
    assert single == pytest.approx(0.5, abs=1e-6)
    assert det._strengths(pf.assign(pool_k_eff=100.0))["cap_max_share"].max() <= 3.0  # capped at max_pool_k
