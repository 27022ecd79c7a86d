"""Behavioural links: accounts sharing rare artefacts, weighted by rarity (IDF), plus lockstep timing.

For each artefact type *t* a pair's evidence is ``w_t · min(1, Σ idf(token))`` over the tokens
of that type both accounts carry, with ``idf(token) = log(N / df) / log(N / 2)`` clipped to
``[0, 1]`` (``df`` = accounts carrying the token, ``N`` = active accounts). A persona prompt used by
hundreds of unrelated customers, a cloud NAT address or a popular SDK therefore adds almost
nothing, while an egress IP or template shared by three accounts adds its full type weight.
No single weak type reaches the edge threshold on its own: an edge needs several kinds of
evidence, or one strong artefact (a shared ``metadata.user_id`` device or session id).

Candidate pairs come from tokens shared by few accounts (all pairs) and, for widely shared
tokens, from a deterministic ring over the sharers (each linked to its next ``ring_k``), so a
25,000-account pool costs ``O(n · ring_k)`` pairs rather than ``O(n²)``.

Lockstep timing (CopyCatch / SynchroTrap style) is scored on candidate pairs: co-active minutes
far above what the two accounts' own activity would give by chance.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from stillwatch.link.coherence import CoherenceParams, apply_kits, find_kits

log = logging.getLogger(__name__)

#: Default type weights (an edge needs ``threshold``; see module docstring).
DEFAULT_WEIGHTS: dict[str, float] = {
    "mdu": 1.2, "ip": 0.6, "net": 0.3, "stack": 0.3, "sys": 0.4, "tpl": 0.5, "tools": 0.3, "params": 0.15,
    "adopt": 0.2, "timing": 0.5, "pool": 0.3,
}  # fmt: skip
#: Correlated types share one family; a family contributes at most its cap, so one public artefact
#: (e.g. a popular agent's system prompt, template and tool set) counts once, not three times.
FAMILIES: dict[str, tuple[tuple[str, ...], float]] = {
    "identity": (("mdu",), 1.2), "egress": (("ip", "net", "pool"), 0.6), "content": (("sys", "tpl", "tools"), 0.6),
    "client": (("stack", "params"), 0.35), "adoption": (("adopt",), 0.2), "timing": (("timing",), 0.5),
}  # fmt: skip
#: Types strong enough to make an edge alone.
STRONG_TYPES: frozenset[str] = frozenset({"mdu"})
TYPE_NAMES: dict[str, str] = {
    "mdu": "same metadata.user_id device/session", "ip": "same egress IP", "net": "same egress /24",
    "stack": "same client stack", "sys": "same system prompt", "tpl": "same prompt template",
    "tools": "same tool set", "params": "same request parameters", "adopt": "same new-model adoption day",
    "timing": "lockstep timing", "pool": "same exclusive egress pool and kit",
}  # fmt: skip


@dataclass(frozen=True)
class BehaviourParams:
    """Parameters of behavioural linking.

    Attributes:
        weights: Type -> weight.
        threshold: Minimum pair score for an edge.
        min_types: Distinct families (see :data:`FAMILIES`) an edge needs unless a strong type is present.
        min_type_score: A family counts towards ``min_types`` only above this contribution.
        all_pairs_max_df: Tokens shared by at most this many accounts give all their pairs.
        ring_k: Ring neighbours per account for more widely shared tokens.
        max_df_share: Tokens on more than this share of active accounts are ignored outright.
        lockstep_min: Co-active minutes needed for a timing signal.
        lockstep_ratio: Observed / expected co-active minutes needed.
        record_backed_threshold: Edge threshold for pairs that also have a (weak) record link:
            two independent lines of evidence (identity records and behaviour) need less of each.
        keep_score: Non-edge pairs scoring at least this are kept as weak links (ban evasion).
        max_tokens_per_type: Only an account's most used tokens of each type count (bounds the
            reach of a huge account that touches thousands of IPs or templates).
        coherence: Coherence-aware weighting of pools (see :mod:`stillwatch.link.coherence`).
        max_edges_per_account: An edge is kept when it is among the strongest this many of either
            end (or touches a protected account); a 25,000-account pool would otherwise keep
            millions of redundant edges (every pair behind one proxy IP). Clusters need
            connectivity, not every pair.
        random_edges_per_account: Plus this many other edges of each end, picked by a fixed
            hash of the pair, so sparsification does not cut a pool into its registration waves.
        weak_families: A weak (non-edge) link is ``identifying`` when it has one of these
            families: content and client evidence alone (public agents, SDKs, personas) ties a new
            account to a banned one only when an identifying account record backs it (see
            :func:`stillwatch.link.pipeline.link_accounts`).
    """

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    threshold: float = 1.0
    min_types: int = 2
    min_type_score: float = 0.1
    all_pairs_max_df: int = 40
    ring_k: int = 4
    max_df_share: float = 0.5
    lockstep_min: int = 4
    lockstep_ratio: float = 8.0
    max_tokens_per_type: int = 64
    keep_score: float = 0.5
    record_backed_threshold: float = 0.5
    coherence: CoherenceParams = field(default_factory=CoherenceParams)
    max_edges_per_account: int = 10
    random_edges_per_account: int = 10
    weak_families: tuple[str, ...] = ("identity", "egress", "timing")


def cap_tokens(tokens: pd.DataFrame, per_type: int) -> pd.DataFrame:
    """Keep each account's ``per_type`` most used tokens of every type (ties by token)."""
    t = tokens[["account_id", "type", "token", "n"]].sort_values(
        ["account_id", "type", "n", "token"], ascending=[True, True, False, True]
    )
    sizes = t.groupby(["account_id", "type"], sort=False)["token"].transform("size")
    if (sizes > per_type).any():
        big = t.loc[sizes > per_type, "account_id"].nunique()
        log.info("link: %d account(s) carry more than %d tokens of one type; only the most used count", big, per_type)
        t = t[t.groupby(["account_id", "type"], sort=False).cumcount() < per_type]
    return t[["account_id", "type", "token"]].drop_duplicates().reset_index(drop=True)


def token_idf(
    tokens: pd.DataFrame, n_accounts: int, params: BehaviourParams, *, keep_overshared: bool = False
) -> pd.DataFrame:
    """Document frequency and IDF weight of each ``(type, token)``; drops tokens nobody shares.

    Tokens on more than ``max_df_share`` of the accounts are dropped, or kept with IDF 0 (and
    ``overshared`` true) when ``keep_overshared`` (coherence weighting may still restore them
    inside a pool).
    """
    df = tokens.groupby(["type", "token"], sort=False)["account_id"].nunique().rename("df").reset_index()
    df = df[df["df"] >= 2]
    over = df["df"] > max(2, params.max_df_share * n_accounts)
    if not keep_overshared:
        df = df[~over]
        over = over[~over]
    denom = math.log(max(n_accounts, 3) / 2.0)
    df["idf"] = np.where(over, 0.0, np.clip(np.log(n_accounts / df["df"].to_numpy(dtype=float)) / denom, 0.0, 1.0))
    df["overshared"] = over.to_numpy()
    return df


def candidate_pairs(tokens: pd.DataFrame, idf: pd.DataFrame, params: BehaviourParams) -> np.ndarray:
    """Candidate account pairs (int codes, ``a < b``) from shared tokens (see module docstring)."""
    t = tokens.merge(idf[["type", "token", "df"]], on=["type", "token"])[["type", "token", "code", "df"]]
    if t.empty:
        return np.zeros((0, 2), dtype=np.int64)
    t["tid"] = t.groupby(["type", "token"], sort=False).ngroup()
    pairs: list[np.ndarray] = []
    small = t[t["df"] <= params.all_pairs_max_df][["tid", "code"]]
    if len(small):
        m = small.merge(small, on="tid")
        m = m[m["code_x"] < m["code_y"]]
        pairs.append(m[["code_x", "code_y"]].to_numpy(dtype=np.int64))
    big = t[t["df"] > params.all_pairs_max_df][["tid", "token", "code"]].copy()
    if len(big):
        # deterministic pseudo-random order of sharers per token: a ring, each linked to its next ring_k
        big["h"] = pd.util.hash_pandas_object(big["token"].astype(str) + "|" + big["code"].astype(str), index=False)
        big = big.sort_values(["tid", "h"]).reset_index(drop=True)
        pos = big.groupby("tid").cumcount().to_numpy()
        size = big.groupby("tid")["code"].transform("size").to_numpy()
        start = np.arange(len(big)) - pos
        codes = big["code"].to_numpy()
        for k in range(1, params.ring_k + 1):
            other = codes[start + (pos + k) % size]
            pairs.append(np.stack([codes, other], axis=1))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    allp = np.sort(np.concatenate(pairs).astype(np.int64), axis=1)
    allp = allp[allp[:, 0] != allp[:, 1]]
    return _unique_pairs(allp)


def _unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """``np.unique(pairs, axis=0)`` for non-negative int pairs, through one int64 key per pair (faster)."""
    if len(pairs) == 0:
        return pairs.reshape(0, 2).astype(np.int64)
    base = int(pairs.max()) + 1
    key = np.unique(pairs[:, 0].astype(np.int64) * base + pairs[:, 1])
    return np.stack([key // base, key % base], axis=1)


def _pair_dots(m: sparse.csr_matrix, pairs: np.ndarray, cells: int = 4_000_000) -> np.ndarray:
    """``Σ_j m[a, j] · m[b, j]`` for every pair ``(a, b)`` of row indices, for *integer* data.

    Rows are multiplied a block of first ends at a time (``m[block] @ m.T``, densified to
    block × rows, at most ``cells`` values), so a row is read once per block instead of once per
    pair: copying both rows of every pair (``m[a].multiply(m[b])``) was most of the linking time
    and 8 GB of memory on the small store. Sums of integers are exact in any order; for float
    weights use :func:`_pair_sums`, which keeps the row-copy version's rounding.
    """
    out = np.zeros(len(pairs))
    if len(pairs) == 0 or m.nnz == 0:
        return out
    mt = m.T.tocsr()
    firsts = np.unique(pairs[:, 0])
    block = max(1, cells // max(m.shape[0], 1))
    for lo in range(0, len(firsts), block):
        rows = firsts[lo : lo + block]
        dense = (m[rows] @ mt).toarray()
        sel = np.flatnonzero((pairs[:, 0] >= rows[0]) & (pairs[:, 0] <= rows[-1]))
        out[sel] = dense[np.searchsorted(rows, pairs[sel, 0]), pairs[sel, 1]]
    return out


def _pair_sums(m: sparse.csr_matrix, pairs: np.ndarray, chunk: int = 4_000_000) -> np.ndarray:
    """``m[a].multiply(m[b]).sum(axis=1)`` for every pair, bit for bit, without copying rows per pair.

    For each pair the shorter row's entries are looked up in the other row (sorted keys), the
    non-zero products are kept in column order and summed with ``np.add.reduceat`` per pair: the
    same numbers, order and reduction as scipy's element-wise product and row sum. Pairs are
    processed ``chunk`` looked-up entries at a time.
    """
    out = np.zeros(len(pairs))
    if len(pairs) == 0 or m.nnz == 0:
        return out
    m = m.tocsr()
    m.sum_duplicates()  # canonical: sorted column indices, no duplicates (as scipy's product uses)
    ptr, cols, data = m.indptr, m.indices.astype(np.int64), m.data
    keys = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(ptr)) * m.shape[1] + cols
    size = np.diff(ptr)
    a, b = pairs[:, 0], pairs[:, 1]
    short = np.where(size[a] <= size[b], a, b)  # expand the shorter row, look up in the longer
    other = np.where(size[a] <= size[b], b, a)
    n_each = size[short].astype(np.int64)
    ends = np.cumsum(n_each)
    lo = 0
    while lo < len(pairs):
        hi = int(np.searchsorted(ends, (ends[lo - 1] if lo else 0) + chunk, side="right"))
        hi = max(hi, lo + 1)
        idx = np.arange(lo, hi)
        cnt = n_each[idx]
        pair = np.repeat(idx, cnt)
        start = np.repeat(ptr[short[idx]].astype(np.int64) - (np.cumsum(cnt) - cnt), cnt)
        pos = start + np.arange(int(cnt.sum()))  # entry positions of the shorter rows
        want = other[pair].astype(np.int64) * m.shape[1] + cols[pos]
        hit = np.searchsorted(keys, want)
        hit = np.minimum(hit, len(keys) - 1)
        found = keys[hit] == want
        pair, pos, hit = pair[found], pos[found], hit[found]
        # a's value times b's value, in column order (scipy multiplies a's entries by b's)
        from_a = short[pair] == a[pair]
        prod = np.where(from_a, data[pos] * data[hit], data[hit] * data[pos])
        nz = prod != 0
        pair, prod = pair[nz], prod[nz]
        if len(prod):
            first = np.r_[0, np.flatnonzero(np.diff(pair)) + 1]
            out[pair[first]] = np.add.reduceat(prod, first)
        lo = hi
    return out


def _type_scores(t: pd.DataFrame, n_codes: int, pairs: np.ndarray, types: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for typ in types:
        sub = t[t["type"] == typ]
        if sub.empty:
            out[typ] = np.zeros(len(pairs))
            continue
        tok_codes, tok_index = np.unique(sub["token"].to_numpy(), return_inverse=True)
        w = np.sqrt(sub["idf"].to_numpy(dtype=float))
        m = sparse.csr_matrix((w, (sub["code"].to_numpy(), tok_index)), shape=(n_codes, len(tok_codes)))
        out[typ] = _pair_sums(m, pairs)
    return out


def sparsify(pairs: np.ndarray, total: np.ndarray, edge: np.ndarray, k: int, r: int = 0) -> np.ndarray:
    """Mask of edges kept: among the ``k`` strongest of an end, or among ``r`` others of an end.

    The ``r`` others are picked by a fixed hash of the pair (deterministic, unrelated to score):
    the strongest edges of a pool account all point into its own registration wave, so top-k alone
    can cut a pool into waves; a few arbitrary real edges per account keep its global shape.
    """
    idx = np.flatnonzero(edge)
    out = np.zeros(len(pairs), dtype=bool)
    if k <= 0 or len(idx) == 0:
        out[idx] = True
        return out
    ends = np.concatenate([pairs[idx, 0], pairs[idx, 1]])
    which = np.concatenate([idx, idx])
    a, b = pairs[which, 0].astype(np.uint64), pairs[which, 1].astype(np.uint64)
    h = (
        (a * np.uint64(2654435761) + b * np.uint64(40503) + ends.astype(np.uint64)) * np.uint64(2246822519)
    ) >> np.uint64(16)
    for key, limit in ((-np.concatenate([total[idx], total[idx]]), k), (h, r)):
        if limit <= 0:
            continue
        order = np.lexsort((which, key, ends))
        ends_sorted = ends[order]
        first = np.r_[0, np.flatnonzero(np.diff(ends_sorted)) + 1]
        start = np.repeat(first, np.diff(np.r_[first, len(ends_sorted)]))
        rank = np.arange(len(ends_sorted)) - start
        out[which[order][rank < limit]] = True
    return out


def lockstep(minutes: pd.DataFrame, codes: dict[str, int], pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Co-active minutes of each pair and the number expected by chance.

    Expected = ``Σ_h m_a(h) · m_b(h) / 60`` over the UTC clock hours ``h``, ``m(h)`` an
    account's active minutes in that hour: the co-active minutes two accounts would have if each
    kept its own hours but used its minutes within them independently of the other. Lockstep is
    synchrony *within* the hours both are active (CopyCatch's same action within Δt), not being
    busy in the same afternoons: two benchmark sweeps or two office teams share their hours by
    habit, a scheduler drives its accounts in the same minutes.
    """
    if minutes.empty or len(pairs) == 0:
        return np.zeros(len(pairs)), np.ones(len(pairs))
    m = minutes[minutes["account_id"].isin(codes.keys())]
    code = m["account_id"].map(codes).to_numpy()
    minute = m["minute"].to_numpy(dtype=np.int64)
    uniq, col = np.unique(minute, return_inverse=True)
    mat = sparse.csr_matrix((np.ones(len(code)), (code, col)), shape=(len(codes), len(uniq)))
    co = _pair_dots(mat, pairs)
    hours, hcol = np.unique(minute // 60, return_inverse=True)
    hmat = sparse.csr_matrix((np.ones(len(code)), (code, hcol)), shape=(len(codes), len(hours)))
    hmat.sum_duplicates()  # active minutes per account and hour
    expected = _pair_dots(hmat, pairs) / 60.0
    return co, expected


def behaviour_links(
    tokens: pd.DataFrame,
    minutes: pd.DataFrame,
    params: BehaviourParams | None = None,
    extra_pairs: pd.DataFrame | None = None,
    protect: set[str] | None = None,
) -> pd.DataFrame:
    """Score candidate pairs on shared artefacts and timing; keep those that make an edge.

    Args:
        tokens: ``account_id, type, token, n`` (see :mod:`stillwatch.link.tokens`).
        minutes: ``account_id, minute`` activity.
        params: Weights and thresholds.
        extra_pairs: Optional ``a, b`` pairs to score too (e.g. record-linked pairs).
        protect: Accounts (the enforced ones) whose edges are never sparsified away; when given,
            weak links are kept only if they touch one of them (they serve ban evasion only),
            identifying or not; without it only identifying weak links are kept.

    Returns:
        ``a, b, weight, types, reasons, evidence, edge, families, identifying`` for pairs that
        make an edge (``edge`` true) or score at least ``keep_score`` over two families (weak
        links, used only for ban evasion; ``identifying`` when identity, egress or timing agree).
    """
    return score_pairs(tokens, minutes, params, extra_pairs, protect)


def score_pairs(
    tokens: pd.DataFrame,
    minutes: pd.DataFrame,
    params: BehaviourParams | None = None,
    extra_pairs: pd.DataFrame | None = None,
    protect: set[str] | None = None,
) -> pd.DataFrame:
    """Per-type evidence of every candidate pair (see :func:`behaviour_links`)."""
    params = params or BehaviourParams()
    cols = ["a", "b", "weight", "types", "reasons", "evidence", "edge", "families", "identifying"]
    if tokens.empty:
        return pd.DataFrame(columns=cols)
    accounts = sorted(
        set(tokens["account_id"]) | set(minutes["account_id"]) if not minutes.empty else set(tokens["account_id"])
    )
    codes = {a: i for i, a in enumerate(accounts)}
    n = len(accounts)
    t = cap_tokens(tokens, params.max_tokens_per_type)
    t["code"] = t["account_id"].map(codes)
    idf = token_idf(t, n, params, keep_overshared=True)
    kits = find_kits(t, idf, n, params.coherence)
    kit_keys = {(k.type, k.token) for k in kits}
    is_kit = pd.Series([(a, b) in kit_keys for a, b in zip(idf["type"], idf["token"], strict=True)], index=idf.index)
    idf = idf[~idf["overshared"] | is_kit]
    pairs = candidate_pairs(t, idf, params)
    extra = np.zeros((0, 2), dtype=np.int64)
    if extra_pairs is not None and len(extra_pairs):
        ep = extra_pairs[extra_pairs["a"].isin(codes) & extra_pairs["b"].isin(codes)]
        if len(ep):
            extra = np.sort(np.stack([ep["a"].map(codes).to_numpy(), ep["b"].map(codes).to_numpy()], axis=1), axis=1)
            pairs = _unique_pairs(np.concatenate([pairs, extra.astype(np.int64)]))
    if len(pairs) == 0:
        return pd.DataFrame(columns=cols)
    t = t.merge(idf[["type", "token", "idf"]], on=["type", "token"])
    types = [k for k in params.weights if k not in ("timing", "pool")]
    raw = _type_scores(t, n, pairs, types)
    raw["pool"], pool_size = apply_kits(raw, pairs, kits, n)
    co, expected = lockstep(minutes, codes, pairs)
    lock = (co >= params.lockstep_min) & (co >= params.lockstep_ratio * expected)
    raw["timing"] = np.where(lock, np.minimum(1.0, co / np.maximum(1.0, 4 * params.lockstep_min)), 0.0)
    contrib = {k: params.weights.get(k, 0.0) * np.minimum(1.0, v) for k, v in raw.items()}
    fam = {
        f: np.minimum(cap, np.sum([contrib[k] for k in ks if k in contrib], axis=0))
        for f, (ks, cap) in FAMILIES.items()
    }
    total = np.sum(list(fam.values()), axis=0)
    n_fams = np.sum([c >= params.min_type_score for c in fam.values()], axis=0)
    strong = np.any([contrib[k] >= params.threshold for k in STRONG_TYPES if k in contrib], axis=0)
    edge = (total >= params.threshold) & ((n_fams >= params.min_types) | strong)
    if len(extra):
        backed = np.isin(pairs[:, 0] * n + pairs[:, 1], extra[:, 0].astype(np.int64) * n + extra[:, 1])
        edge |= backed & (total >= params.record_backed_threshold)
    prot = np.zeros(n, dtype=bool)
    if protect:
        prot[[codes[a] for a in protect if a in codes]] = True
    touches = prot[pairs[:, 0]] | prot[pairs[:, 1]]
    edge &= sparsify(pairs, total, edge, params.max_edges_per_account, params.random_edges_per_account) | touches
    weak_ok = np.any([fam[f] >= params.min_type_score for f in params.weak_families if f in fam], axis=0)
    weak = ~edge & (total >= params.keep_score) & (n_fams >= 2)
    if protect is not None:
        weak &= touches
    else:
        weak &= weak_ok
    keep = np.flatnonzero(edge | weak)
    rows = []
    for i in keep:
        parts = sorted(
            ((k, float(contrib[k][i])) for k in contrib if contrib[k][i] >= params.min_type_score / 2),
            key=lambda kv: -kv[1],
        )
        ev = [{"feature": f"behaviour.{k}", "value": round(v, 3), "why": TYPE_NAMES.get(k, k)} for k, v in parts]
        if pool_size[i] > 0:
            ev.append(
                {"feature": "behaviour.pool.accounts", "value": int(pool_size[i]), "baseline": None,
                 "why": "accounts in the egress pool (IPs used only by them) whose kit both accounts carry"}
            )  # fmt: skip
        if raw["timing"][i] > 0:
            ev.append(
                {"feature": "behaviour.timing.co_minutes", "value": int(co[i]),
                 "baseline": round(float(expected[i]), 2), "why": "co-active minutes vs chance"}
            )  # fmt: skip
        rows.append(
            (accounts[pairs[i, 0]], accounts[pairs[i, 1]], float(total[i]), [k for k, _ in parts],
             [TYPE_NAMES.get(k, k) for k, _ in parts], ev, bool(edge[i]), int(n_fams[i]), bool(weak_ok[i]))
        )  # fmt: skip
    return pd.DataFrame(rows, columns=cols)
