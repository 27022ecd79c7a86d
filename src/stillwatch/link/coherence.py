"""Coherence-aware weighting: a pool that is most of the population still shares rare artefacts.

Plain IDF asks "how many *accounts* carry this token?". When one operator runs 25,000 of 30,000
accounts, its prompt template and client stack are carried by most accounts and IDF gives them
almost no weight, although only one *adopter* uses them. This module counts adopters instead of
accounts, but only where the data shows that many accounts are one adopter:

1. **Egress pools.** Accounts are joined through the egress IPs they share, counting only IPs
   carried by at least ``min_ip_sharers`` accounts (an IP shared by an account and one big
   gateway account is not a pool address, so a hub cannot string unrelated customers together).
   A connected component with at least ``min_pool_accounts`` accounts and ``min_pool_ips`` such
   IPs is a candidate pool: a set of addresses used only by these accounts (a proxy pool), not
   one cloud NAT.
2. **Kit tokens.** Inside a pool ``K``, a content or client token ``T`` (system prompt,
   template, tool set, client stack, request parameters) carried by at least ``kit_share`` of
   ``K`` (and ``min_pool_accounts`` accounts) is part of the pool's kit. Its *coherent* IDF counts
   the whole pool as one adopter: ``df_K = df(T) − |S_T ∩ K| + 1``. A popular SDK or a public
   persona prompt that the pool happens to use is also carried by many accounts outside ``K``, so
   ``df_K`` stays large and its weight stays low; a template only the pool uses gets full weight.
3. **A user-turn template anchors the kit.** Unrelated customers behind one cloud share an SDK,
   request defaults, a persona or a public agent's system prompt and tool set, but each writes
   its own user turns; an operator generating prompts sends the same user-turn template from
   every account. A pool gets kits only if a ``tpl`` token (template id or MinHash band of the
   first user turn) is one of them, and its other kit tokens count only for accounts that carry
   such an anchor. The sharers of a public persona or SDK are "otherwise diverse" and keep their
   plain IDF.
4. **Per pair, not per token.** The coherent weight applies only to pairs whose both ends are in
   ``K`` and carry ``T``. Outsiders who share ``T`` keep the plain IDF, so a benign customer using
   the same SDK version or persona prompt as a hydra gains nothing. Such pairs also get a
   ``pool`` egress signal (weight × the best coherent IDF of the kit tokens they share): they
   egress through the same exclusive pool *and* carry the same rare-outside-the-pool kit.

Nothing here can make a single artefact an edge: the family caps and the two-family rule of
:mod:`stillwatch.link.behaviour` still apply, and the boost only exists where egress, content and
client evidence all agree.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

log = logging.getLogger(__name__)

#: Token types whose weight can be restored inside a pool (content and client families).
KIT_TYPES: tuple[str, ...] = ("sys", "tpl", "tools", "stack", "params")


@dataclass(frozen=True)
class CoherenceParams:
    """Parameters of coherence-aware weighting.

    Attributes:
        enabled: Apply coherence weighting at all.
        min_pool_accounts: Smallest egress component treated as a pool (below this, plain IDF
            already gives small pools' artefacts full weight).
        min_pool_ips: A pool needs at least this many shared IPs (one cloud NAT is not a pool).
        min_ip_sharers: An IP joins accounts into a pool only when at least this many carry it.
        kit_share: Share of the pool that must carry a token for it to be part of the kit.
        min_coherent_idf: Kit tokens whose coherent IDF stays below this are ignored.
        max_kits: At most this many (pool, token) kits are applied, best first.
    """

    enabled: bool = True
    min_pool_accounts: int = 20
    min_pool_ips: int = 3
    min_ip_sharers: int = 3
    kit_share: float = 0.25
    min_coherent_idf: float = 0.3
    max_kits: int = 500


@dataclass(frozen=True)
class Kit:
    """One kit token of one egress pool.

    Attributes:
        pool: Pool number (component id).
        type: Token type.
        token: Token value.
        members: Account codes in the pool that carry the token.
        idf: Plain IDF of the token.
        coherent_idf: IDF with the pool counted as one adopter.
        pool_accounts: Accounts in the pool.
        pool_ips: Shared IPs in the pool.
        anchor: Whether the token is a user-turn template (the pool's anchor).
    """

    pool: int
    type: str
    token: str
    members: np.ndarray
    idf: float
    coherent_idf: float
    pool_accounts: int
    pool_ips: int
    anchor: bool


def egress_pools(tokens: pd.DataFrame, idf: pd.DataFrame, n_codes: int, params: CoherenceParams) -> np.ndarray:
    """Pool number of each account code (``-1`` outside any pool).

    Args:
        tokens: ``code, type, token`` rows (capped tokens).
        idf: ``type, token, df`` of tokens carried by two or more accounts.
        n_codes: Number of account codes.
        params: Pool sizes.

    Returns:
        An ``int`` array of length ``n_codes``.
    """
    out = np.full(n_codes, -1, dtype=np.int64)
    ips = idf[(idf["type"] == "ip") & (idf["df"] >= params.min_ip_sharers)]
    if "overshared" in ips:
        ips = ips[~ips["overshared"]]
    shared_ips = ips["token"]
    ip = tokens[(tokens["type"] == "ip") & tokens["token"].isin(shared_ips)]
    if ip.empty:
        return out
    ip_codes, ip_index = np.unique(ip["token"].to_numpy(), return_inverse=True)
    m = len(ip_codes)
    acc = ip["code"].to_numpy()
    # bipartite graph: accounts 0..n-1, IPs n..n+m-1
    adj = sparse.coo_matrix((np.ones(len(acc)), (acc, n_codes + ip_index)), shape=(n_codes + m, n_codes + m))
    _, labels = connected_components(adj, directed=False)
    acc_lab = labels[:n_codes]
    ip_lab = labels[n_codes:]
    has_ip = np.zeros(n_codes, dtype=bool)
    has_ip[acc] = True
    n_acc = np.bincount(acc_lab[has_ip], minlength=labels.max() + 1)
    n_ip = np.bincount(ip_lab, minlength=labels.max() + 1)
    ok = (n_acc >= params.min_pool_accounts) & (n_ip >= params.min_pool_ips)
    sel = has_ip & ok[acc_lab]
    out[sel] = acc_lab[sel]
    return out


def find_kits(tokens: pd.DataFrame, idf: pd.DataFrame, n_accounts: int, params: CoherenceParams) -> list[Kit]:
    """Kit tokens of every egress pool (see module docstring).

    Args:
        tokens: ``code, type, token`` rows (capped tokens).
        idf: ``type, token, df, idf`` of tokens carried by two or more accounts (all of them,
            including over-shared ones).
        n_accounts: Active accounts (``N`` of the IDF).
        params: Coherence parameters.

    Returns:
        Kits, best (coherent IDF gain × members) first, at most ``max_kits``.
    """
    if not params.enabled or tokens.empty or idf.empty:
        return []
    pool = egress_pools(tokens, idf, n_accounts, params)
    if (pool < 0).all():
        return []
    sizes = pd.Series(pool[pool >= 0]).value_counts()
    pool_ips = idf.loc[(idf["type"] == "ip") & (idf["df"] >= params.min_ip_sharers), "token"]
    ip_counts = (
        tokens[(tokens["type"] == "ip") & tokens["token"].isin(pool_ips)]
        .assign(pool=lambda d: pool[d["code"].to_numpy()])
        .query("pool >= 0")
        .groupby("pool")["token"]
        .nunique()
    )
    kit = tokens[tokens["type"].isin(KIT_TYPES)].copy()
    kit["pool"] = pool[kit["code"].to_numpy()]
    kit = kit[kit["pool"] >= 0]
    if kit.empty:
        return []
    counts = kit.groupby(["pool", "type", "token"], sort=False)["code"].nunique().rename("in_pool").reset_index()
    counts["size"] = counts["pool"].map(sizes)
    counts = counts[
        (counts["in_pool"] >= params.min_pool_accounts) & (counts["in_pool"] >= params.kit_share * counts["size"])
    ]
    counts = counts.merge(idf[["type", "token", "df", "idf"]], on=["type", "token"])
    if counts.empty:
        return []
    denom = math.log(max(n_accounts, 3) / 2.0)
    outside = (counts["df"] - counts["in_pool"] + 1).clip(lower=1).to_numpy(dtype=float)
    counts["coherent_idf"] = np.clip(np.log(n_accounts / outside) / denom, 0.0, 1.0)
    counts = counts[(counts["coherent_idf"] >= params.min_coherent_idf) & (counts["coherent_idf"] > counts["idf"])]
    counts["anchor"] = counts["type"] == "tpl"
    counts = counts[counts["pool"].isin(counts.loc[counts["anchor"], "pool"])]
    counts["gain"] = (counts["coherent_idf"] - counts["idf"]) * counts["in_pool"]
    counts = counts.sort_values(["gain", "type", "token"], ascending=[False, True, True]).head(params.max_kits)
    if counts.empty:
        return []
    members = kit.merge(counts[["pool", "type", "token", "anchor"]], on=["pool", "type", "token"])
    anchored = set(members.loc[members["anchor"], "code"])
    members = members[members["anchor"] | members["code"].isin(anchored)]
    groups = {k: np.unique(g["code"].to_numpy()) for k, g in members.groupby(["pool", "type", "token"], sort=False)}
    kits = [
        Kit(
            int(r.pool),
            str(r.type),
            str(r.token),
            groups[(r.pool, r.type, r.token)],
            float(r.idf),
            float(r.coherent_idf),
            int(r.size),
            int(ip_counts.get(r.pool, 0)),
            bool(r.anchor),
        )  # fmt: skip
        for r in counts.itertuples(index=False)
        if (r.pool, r.type, r.token) in groups
    ]
    log.info(
        "link: %d egress pool(s) with %d kit token(s) (largest pool %d accounts)",
        counts["pool"].nunique(),
        len(kits),
        int(sizes.max()),
    )
    return kits


def apply_kits(
    raw: dict[str, np.ndarray], pairs: np.ndarray, kits: list[Kit], n_codes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Raise kit tokens to their coherent IDF for pairs inside the pool; return the pool signal.

    Args:
        raw: Type -> per-pair summed IDF (modified in place).
        pairs: ``(P, 2)`` account codes.
        kits: From :func:`find_kits`.
        n_codes: Number of account codes.

    Returns:
        ``(pool, size)``: per pair, the best coherent IDF of an anchor both ends carry (0 when none),
        and the size of that pool (0 when none).
    """
    pool_signal = np.zeros(len(pairs))
    pool_size = np.zeros(len(pairs), dtype=np.int64)
    if not kits or len(pairs) == 0:
        return pool_signal, pool_size
    mem = np.zeros(n_codes, dtype=bool)
    for k in kits:
        mem[:] = False
        mem[k.members] = True
        both = mem[pairs[:, 0]] & mem[pairs[:, 1]]
        if not both.any():
            continue
        if k.type in raw:
            raw[k.type][both] += k.coherent_idf - k.idf
        if not k.anchor:
            continue
        better = both & (k.coherent_idf > pool_signal)
        pool_signal[better] = k.coherent_idf
        pool_size[better] = k.pool_accounts
    return pool_signal, pool_size
