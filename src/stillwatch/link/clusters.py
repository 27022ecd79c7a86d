"""Stable cluster ids across re-runs.

A cluster's id is first inherited from the previous run's ``clusters`` table when most of its
members were in one previous cluster (share of the new cluster's members ≥ ``inherit_share``, best
overlap wins, each old id used once). Otherwise it is a hash of its core: the ``core_size``
earliest-created members (ties by id). Accounts join pools over time, rarely before the founding
accounts, so the core — and the id — survive growth.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping

import pandas as pd

CORE_SIZE = 5
INHERIT_SHARE = 0.5


def core_id(members: list[str], created: Mapping[str, object] | None = None, core_size: int = CORE_SIZE) -> str:
    """``cl_`` + 16 hex of the hash of the cluster's core members."""

    def key(a: str) -> tuple[str, str]:
        ts = created.get(a) if created is not None else None
        return (str(ts) if ts is not None and not pd.isna(ts) else "~", a)

    core = sorted(sorted(members, key=key)[:core_size])
    return "cl_" + hashlib.blake2b("\x1f".join(core).encode(), digest_size=8).hexdigest()


def assign_ids(
    membership: Mapping[str, int],
    created: Mapping[str, object] | None = None,
    previous: pd.DataFrame | None = None,
    *,
    inherit_share: float = INHERIT_SHARE,
) -> dict[int, str]:
    """Cluster number -> stable id.

    Args:
        membership: ``account_id -> cluster number``.
        created: ``account_id -> created_at`` (for the core).
        previous: The previous run's ``clusters`` table (``cluster_id``, ``account_id`` rows).
        inherit_share: Share of members in one old cluster needed to inherit its id.
    """
    groups: dict[int, list[str]] = {}
    for acct, k in membership.items():
        groups.setdefault(k, []).append(acct)
    old_of: dict[str, str] = {}
    if previous is not None and len(previous) and {"cluster_id", "account_id"} <= set(previous.columns):
        old_of = dict(zip(previous["account_id"], previous["cluster_id"], strict=True))
    claims: list[tuple[float, int, str]] = []
    for k, members in groups.items():
        votes = Counter(old_of[a] for a in members if a in old_of)
        for old, n in votes.items():
            share = n / len(members)
            if share >= inherit_share:
                claims.append((share * n, k, old))
    ids: dict[int, str] = {}
    used: set[str] = set()
    for _, k, old in sorted(claims, key=lambda c: (-c[0], c[1])):
        if k in ids or old in used:
            continue
        ids[k] = old
        used.add(old)
    for k, members in groups.items():
        if k not in ids:
            cid = core_id(members, created)
            while cid in used:
                cid = "cl_" + hashlib.blake2b(cid.encode(), digest_size=8).hexdigest()
            ids[k] = cid
            used.add(cid)
    return ids
