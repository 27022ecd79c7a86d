"""Coherence-aware weighting: a hydra that is most of the population links; cloud users sharing
public artefacts do not, and nobody joins the hydra through a persona prompt or a cloud NAT."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from stillwatch.link.behaviour import BehaviourParams, score_pairs
from stillwatch.link.coherence import CoherenceParams
from stillwatch.link.graph import cluster_graph, merge_edges

NO_MINUTES = pd.DataFrame(columns=["account_id", "minute"])


def _world(n_hydra: int, n_cloud: int, n_home: int, seed: int = 11) -> pd.DataFrame:
    """Tokens of a hydra pool, cloud-hosted benign customers and home benign customers.

    * hydra: rotates over 40 exclusive proxy IPs (and, for a fifth of it, one of the cloud NAT
      IPs too), one user-turn template, a custom stack and fixed request parameters, and the
      public persona prompt and popular SDK for a third of it;
    * cloud benign: behind 6 shared cloud NAT IPs (two each, so they form one egress component),
      the popular SDK and default parameters, a third the public persona prompt, half a public
      agent's system prompt + tool set, and their own user turns;
    * home benign: own residential IP, the popular SDK, a third the persona, own user turns.
    """
    rng = random.Random(seed)
    rows: list[tuple[str, str, str]] = []
    nat = [f"nat{k}" for k in range(6)]
    for i in range(n_hydra):
        a = f"h{i}"
        rows += [(a, "ip", f"proxy{rng.randrange(40)}") for _ in range(4)]
        if i % 5 == 0:
            rows.append((a, "ip", rng.choice(nat)))
        rows += [(a, "tpl", "t:hydra"), (a, "stack", "custom-httpx"), (a, "params", "16000|-|anthropic")]
        if i % 3 == 0:
            rows += [(a, "sys", "persona"), (a, "stack", "sdk-popular")]
        rows += [(a, "tpl", f"t:h-own{i}-{k}") for k in range(2)]
    for i in range(n_cloud):
        a = f"c{i}"
        rows += [(a, "ip", nat[i % 6]), (a, "ip", nat[(i + 1) % 6]), (a, "stack", "sdk-popular")]
        rows += [(a, "params", "4096|-|anthropic"), (a, "tpl", f"t:c-own{i}")]
        if i % 3 == 0:
            rows.append((a, "sys", "persona"))
        if i % 2 == 0:
            rows += [(a, "sys", "agent-sys"), (a, "tools", "agent-tools")]
    for i in range(n_home):
        a = f"r{i}"
        rows += [(a, "ip", f"home{i}"), (a, "stack", "sdk-popular"), (a, "tpl", f"t:r-own{i}")]
        rows.append((a, "params", "4096|-|anthropic"))
        if i % 3 == 0:
            rows.append((a, "sys", "persona"))
    return pd.DataFrame([{"account_id": a, "type": t, "token": k, "n": 1} for a, t, k in rows])


def _clusters(out: pd.DataFrame) -> dict[str, int]:
    e = out[out["edge"]].copy()
    e["reasons"] = e["reasons"].map(list)
    return cluster_graph(merge_edges(None, e[["a", "b", "weight", "reasons", "evidence"]]))


@pytest.mark.parametrize(("n_hydra", "n_cloud", "n_home"), [(900, 150, 150), (150, 150, 600)])
def test_majority_hydra_links_and_cloud_users_do_not(n_hydra: int, n_cloud: int, n_home: int) -> None:
    out = score_pairs(_world(n_hydra, n_cloud, n_home), NO_MINUTES)
    edges = out[out["edge"]]
    benign = edges["a"].str[0].isin(["c", "r"]) | edges["b"].str[0].isin(["c", "r"])
    assert not benign.any(), edges[benign].head().to_dict("records")
    membership = _clusters(out)
    hydra = [f"h{i}" for i in range(n_hydra)]
    best = pd.Series([membership.get(a) for a in hydra]).value_counts()
    assert len(best) and best.iloc[0] >= 0.9 * n_hydra
    assert not any(a[0] in "cr" for a in membership)


def test_without_coherence_the_majority_hydra_fragments() -> None:
    """The failure this module fixes: with plain IDF the pool's kit weighs nothing."""
    params = BehaviourParams(coherence=CoherenceParams(enabled=False))
    out = score_pairs(_world(900, 150, 150), NO_MINUTES, params)
    membership = _clusters(out)
    hydra = [f"h{i}" for i in range(900)]
    best = pd.Series([membership.get(a) for a in hydra]).value_counts()
    assert best.empty or best.iloc[0] < 0.9 * 900


def test_cloud_population_without_operator_template_gets_no_boost() -> None:
    """Everyone behind the same cloud NATs with the same SDK, persona and agent: no edge at all."""
    out = score_pairs(_world(0, 400, 0), NO_MINUTES)
    assert out.empty or not out["edge"].any()
    assert out.empty or not (out["types"].map(lambda t: "pool" in t)).any()
