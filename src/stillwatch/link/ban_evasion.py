"""Ban evasion: a new account linked, by record or behaviour, to an account already enforced.

An account is *enforced* from its first ``suspend`` or ``ban`` action (``warn`` and ``throttle``
are history, not a ban). A *new* account is one created (or, without a creation time, first
seen) after that moment. It becomes a ``ban_evasion`` finding as soon as it has exchanges before
``until``; ``first_flagged_at`` is the data time when all three held (enforced, linked, active).
Direct edges carry their own reasons; membership of the same cluster as an enforced account,
without a direct edge, gives a weaker finding whose evidence names the cluster.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from stillwatch.link.report import cluster_kind
from stillwatch.link.tokens import utc

if TYPE_CHECKING:
    from stillwatch.link.pipeline import LinkResult

DETECTOR = {"name": "link.ban_evasion", "version": "1"}
ENFORCING_ACTIONS = ("suspend", "ban")
MAX_EXCHANGES = 50


def enforced_accounts(enforcement: pd.DataFrame, until: datetime | None = None) -> pd.DataFrame:
    """``account_id, enforced_at, action, reason`` of accounts suspended or banned before ``until``."""
    cols = ["account_id", "enforced_at", "action", "reason"]
    if enforcement is None or enforcement.empty:
        return pd.DataFrame(columns=cols)
    e = enforcement.copy()
    e["ts"] = pd.to_datetime(e["ts"], utc=True, errors="coerce")
    e = e[e["action"].astype(str).str.lower().isin(ENFORCING_ACTIONS) & e["ts"].notna()]
    if until is not None:
        e = e[e["ts"] < pd.Timestamp(utc(until))]
    if e.empty:
        return pd.DataFrame(columns=cols)
    e = e.sort_values("ts").groupby("account_id", as_index=False).first()
    return e.rename(columns={"ts": "enforced_at"})[cols].reset_index(drop=True)


def _severity(score: float) -> str:
    return "critical" if score >= 0.9 else "high" if score >= 0.75 else "medium" if score >= 0.5 else "low"


def _finding_id(account: str) -> str:
    return (
        "f_" + hashlib.blake2b(f"ban_evasion|account|{account}|{DETECTOR['name']}".encode(), digest_size=10).hexdigest()
    )


def ban_evasion_findings(result: LinkResult, *, min_score: float = 0.5) -> list[dict[str, Any]]:
    """``ban_evasion`` findings (findings-v1 dicts) for new accounts linked to enforced ones.

    Args:
        result: A :class:`~stillwatch.link.pipeline.LinkResult`.
        min_score: Findings below this score are dropped.

    Returns:
        One finding per evading account, best link first in its evidence.
    """
    enforced = result.enforced
    if enforced.empty or result.edges.empty:
        return []
    enf = enforced.set_index("account_id")
    created = result.accounts.set_index("account_id")["created_at"] if len(result.accounts) else pd.Series(dtype=object)
    act = result.activity.accounts.set_index("account_id") if len(result.activity.accounts) else None
    if act is None:
        return []
    cluster_of = result.membership
    candidates: dict[str, list[dict[str, Any]]] = {}
    links = pd.concat([result.edges[["a", "b", "weight", "kinds", "reasons"]], result.weak_links], ignore_index=True)
    for e in links.itertuples(index=False):
        for new, old in ((e.a, e.b), (e.b, e.a)):
            if old not in enf.index or new in enf.index and enf.loc[new, "enforced_at"] <= enf.loc[old, "enforced_at"]:
                continue
            candidates.setdefault(new, []).append(
                {
                    "old": old,
                    "weight": float(e.weight),
                    "reasons": list(e.reasons),
                    "kinds": list(e.kinds),
                    "direct": True,
                }
            )
    for cid, members in result.clusters_members().items():
        olds = [m for m in members if m in enf.index]
        if not olds:
            continue
        for new in members:
            if new not in candidates and new not in enf.index:
                candidates[new] = [
                    {
                        "old": olds[0],
                        "weight": 0.6,
                        "reasons": [f"same cluster {cid}"],
                        "kinds": ["cluster"],
                        "direct": False,
                    }
                ]
    out = []
    kinds: dict[str, str | None] = {}
    for new, found in candidates.items():
        if new not in act.index:
            continue
        found = sorted(found, key=lambda x: -x["weight"])
        best = found[0]
        enforced_at = pd.Timestamp(enf.loc[best["old"], "enforced_at"])
        c = created.get(new) if new in created.index else None
        born = pd.Timestamp(c) if c is not None and not pd.isna(c) else pd.Timestamp(act.loc[new, "first_ts"])
        if born.tzinfo is None:
            born = born.tz_localize("UTC")
        if born < enforced_at:
            continue
        first_ts = pd.Timestamp(act.loc[new, "first_ts"])
        if first_ts.tzinfo is None:
            first_ts = first_ts.tz_localize("UTC")
        flagged = max(first_ts, enforced_at, born)
        n_direct = sum(1 for x in found if x["direct"])
        score = float(
            np.clip(0.35 + 0.45 * min(1.0, best["weight"]) + 0.1 * min(2, n_direct - 1 if n_direct else 0), 0, 0.99)
        )
        if not best["direct"]:
            score = min(score, 0.6)
        if score < min_score:
            continue
        evidence = [
            {
                "feature": "link.enforced_account",
                "value": x["old"],
                "baseline": None,
                "why": f"linked to an account enforced at {pd.Timestamp(enf.loc[x['old'], 'enforced_at']).isoformat()} "
                f"({enf.loc[x['old'], 'action']}: {enf.loc[x['old'], 'reason']}); "
                f"link weight {x['weight']:.2f}: {', '.join(x['reasons'])}",
            }
            for x in found[:5]
        ]
        evidence.append(
            {
                "feature": "link.created_after_enforcement_hours",
                "value": round((born - enforced_at).total_seconds() / 3600, 1),
                "baseline": 0,
                "why": "account created after the linked account was enforced",
            }
        )
        out.append(
            {
                "finding_id": _finding_id(new),
                "kind": "ban_evasion",
                "entity": "account",
                "entity_id": new,
                "score": round(score, 4),
                "severity": _severity(score),
                "first_flagged_at": flagged.isoformat(),
                "window": {"from": first_ts.isoformat(), "to": pd.Timestamp(act.loc[new, "last_ts"]).isoformat()},
                "detector": {**DETECTOR, "params": json.loads(json.dumps(result.params_dict(), default=str))},
                "evidence": evidence,
                "exchanges": result.sample_exchanges(new, MAX_EXCHANGES),
                "accounts": sorted({new, *(x["old"] for x in found)}),
            }
        )
        if new in cluster_of:
            cid = result.cluster_ids[cluster_of[new]]
            out[-1]["evidence"].append(
                {
                    "feature": "link.cluster_id",
                    "value": cid,
                    "baseline": None,
                    "why": "the linked-account cluster this account belongs to",
                }
            )
            kind = kinds.setdefault(cid, cluster_kind(result, cid))
            if kind in ("distillation", "relay"):
                out[-1]["evidence"].append(
                    {
                        "feature": "link.cluster_kind",
                        "value": kind,
                        "baseline": None,
                        "why": f"a replacement account in a {kind} pool whose member was enforced: the same "
                        f"operator returning (see the cluster's {kind} finding)",
                    }
                )
    out.sort(key=lambda f: (-f["score"], f["entity_id"]))
    return out
