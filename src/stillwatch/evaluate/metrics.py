"""Evaluation metrics against ground-truth labels (provider-logs-v1 §6; findings-v1 "Evaluation output").

* per abuse kind: precision and recall over accounts, recall over exchanges, campaigns found,
  median and 90th-percentile time to detect;
* secondary positives: the simulator gives every account one label (its population's kind) and
  also labels single exchanges (``entity: exchange``, e.g. each jailbreak attempt of a
  ban-evasion account). A flagged account labelled with another kind whose *own exchanges* are
  labelled with the flagged kind (the exchange label's ``account_id``) is counted correct for
  precision, not as a false positive and not as a positive for recall (a benign-labelled
  account never is); ``precision_strict``
  counts only the account label (one label per account), ``secondary_positives`` how many;
* per benign group: false-positive rate (accounts with any non-shadow finding) with a 95 % Wilson
  interval;
* sub-routing: absolute error of the share estimate and whether its interval covered the truth.

Time to detect is ``first_flagged_at − max(active_from, first exchange of the account in the
logs)``: an account that existed before the data window cannot be detected before its first
logged exchange.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from stillwatch.detect.findings import Finding, parse_ts
from stillwatch.exceptions import InputFormatError

ABUSE_KINDS: tuple[str, ...] = ("relay", "subrouting", "subsidiary", "distillation", "ban_evasion", "jailbreak")


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes out of ``n`` (95 % by default)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def read_labels(path: Path | str) -> list[dict[str, Any]]:
    """Read ``labels.jsonl``.

    Raises:
        InputFormatError: A line is not a JSON object with ``entity``, ``id`` and ``label``.
    """
    out = []
    for n, line in enumerate(Path(path).read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputFormatError(f"{path}:{n}: not JSON: {exc}") from exc
        if not isinstance(obj, dict) or not {"entity", "id", "label"} <= obj.keys():
            raise InputFormatError(f"{path}:{n}: a label needs entity, id and label")
        out.append(obj)
    return out


def _quantile(values: list[float], q: float) -> float | None:
    return float(np.quantile(values, q)) if values else None


def _returning_operators(found: dict[str, Finding], extra: set[str], acct: dict[str, dict[str, Any]]) -> set[str]:
    """Ban-evasion findings on accounts labelled with another abuse kind that name an enforced
    account of the same campaign (= operator): a banned operator's replacement account (e.g. a hydra
    pool member created after a pool-mate was banned). The simulator gives every account one label
    (its campaign's kind), so these are not in the ``ban_evasion`` positives, but they are what ban
    evasion is and count as correct for precision (not for recall); benign accounts and accounts
    tied to another operator's enforced account stay false positives (as in
    ``tests/link/labels_eval.py``)."""
    out = set()
    for a in extra:
        lab = acct.get(a)
        camp = (lab or {}).get("campaign_id")
        if not lab or lab["label"] == "benign" or not camp:
            continue
        olds = {str(e.value) for e in found[a].evidence if e.feature == "link.enforced_account"}
        olds |= {x for x in found[a].accounts if x != a} if not olds else set()
        if any((acct.get(o) or {}).get("campaign_id") == camp for o in olds):
            out.add(a)
    return out


def _secondary(labels: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Accounts with at least one exchange labelled with each abuse kind (``kind -> accounts``)."""
    out: dict[str, set[str]] = defaultdict(set)
    for lab in labels:
        if lab["entity"] == "exchange" and lab["label"] in ABUSE_KINDS and lab.get("account_id"):
            out[str(lab["label"])].add(str(lab["account_id"]))
    return out


def labels_before(labels: list[dict[str, Any]], active: dict[str, int], until: datetime) -> list[dict[str, Any]]:
    """The labels a replay stopped at ``until`` can be scored on.

    Benign accounts count only with an exchange before ``until`` (``active``: exchanges per
    account before it), and labelled exchanges only when sent before it. Abusive accounts are
    kept; :func:`evaluate_findings` counts those without exchanges as undetectable.
    """
    out = []
    for lab in labels:
        if lab["entity"] == "account" and lab["label"] == "benign" and not active.get(str(lab["id"]), 0):
            continue
        if lab["entity"] == "exchange":
            sent = parse_ts(lab.get("active_from"))
            if sent is None or sent >= until:
                continue
        out.append(lab)
    return out


def evaluate_findings(
    findings: list[Finding],
    labels: list[dict[str, Any]],
    exchanges_per_account: dict[str, int] | None = None,
    first_seen: dict[str, datetime] | None = None,
) -> dict[str, Any]:
    """The findings-v1 evaluation of ``findings`` against ``labels`` at account level.

    Args:
        findings: Findings (the last replay step, with replay ``first_flagged_at``).
        labels: Parsed ``labels.jsonl``.
        exchanges_per_account: Exchanges per account in the logs (for exchange recall).
        first_seen: First logged exchange per account (for time to detect).

    Returns:
        A JSON-serialisable dict: ``kinds``, ``benign_groups``, ``subrouting``, ``totals``.
    """
    exchanges_per_account = exchanges_per_account or {}
    first_seen = first_seen or {}
    acct = {str(lab["id"]): lab for lab in labels if lab["entity"] == "account"}
    # an abusive account with no exchange in the logs cannot be detected from them (e.g. labelled
    # active from the day after the data ends): it is left out of the positives and counted
    unseen: dict[str, int] = defaultdict(int)
    if exchanges_per_account:
        for a in [a for a, lab in acct.items() if lab["label"] != "benign" and not exchanges_per_account.get(a, 0)]:
            unseen[str(acct.pop(a)["label"])] += 1
    flagged: dict[str, dict[str, Finding]] = defaultdict(dict)  # kind -> account -> best finding
    for f in findings:
        if f.entity == "account":
            targets = [f.entity_id]
        elif f.entity in ("cluster", "exchange"):  # exchange findings are scored at exchange level below
            targets = []
        else:
            targets = list(f.accounts)
        for a in targets:
            cur = flagged[f.kind].get(a)
            if cur is None or (f.first_flagged_at or datetime.max.replace(tzinfo=UTC)) < (
                cur.first_flagged_at or datetime.max.replace(tzinfo=UTC)
            ):
                flagged[f.kind][a] = f
    kinds: dict[str, Any] = {}
    by_exchange = _secondary(labels)
    for kind in ABUSE_KINDS:
        pos = {a for a, lab in acct.items() if lab["label"] == kind}
        pred = {a for a, f in flagged.get(kind, {}).items() if not f.shadow}
        tp = pos & pred
        returning = _returning_operators(flagged[kind], pred - pos, acct) if kind == "ban_evasion" else set()
        # a benign-labelled account stays a false positive
        secondary = {a for a in (pred - pos) & by_exchange.get(kind, set()) - returning
                     if a in acct and acct[a]["label"] != "benign"}  # fmt: skip
        ex_pos = sum(exchanges_per_account.get(a, 0) for a in pos)
        ex_tp = sum(exchanges_per_account.get(a, 0) for a in tp)
        ttd: list[float] = []
        ttd_by: dict[str, float] = {}
        for a in sorted(tp):
            f = flagged[kind][a]
            start = max(
                t for t in (parse_ts(acct[a].get("active_from")), first_seen.get(a)) if t is not None
            ) if (acct[a].get("active_from") or a in first_seen) else None  # fmt: skip
            if start is not None and f.first_flagged_at is not None:
                ttd.append(max(0.0, (f.first_flagged_at - start).total_seconds() / 3600))
                ttd_by[a] = round(ttd[-1], 1)
        camps = defaultdict(set)
        for a in pos:
            camps[acct[a].get("campaign_id") or acct[a].get("group") or a].add(a)
        found_camps = sum(1 for members in camps.values() if members & pred)
        kinds[kind] = {
            "positives": len(pos), "flagged": len(pred), "true_positives": len(tp),
            "precision": (len(tp) + len(returning) + len(secondary)) / len(pred) if pred else None,
            "precision_strict": len(tp) / len(pred) if pred else None,
            "returning_operators": len(returning),
            "secondary_positives": len(secondary), "secondary_ids": sorted(secondary),
            "recall": len(tp) / len(pos) if pos else None,
            "exchange_recall": ex_tp / ex_pos if ex_pos else None,
            "campaigns": len(camps), "campaigns_found": found_camps,
            "ttd_median_h": _quantile(ttd, 0.5), "ttd_p90_h": _quantile(ttd, 0.9),
            "missed": sorted(pos - pred), "false_positives": sorted(pred - pos - returning - secondary),
            "slowest": sorted(ttd_by.items(), key=lambda kv: (-kv[1], kv[0]))[:10],
            "labelled_without_exchanges": unseen.get(kind, 0),
        }  # fmt: skip
    any_flag = {a for by in flagged.values() for a, f in by.items() if not f.shadow}
    # a member of a non-shadow cluster finding (a linked cluster or a shared-egress pool) has a
    # finding too — the analyst opens the cluster with its members — even when the detector gave
    # it no account finding of its own
    in_clusters = {a for f in findings if f.entity == "cluster" and not f.shadow for a in f.accounts}
    cluster_only = in_clusters - any_flag
    any_flag |= in_clusters
    groups: dict[str, Any] = {}
    benign_all = [a for a, lab in acct.items() if lab["label"] == "benign"]
    for group in sorted({str(acct[a].get("group")) for a in benign_all}) + ["all_benign"]:
        members = benign_all if group == "all_benign" else [a for a in benign_all if str(acct[a].get("group")) == group]
        k = sum(1 for a in members if a in any_flag)
        lo, hi = wilson(k, len(members))
        groups[group] = {
            "accounts": len(members),
            "flagged": k,
            "fpr": k / len(members) if members else None,
            "fpr_low": lo,
            "fpr_high": hi,
            "flagged_ids": sorted(a for a in members if a in any_flag),
            "cluster_only_ids": sorted(a for a in members if a in cluster_only),
        }
    sub = []
    for a, lab in acct.items():
        if lab["label"] != "subrouting" or "restricted_share" not in lab:
            continue
        truth = float(lab["restricted_share"])
        sf = flagged.get("subrouting", {}).get(a)
        est = sf.estimate if sf is not None and sf.estimate else None
        row: dict[str, Any] = {"account_id": a, "truth": truth, "detected": sf is not None}
        if est and "restricted_share" in est:
            row.update(estimate=est["restricted_share"], low=est["low"], high=est["high"],
                       abs_error=abs(float(est["restricted_share"]) - truth),
                       covered=float(est["low"]) <= truth <= float(est["high"]))  # fmt: skip
        sub.append(row)
    errs = [r["abs_error"] for r in sub if "abs_error" in r]
    subrouting = {
        "accounts": sub,
        "mean_abs_error": float(np.mean(errs)) if errs else None,
        "max_abs_error": float(np.max(errs)) if errs else None,
        "coverage": (sum(1 for r in sub if r.get("covered")) / len(sub)) if sub else None,
    }
    ex_labels = {str(lab["id"]): lab["label"] for lab in labels if lab["entity"] == "exchange"}
    exchange_level: dict[str, Any] = {}
    for kind in sorted({v for v in ex_labels.values() if v != "benign"}):
        pos = {i for i, v in ex_labels.items() if v == kind}
        pred = {f.entity_id for f in findings if f.entity == "exchange" and f.kind == kind and not f.shadow}
        exchange_level[kind] = {"positives": len(pos), "flagged": len(pred), "true_positives": len(pos & pred),
                                "precision": len(pos & pred) / len(pred) if pred else None,
                                "recall": len(pos & pred) / len(pos) if pos else None}  # fmt: skip
    return {"kinds": kinds, "benign_groups": groups, "subrouting": subrouting, "exchange_level": exchange_level,
            "totals": {"findings": len(findings), "shadow": sum(1 for f in findings if f.shadow)}}  # fmt: skip
