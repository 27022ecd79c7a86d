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
from tests.detect.exchange_view import exchange_view


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
    det = RelayDetector()
    det.fit(_accounts())
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


# ---------------------------------------------------------------------- edges on exchange rows
_view = exchange_view


def _edges(rows: list[dict[str, object]], **kw: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    import ibis

    con = ibis.duckdb.connect()
    egress, hops = pools.pool_edges(_view(rows), **kw)  # type: ignore[arg-type]
    return con.execute(egress), con.execute(hops)


T0 = datetime(2026, 2, 2, 9, tzinfo=UTC)


def _sent(account: str, ip: str, n: int, strong: bool = False, start: datetime = T0) -> list[dict[str, object]]:
    return [{"account_id": account, "client_ip": ip, "relay_strong_hit": strong,
             "ts": start + timedelta(minutes=37 * i)} for i in range(n)]  # fmt: skip


def test_relay_host_accounts_on_a_crowded_address_are_pooled_and_strangers_are_not() -> None:
    """More accounts than max_ip_accounts on one address: a carrier NAT (strangers, no edge) or
    a relay host whose pooled accounts all run relay software there (edges among them only)."""
    rows = [r for i in range(12) for r in _sent(f"crs{i}", "5.5.5.5", 3, strong=True)]
    rows += _sent("visitor", "5.5.5.5", 3)  # a stranger on the same exit, no relay software
    # a program that shows its strong indicator on a few requests only (2 of 20) still runs there
    rows += _sent("gw_sw", "5.5.5.5", 2, strong=True) + _sent("gw_sw", "5.5.5.5", 18, start=T0 + timedelta(days=1))
    rows += [r for i in range(12) for r in _sent(f"nat{i}", "9.9.9.9", 3)]
    egress, _ = _edges(rows, max_ip_accounts=10)
    tied = set(egress["a"]) | set(egress["b"])
    assert {f"crs{i}" for i in range(12)} | {"gw_sw"} <= tied and len(egress) == 13 * 12 // 2
    assert not tied & ({"visitor"} | {f"nat{i}" for i in range(12)})


def test_accounts_forwarding_restricted_users_from_a_crowded_host_are_pooled_and_strangers_are_not() -> None:
    """An API-key relay (LiteLLM) with few strong indicators, whose many accounts share one
    host and pass each end user's address on (X-Forwarded-For in a restricted region), is a
    pool on its first day; strangers on a crowded exit forwarding nothing, or local addresses,
    are not."""

    def fwd(rows: list[dict[str, object]], restricted: bool) -> list[dict[str, object]]:
        return [{**r, "xff_restricted": restricted} for r in rows]

    rows = [r for i in range(12) for r in fwd(_sent(f"llm{i}", "5.5.5.5", 3), True)]
    rows += fwd(_sent("visitor", "5.5.5.5", 3), False)  # a stranger on the same host, nothing forwarded
    rows += fwd(_sent("once", "5.5.5.5", 1) + _sent("once", "5.5.5.5", 4, start=T0 + timedelta(days=1)), False)
    rows += [r for i in range(12) for r in fwd(_sent(f"office{i}", "9.9.9.9", 3), False)]  # local users' XFF
    egress, _ = _edges(rows, max_ip_accounts=10)
    tied = set(egress["a"]) | set(egress["b"])
    assert tied == {f"llm{i}" for i in range(12)} and len(egress) == 12 * 11 // 2
    # without the forwarded addresses the relay host is just a crowded exit
    plain = [{**r, "xff_restricted": False} for r in rows]
    assert _edges(plain, max_ip_accounts=10)[0].empty


def test_a_newcomer_on_an_established_pool_address_is_tied_on_its_first_exchange() -> None:
    rows = [r for i in range(3) for r in _sent(f"m{i}", "7.7.7.7", 5)]
    rows += _sent("new", "7.7.7.7", 1, start=T0 + timedelta(hours=14))  # first seen late in the day
    rows += _sent("roamer", "7.7.7.7", 1) + _sent("roamer", "8.8.8.8", 6)  # its own egress is elsewhere
    rows += _sent("pair0", "6.6.6.6", 5) + _sent("pair1", "6.6.6.6", 5) + _sent("late", "6.6.6.6", 1)
    egress, _ = _edges(rows)
    pairs = set(zip(egress["a"], egress["b"], strict=True))
    assert {("m0", "new"), ("m1", "new"), ("m2", "new")} <= pairs
    assert not any("roamer" in p for p in pairs)
    assert not any("late" in p for p in pairs)  # two established accounts are not yet a pool address
    assert ("pair0", "pair1") in pairs


def test_one_identical_turn_on_two_accounts_is_not_a_retry_tie() -> None:
    turn = {"is_followup": True, "first_user_hash": "h1", "sys_hash": "s1", "message_count": 3, "client_ip": "unknown"}
    rows = [{**turn, "account_id": "gw", "ts": T0}, {**turn, "account_id": "r1", "ts": T0 + timedelta(seconds=5)}]
    _, hops = _edges(rows)
    assert hops.empty  # a popular client's default conversation, sent once on each by chance
    turn2 = {**turn, "first_user_hash": "h2"}
    rows += [{**turn2, "account_id": "gw", "ts": T0 + timedelta(hours=3)},
             {**turn2, "account_id": "r1", "ts": T0 + timedelta(hours=3, seconds=4)}]  # fmt: skip
    _, hops = _edges(rows)
    assert ("gw", "r1", True) in set(zip(hops["a"], hops["b"], hops["retry"], strict=True))  # retried twice
    # two accounts that both run relay software: one retry ties them (failover to a random account)
    sw = [{**turn, "account_id": "s1", "ts": T0, "relay_strong_hit": True},
          {**turn, "account_id": "s2", "ts": T0 + timedelta(seconds=5), "relay_strong_hit": True}]  # fmt: skip
    sw += _sent("s1", "unknown", 2, strong=True) + _sent("s2", "unknown", 2, strong=True)
    _, hops = _edges(sw)
    assert ("s1", "s2", True) in set(zip(hops["a"], hops["b"], hops["retry"], strict=True))


def test_one_hopping_pair_does_not_merge_two_egress_groups() -> None:
    egress = pd.DataFrame({"a": ["r1", "h1"], "b": ["r2", "h2"]})  # a relay host and a hydra exit
    one = pd.DataFrame({"a": ["h1"], "b": ["r1"], "weight": [2], "retry": [False]})
    assert pools.strong_hops(one, egress).empty
    two = pd.DataFrame({"a": ["h1", "h2"], "b": ["r1", "r2"], "weight": [2, 2], "retry": [False, False]})
    assert len(pools.strong_hops(two, egress)) == 2  # failover between two hosts of one operator
    lone = pd.DataFrame({"a": ["r1", "r2"], "b": ["x", "x"], "weight": [2, 2], "retry": [False, False]})
    assert len(pools.strong_hops(lone, egress)) == 2  # an account outside any egress group still joins


def test_subscription_relay_accounts_are_flagged_one_day_after_their_first_exchange() -> None:
    """End to end on the pool path: 12 claude-relay-service accounts, each with only 8 exchanges
    (below the account detector's 30) on one crowded relay-host exit, are relay findings at a
    cut-off one day after their first exchange; the strangers on a crowded NAT are not."""
    rows = [r for i in range(12) for r in _sent(f"crs{i}", "5.5.5.5", 8, strong=True)]
    rows += [r for i in range(12) for r in _sent(f"nat{i}", "9.9.9.9", 8)]
    egress, hops = _edges(rows, max_ip_accounts=10)
    links = pools.member_links(egress, hops)
    found = pools.components(pd.concat([egress[["a", "b"]], hops[["a", "b"]]], ignore_index=True))
    col = family_column("claude-relay-service")
    members = pd.DataFrame({
        "account_id": [f"crs{i}" for i in range(12)] + [f"nat{i}" for i in range(12)], "n_exchanges": 8,
        "relay_strong_hits": [8] * 12 + [0] * 12, col: [8] * 12 + [0] * 12, "shared_egress_accounts": 13,
        "followup_share": 0.3, "local_offset": -5.0, "declared_country": "US",
    })  # fmt: skip
    hourly = pd.DataFrame({"account_id": [r["account_id"] for r in rows],
                           "hour_ts": [pd.Timestamp(r["ts"]).floor("h") for r in rows], "n": 1})  # fmt: skip
    pf = pools.pool_frame(members, hourly, found, {"CN": 8.0})
    det = RelayDetector().fit(_accounts())
    dist = type("D", (), {"score": lambda self, X: np.zeros(len(X)), "predict": lambda self, X: np.zeros(len(X), bool)})
    detectors = {"relay": det, "distillation": dist()}
    scored = pools.score_pools(pf, detectors)
    frame = members.assign(relay_flag=False, distillation_flag=False)
    out = pools.pool_findings(scored, frame, links, detectors, (T0 - timedelta(days=27), T0 + timedelta(days=1)), {})
    flagged = {f.entity_id for f in out if f.entity == "account" and f.kind == "relay"}
    assert flagged == {f"crs{i}" for i in range(12)}


def test_a_lone_pair_on_one_address_gets_no_cluster_finding_but_a_hopping_pair_does() -> None:
    """Two customers behind one household or office address form a two-account 'pool' whose
    summed traffic may look like anything; the cluster finding would name both, so it needs a
    member firmly tied (a conversation that moved across, or egress shared in a pool of three)."""
    col = family_column("claude-relay-service")
    frame = pd.DataFrame({
        "account_id": ["p1", "p2"], "n_exchanges": 40, "relay_strong_hits": 40, col: 40,
        "shared_egress_accounts": 2, "followup_share": 0.3, "local_offset": -5.0, "declared_country": "US",
        "hop_n": 0,
    })  # fmt: skip
    hourly = pd.concat([_hourly("p1", 8, 40), _hourly("p2", 8, 40)], ignore_index=True)
    pf = pools.pool_frame(frame, hourly, {"pool-pair": ["p1", "p2"]}, {"CN": 8.0})
    det = RelayDetector().fit(_accounts())
    dist = type("D", (), {"score": lambda self, X: np.zeros(len(X)), "predict": lambda self, X: np.zeros(len(X), bool)})
    detectors = {"relay": det, "distillation": dist()}
    scored = pools.score_pools(pf, detectors)
    assert bool(scored["relay_flag"].iloc[0])  # the pool's summed evidence would flag it
    flags = frame.assign(relay_flag=False, distillation_flag=False)
    window = (T0 - timedelta(days=27), T0 + timedelta(days=1))
    address_only = {"p1": {"egress_partners": 1, "hop_partners": 0}, "p2": {"egress_partners": 1, "hop_partners": 0}}
    assert pools.pool_findings(scored, flags, address_only, detectors, window, {}) == []
    hopped = {"p1": {"egress_partners": 1, "hop_partners": 1}, "p2": {"egress_partners": 1, "hop_partners": 1}}
    out = pools.pool_findings(scored, flags, hopped, detectors, window, {})
    assert {(f.entity, f.entity_id) for f in out} == {("cluster", "pool-pair"), ("account", "p1"), ("account", "p2")}


def test_a_busy_hub_sharing_common_conversations_with_a_pool_member_does_not_join_the_pool() -> None:
    """A platform serving thousands opens common conversations with every busy account it meets;
    outside a shared-egress group the larger account's follow-ups set the bar."""
    egress = pd.DataFrame({"a": ["r1", "r1"], "b": ["r2", "r3"]})
    hops = pd.DataFrame({"a": ["hub", "hub", "r1"], "b": ["r1", "r2", "r2"], "weight": [4, 3, 4],
                         "retry": [False, False, False]})  # fmt: skip
    follow = {"hub": 1300.0, "r1": 31.0, "r2": 40.0, "r3": 35.0}
    kept = pools.strong_hops(hops, egress, follow)
    assert set(zip(kept["a"], kept["b"], strict=True)) == {("r1", "r2")}  # failover inside the relay host


def test_an_address_is_crowded_by_accounts_on_one_day_not_over_the_window() -> None:
    """A hydra's proxy exit that sees 4 of its accounts a day but 16 over the window is still a
    pool address with max_ip_accounts=10 (the window count grows with its length and with
    account churn); 12 strangers on one day make it a NAT."""
    rows = [
        r for d in range(4) for i in range(4) for r in _sent(f"h{d}_{i}", "4.4.4.4", 2, start=T0 + timedelta(days=d))
    ]
    rows += [r for i in range(12) for r in _sent(f"nat{i}", "9.9.9.9", 2)]
    egress, _ = _edges(rows, max_ip_accounts=10)
    tied = set(egress["a"]) | set(egress["b"])
    assert len(tied) == 16 and not any(a.startswith("nat") for a in tied)


def test_a_lone_pair_on_one_address_is_not_shared_egress_for_the_account_detectors() -> None:
    """Two researchers renting from one cloud address, or a gateway and a customer behind one VPN
    exit, are not a pool (``_tied``), so their accounts' ``shared_egress_accounts`` is not 2 either;
    a third account on the address, a second partner or a hopping conversation keeps it."""
    frame = pd.DataFrame({
        "account_id": ["pair", "hop", "two", "trio", "alone", "unknown"],
        "shared_egress_accounts": [2, 2, 2, 3, 1, np.nan],
    })  # fmt: skip
    links = {
        "pair": {"egress_partners": 1, "hop_partners": 0},
        "hop": {"egress_partners": 1, "hop_partners": 1},
        "two": {"egress_partners": 2, "hop_partners": 0},
        "trio": {"egress_partners": 2, "hop_partners": 0},
    }
    out = pools.lone_pair_egress(frame, links)
    assert out.iloc[:5].tolist() == [1, 2, 2, 3, 1] and np.isnan(out.iloc[5])
    # what the relay detector then no longer cites as origin evidence
    det = RelayDetector().fit(_accounts())
    row = _accounts(1).assign(account_id="pair", entity_id="pair", shared_egress_accounts=2.0)
    assert "shared_egress_accounts" in {e.feature for e in det.evidence(row)[0]}
    row["shared_egress_accounts"] = pools.lone_pair_egress(row, links)
    assert "shared_egress_accounts" not in {e.feature for e in det.evidence(row)[0]}


def test_evidence_names_the_accounts_its_baseline_was_fitted_on() -> None:
    """Relay baselines are fitted on the busy accounts (>= 30 exchanges) when ten or more are that
    busy; the evidence says so instead of "all accounts"."""
    busy = RelayDetector().fit(_accounts())
    row = _accounts(1).assign(account_id="x", entity_id="x", n_sys_prompts=400, n_md_devices=300)
    texts = [e.baseline for e in busy.evidence(row)[0] if e.feature in ("n_sys_prompts", "n_md_devices")]
    assert texts and all(t.endswith("over accounts with >= 30 exchanges in the window") for t in texts)
    quiet = RelayDetector().fit(_accounts().assign(n_exchanges=5))
    texts = [e.baseline for e in quiet.evidence(row)[0] if e.feature in ("n_sys_prompts", "n_md_devices")]
    assert texts and all(t.endswith("over all accounts in the window") for t in texts)


def test_a_relay_pool_member_is_not_also_filed_as_sub_routing() -> None:
    from stillwatch.detect.evidence import Evidence
    from stillwatch.detect.findings import Finding

    ev = [
        Evidence("hop_n", 3, "0 for an account used by one person", "conversations continue elsewhere", "network", 2.0)
    ]
    w = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC))

    def f(kind: str, entity: str, eid: str) -> Finding:
        return Finding(kind, entity, eid, 0.9, {"name": kind, "version": "t", "params": {}}, ev, [], [eid], *w)

    own = [f("subrouting", "account", "member"), f("subrouting", "account", "platform"), f("relay", "account", "r")]
    pooled = [f("relay", "cluster", "pool-1"), f("relay", "account", "member"), f("distillation", "account", "d")]
    out = pools.resale_over_subrouting(own, pooled)
    kept = {(x.kind, x.entity, x.entity_id) for x in out}
    # the pool's relay finding replaces the member's sub-routing finding; others are untouched
    assert ("subrouting", "account", "member") not in kept and ("relay", "account", "member") in kept
    assert ("subrouting", "account", "platform") in kept and ("relay", "cluster", "pool-1") in kept
    assert len(out) == len(own) + len(pooled) - 1
    # a distillation pool membership does not remove a sub-routing finding
    assert pools.resale_over_subrouting([f("subrouting", "account", "d")], pooled)[0].kind == "subrouting"
