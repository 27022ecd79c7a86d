"""Who is behind an account's jailbreak candidates: actors, template clusters and bursts.

Helpers of :func:`stillwatch.detect.jailbreak_account.account_frame`:

* :func:`end_user` — the end user of an exchange (``metadata.user_id`` device);
* :func:`actor_groups` — the actors of one account: identified end users, throw-away ids pooled
  into one actor, and the account itself for exchanges without an id;
* :func:`attempt_units` — one id per attempt (same text variant or same conversation);
* :func:`top_actor` — distinct confident attempts and their share for the actor with the most;
* :func:`near_clusters` — near-duplicate template clusters (MinHash LSH, union-find);
* :func:`max_burst` — most distinct variants within a time window.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np

from stillwatch.enrich.client import parse_metadata_user_id
from stillwatch.enrich.templates import band_keys


def end_user(metadata_user_id: Any) -> str | None:
    """The end user behind an exchange: the device (or plain user) id of ``metadata.user_id``."""
    if not isinstance(metadata_user_id, str) or not metadata_user_id.strip():
        return None
    device, _ = parse_metadata_user_id(metadata_user_id)
    return device


def actor_groups(
    actors: list[str | None],
    flagged: np.ndarray,
    account_total: int,
    user_totals: dict[str, int],
    rotate_share: float = 0.5,
) -> tuple[dict[str, tuple[list[int], int]], int]:
    """The actors behind an account's flagged exchanges: ``{actor: (row indices, its exchanges)}``
    and the number of end users with a flagged exchange.

    Exchanges without an end-user id belong to the account itself (rated on the account's
    exchanges without an id); identified users are rated on their own exchanges, and users whose
    own traffic is mostly flagged (``rotate_share``: throw-away ids) are pooled into one actor
    rated on the whole account's traffic (a fuzzer rotating ids sends little else; a big gateway's
    one-off users who each paste a jailbreak are a small share of it).
    """
    idx = [int(i) for i in np.flatnonzero(flagged)]
    ids = {a for a in (actors[i] for i in idx) if a is not None}
    if not ids:
        return {"*account": (idx, account_total)}, 0
    hits = {a: [i for i in idx if actors[i] == a] for a in ids}
    rotating = {a for a in ids if len(hits[a]) >= rotate_share * max(1, user_totals.get(a, len(hits[a])))}
    groups: dict[str, tuple[list[int], int]] = {}
    for a in sorted(ids - rotating):
        groups[a] = (hits[a], max(len(hits[a]), user_totals.get(a, 0)))
    if rotating:  # the account acting through throw-away ids: rated on the account's traffic
        groups["*rotating"] = ([i for a in sorted(rotating) for i in hits[a]], account_total)
    anon = [i for i in idx if actors[i] is None]
    if anon:
        groups["*account"] = (anon, max(len(anon), account_total - sum(user_totals.values())))
    return groups, len(ids)


class _UnionFind:
    """Disjoint sets over ``0..n-1`` (path halving); a union hangs ``i``'s root under ``j``'s."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[ri] = rj

    def labels(self) -> list[int]:
        """The root of every element (equal labels = one set)."""
        return [self.find(i) for i in range(len(self.parent))]


def attempt_units(variants: list[str], conversations: list[str]) -> list[int]:
    """One id per distinct attempt: rows with the same text variant, or from the same conversation,
    are one attempt (union-find over both keys).

    A conversation is its opening (system prompt and first user turn): the follow-up turns of one
    conversation in which a user tries several extraction probes or rephrasings are one attempt,
    so one curious session is not "many distinct jailbreaks"; an operator running jailbreaks opens
    attempt after attempt.
    """
    sets = _UnionFind(len(variants))
    for keys in (variants, conversations):
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            sets.union(i, first.setdefault(k, i))
    return sets.labels()


def top_actor(
    groups: dict[str, tuple[list[int], int]], confident: np.ndarray, units: list[int], min_share: float
) -> tuple[int, float]:
    """Distinct confident attempts (:func:`attempt_units`) and confident share of the actor with the
    most (share-weighted) attempts."""
    best = (0, 0.0)
    for rows, tot in groups.values():
        sure = [i for i in rows if confident[i]]
        d, share = len({units[i] for i in sure}), len(sure) / max(1, tot)
        if d * min(1.0, share / min_share) > best[0] * min(1.0, best[1] / min_share):
            best = (d, share)
    return best


def near_clusters(sigs: list[np.ndarray | None], near: float) -> list[int]:
    """Union-find over signatures sharing an LSH band and estimated Jaccard >= near."""
    sets = _UnionFind(len(sigs))
    buckets: dict[bytes, list[int]] = {}
    for i, sig in enumerate(sigs):
        if sig is None:
            continue
        for key in band_keys(sig):
            for j in buckets.setdefault(key, []):
                if sets.find(i) != sets.find(j) and float(np.mean(sigs[j] == sig)) >= near:  # type: ignore[operator]
                    sets.union(i, j)
            buckets[key].append(i)
    return sets.labels()


def max_burst(ts: list[datetime], variants: list[str], minutes: int) -> tuple[int, datetime | None, datetime | None]:
    """Most distinct variants within any window of ``minutes`` (two pointers over sorted ts)."""
    order = sorted(range(len(ts)), key=ts.__getitem__)
    best, lo, window = 0, 0, timedelta(minutes=minutes)
    span: tuple[datetime | None, datetime | None] = (None, None)
    for hi in range(len(order)):
        while ts[order[hi]] - ts[order[lo]] > window:
            lo += 1
        n = len({variants[order[k]] for k in range(lo, hi + 1)})
        if n > best:
            best, span = n, (ts[order[lo]], ts[order[hi]])
    return best, span[0], span[1]
