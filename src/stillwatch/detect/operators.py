"""Distillation by a returning operator: an enforced account and the accounts linked to it after
its enforcement, scored as one operator.

A lone distiller (one account, its own egress, its own templates) has the extraction shape but
none of the coordination the account detector needs (shared proxy egress, templates reused by
many accounts), which is also what keeps a single benchmark researcher from being a finding. When
the account is suspended or banned and the same operator comes back with new accounts
(``stillwatch.link`` ban-evasion findings), that persistence across an enforcement action is the
coordination: a researcher does not get banned and return under new identities. The operator's
accounts are summed (volume-weighted, like a linked cluster, research/anchors-detection.md: "the
campaign is only visible in aggregate") and scored with the account detector's fitted baseline.

Because the link is weaker coordination than a proxy pool, the summed shape must include a
*content* extraction sign (chain-of-thought elicitation, benchmark coverage, capability
concentration or a shift to a newly launched model): scripted repetition alone (one template,
single-shot requests) is also what a jailbreak fuzzer or a batch job sends. An operator whose
traffic is known jailbreak templates (``jailbreak_share`` >= 0.1) is not one: repeating one wrapper
concentrates the template and the capability tags of its text by construction. Nor is one whose
traffic carries relay software (the account and pool rule: a relay operator's replacement pool
account is resale, reported as ban evasion with its relay cluster).

Findings: one ``cluster`` finding per operator (detector ``distillation_operator``) and an
``account`` finding for each enforced member. The returning accounts keep their ``ban_evasion``
findings — that is what they are — which name the enforced account.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from stillwatch.detect import distillation
from stillwatch.detect.base import squash
from stillwatch.detect.evidence import Evidence, has_non_language_evidence
from stillwatch.detect.findings import Finding

#: Extraction signs that describe *what* is collected (not merely scripted repetition).
CONTENT_SIGNS = ("cot_share", "bench_share", "cap_max_share", "new_model_share")
#: Summed share of known jailbreak templates (enrichment's ``jailbreak_share``) at which the
#: operator's traffic is jailbreak attempts: one wrapper repeated single-shot concentrates the
#: template and the capability tags of its text by construction (the jailbreak account rule's
#: ``min_share``).
JAILBREAK_SHARE = 0.1
#: Coordination strength credited to an operator that returned after enforcement (a proxy pool
#: of 2-3 accounts gives 1.5-2.1 on the same scale).
RETURN_STRENGTH = 2.0


def operator_groups(ban_findings: list[Finding]) -> dict[str, dict[str, Any]]:
    """Operators from ban-evasion findings: ``{enforced account: {"returning": [...], "why": str}}``.

    Each returning account is attached to the enforced account of its strongest link (the first
    ``link.enforced_account`` item of its evidence).
    """
    out: dict[str, dict[str, Any]] = {}
    for f in ban_findings:
        if f.kind != "ban_evasion" or f.entity != "account":
            continue
        olds = [e for e in f.evidence if e.feature == "link.enforced_account"]
        if not olds:
            continue
        g = out.setdefault(str(olds[0].value), {"returning": [], "why": olds[0].why})
        if f.entity_id not in g["returning"]:
            g["returning"].append(f.entity_id)
    return out


def _summed(frame: pd.DataFrame, members: list[str]) -> dict[str, Any] | None:
    m = frame[frame["account_id"].isin(members)]
    w = pd.to_numeric(m["n_exchanges"], errors="coerce").fillna(0).to_numpy(dtype=float)
    if len(m) < 2 or w.sum() <= 0:
        return None
    row: dict[str, Any] = {"n_exchanges": float(w.sum()), "pool_k_eff": float(w.sum() ** 2 / (w**2).sum())}
    for c in (*distillation.SHAPE, "jailbreak_share"):
        if c in m.columns:
            row[c] = float(np.average(pd.to_numeric(m[c], errors="coerce").fillna(0.0), weights=w))
    caps = [c for c in m.columns if c.startswith("cap_") and c.endswith("_share") and c != "cap_max_share"]
    if caps:
        capw = {c: float(np.average(m[c].fillna(0.0), weights=w)) for c in caps}
        name = max(capw, key=lambda k: capw[k])
        row["cap_max_share"], row["cap_max_name"] = capw[name], name[4:-6]
    row["relay_strong_hits"] = float(distillation._col(m, "relay_strong_hits").sum())
    row["_members"] = sorted(m["account_id"].astype(str))
    return row


def operator_findings(
    frame: pd.DataFrame,
    ban_findings: list[Finding],
    window: tuple[datetime, datetime],
    samples: dict[str, list[str]] | None = None,
    detector: distillation.DistillationDetector | None = None,
) -> list[Finding]:
    """Distillation findings for operators who returned after enforcement with extraction traffic.

    Args:
        frame: The per-account frame of the window (``build_input(...).frame``).
        ban_findings: ``ban_evasion`` findings of the same window (``detect --link``).
        window: ``(window_from, window_to)``.
        samples: Sample request ids per account.
        detector: Distillation detector (fitted here on ``frame`` when not fitted).

    Returns:
        Cluster findings and account findings for the enforced members.
    """
    groups = operator_groups(ban_findings)
    if not groups:
        return []
    frame = distillation.add_derived(frame)
    det = detector or distillation.DistillationDetector()
    if not det.is_fitted():
        det.fit(frame)
    samples = samples or {}
    rows = []
    for old, g in sorted(groups.items()):
        row = _summed(frame, [old, *g["returning"]])
        if row is not None:
            rows.append({**row, "account_id": old, "entity_id": old, "_enforced": old, "_why": g["why"]})
    if not rows:
        return []
    cf = pd.DataFrame(rows)
    shape, _, st = det._parts(cf)
    content = np.max(np.stack([st[c] for c in CONTENT_SIGNS], axis=1), axis=1)
    n = cf["n_exchanges"].to_numpy(dtype=float)
    jb = distillation._col(cf, "jailbreak_share")
    relay_sw = distillation._col(cf, "relay_strong_hits") > 0  # relay software: a relay operator (score_frame rule)
    ok = (shape >= 1.0) & (content >= 1.0) & (n >= det.min_exchanges) & (jb < JAILBREAK_SHARE) & ~relay_sw
    scores = squash(shape + RETURN_STRENGTH, det.midpoint)
    evs = det.evidence(cf)
    desc = {**det.describe(), "name": "distillation_operator"}
    out: list[Finding] = []
    for i, r in enumerate(rows):
        if not ok[i] or scores[i] < 0.5:
            continue
        members, old = r["_members"], r["_enforced"]
        returning = [a for a in members if a != old]
        link = Evidence(
            "operator.returned_after_enforcement", {"enforced": old, "returning": returning},
            "a researcher or customer is not enforced and does not come back under new accounts",
            f"the operator of {old} came back with {len(returning)} new account(s) linked to it after its "
            f"enforcement ({r['_why']}), with the same extraction traffic", "account", RETURN_STRENGTH,
        )  # fmt: skip
        summed = [Evidence(f"operator.{e.feature}", e.value, e.baseline,
                           f"summed over the operator's {len(members)} accounts: {e.why}", e.family, e.strength)
                  for e in evs[i]]  # fmt: skip
        items = [link, *summed]
        if not has_non_language_evidence(items):
            continue
        cid = "op-" + hashlib.blake2b(old.encode(), digest_size=6).hexdigest()
        ex = [x for a in members for x in samples.get(a, [])[:5]][:50]
        est = {"exchanges": int(r["n_exchanges"]), "accounts": len(members),
               "span_days": (window[1] - window[0]).days, "capabilities": {}}  # fmt: skip
        score = float(scores[i])
        out.append(Finding("distillation", "cluster", cid, score, desc, items, ex, members, window[0], window[1],
                           status=det.status, estimate=est))  # fmt: skip
        out.append(Finding("distillation", "account", old, score, desc, items, samples.get(old, []), [old],
                           window[0], window[1], status=det.status))  # fmt: skip
    return out
