"""Cluster findings and ``clusters.jsonl`` (findings-v1).

A cluster is reported when it is a coordinated pool (at least ``min_accounts`` accounts) *and* its
traffic shows what makes a pool abusive: extraction (chain-of-thought elicitation, grading /
reasoning / code capability concentration, one template dominating, a jump to a newly launched
model), relay indicators, or members already enforced. A company's three linked accounts doing
ordinary work are a cluster in ``clusters.jsonl`` but not a finding.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import orjson

if TYPE_CHECKING:
    from stillwatch.link.pipeline import LinkResult

DETECTOR = {"name": "link.cluster", "version": "1"}
EXTRACTION_CAPS = ("grading", "reasoning", "math", "code", "tool_use", "censorship_rewrite")


def _severity(score: float) -> str:
    return "critical" if score >= 0.9 else "high" if score >= 0.75 else "medium" if score >= 0.5 else "low"


def _signals(camp: dict[str, Any], enforced: int) -> dict[str, float]:
    caps = camp.get("capabilities") or {}
    templates = camp.get("templates") or {}
    launch = camp.get("launch_switch") or {}
    return {
        "cot_share": float(camp.get("cot_share") or 0.0),
        "extraction_capability_share": max([float(caps.get(c, 0.0)) for c in EXTRACTION_CAPS] or [0.0]),
        "grading_share": float(caps.get("grading", 0.0)),
        "top_template_share": max([float(v) for v in templates.values()] or [0.0]),
        "launch_switch_share": max([float(v.get("share_next_24h", 0.0)) for v in launch.values()] or [0.0]),
        "relay_share": float(camp.get("relay_share") or 0.0),
        "enforced_members": float(enforced),
    }


def _kind_score(sig: dict[str, float], n_accounts: int) -> tuple[str | None, float]:
    extraction = (
        min(1.0, 2.0 * sig["cot_share"] + 1.5 * sig["grading_share"]) * 0.6
        + 0.2 * min(1.0, sig["launch_switch_share"] / 0.4)
        + 0.2 * min(1.0, sig["top_template_share"] / 0.3)
    )
    size = min(1.0, math.log2(max(2, n_accounts)) / math.log2(64))
    if extraction >= 0.3:
        return "distillation", 0.4 + 0.35 * min(1.0, extraction) + 0.25 * size
    if sig["relay_share"] >= 0.2:
        return "relay", 0.35 + 0.4 * min(1.0, sig["relay_share"]) + 0.25 * size
    if sig["enforced_members"] > 0:
        return "ban_evasion", 0.4 + 0.2 * min(1.0, sig["enforced_members"] / 3) + 0.25 * size
    return None, 0.0


def cluster_kind(result: LinkResult, cluster_id: str) -> str | None:
    """The finding kind a cluster's traffic points to (``distillation``, ``relay``, ``ban_evasion``) or None."""
    members = result.clusters_members().get(cluster_id, [])
    camp = result.campaigns.get(cluster_id, {})
    if not members or not camp.get("exchanges"):
        return None
    enforced = set(result.enforced["account_id"]) if len(result.enforced) else set()
    return _kind_score(_signals(camp, sum(1 for m in members if m in enforced)), len(members))[0]


def cluster_findings(result: LinkResult, *, min_accounts: int = 3, min_score: float = 0.5) -> list[dict[str, Any]]:
    """``cluster``-entity findings (findings-v1 dicts) for suspicious clusters.

    Args:
        result: A :class:`~stillwatch.link.pipeline.LinkResult`.
        min_accounts: Smallest cluster reported.
        min_score: Findings below this score are dropped.
    """
    enforced = set(result.enforced["account_id"]) if len(result.enforced) else set()
    out = []
    for cid, members in result.clusters_members().items():
        camp = result.campaigns.get(cid, {})
        if len(members) < min_accounts or not camp.get("exchanges"):
            continue
        sig = _signals(camp, sum(1 for m in members if m in enforced))
        kind, score = _kind_score(sig, len(members))
        if kind is None or score < min_score:
            continue
        score = round(min(0.99, score), 4)
        evidence = [
            {
                "feature": "cluster.accounts",
                "value": len(members),
                "baseline": 1,
                "why": "accounts linked by shared artefacts",
            },
            {
                "feature": "cluster.exchanges_per_account_day",
                "value": camp.get("exchanges_per_account_day"),
                "baseline": None,
                "why": "per-account volume (hydra pools keep it unremarkable)",
            },
            *(
                {"feature": f"cluster.{k}", "value": round(v, 4), "baseline": 0.0, "why": k.replace("_", " ")}
                for k, v in sig.items()
                if v > 0
            ),
        ]
        edges = [
            e for e in result.edges.itertuples(index=False) if result.cluster_of(e.a) == cid == result.cluster_of(e.b)
        ]
        reasons: dict[str, int] = {}
        for e in edges:
            for r in e.reasons:
                reasons[r] = reasons.get(r, 0) + 1
        evidence.append(
            {
                "feature": "cluster.link_reasons",
                "value": dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:8]),
                "baseline": None,
                "why": "why the accounts are linked (edges per reason)",
            }
        )
        samples = [x for m in members[:50] for x in result.sample_exchanges(m, 2)][:50]
        fid = "f_" + hashlib.blake2b(f"{kind}|cluster|{cid}|{DETECTOR['name']}".encode(), digest_size=10).hexdigest()
        out.append(
            {
                "finding_id": fid,
                "kind": kind,
                "entity": "cluster",
                "entity_id": cid,
                "score": score,
                "severity": _severity(score),
                "first_flagged_at": camp.get("first_seen"),
                "window": {"from": camp.get("first_seen"), "to": camp.get("last_seen")},
                "detector": {**DETECTOR, "params": {"min_accounts": min_accounts, "min_score": min_score}},
                "evidence": evidence,
                "exchanges": samples,
                "accounts": members,
                "estimate": {
                    "exchanges": camp.get("exchanges"),
                    "accounts": len(members),
                    "span_days": camp.get("span_days"),
                    "capabilities": camp.get("capabilities", {}),
                },
            }
        )
    out.sort(key=lambda f: (-float(cast(float, f["score"])), str(f["entity_id"])))
    return out


def clusters_jsonl(result: LinkResult, path: Path | str) -> int:
    """Write ``clusters.jsonl`` (findings-v1); returns the number of clusters written."""
    rows = result.cluster_rows()
    with open(path, "wb") as fh:
        for row in rows:
            fh.write(orjson.dumps(json.loads(json.dumps(row, default=str))) + b"\n")
    return len(rows)
