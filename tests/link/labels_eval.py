"""Measure linking against simulator ground truth (labels.jsonl). Evaluation only — never imported by
the linker. Run: ``python -m tests.link.labels_eval DATA_DIR LABELS [UNTIL]``."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd


def read_labels(path: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Account labels and cluster labels."""
    accts, clusters = [], []
    with open(path) as fh:
        for line in fh:
            d = json.loads(line)
            if d["entity"] == "account":
                accts.append(d)
            elif d["entity"] == "cluster":
                clusters.append(d)
    return pd.DataFrame(accts), clusters


def evaluate(result: Any, labels_path: Path, findings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Floors: campaign capture, purity, ban-evader linking latency, benign collateral."""
    acc, clusters = read_labels(labels_path)
    label_of = dict(zip(acc["id"], acc["label"], strict=True))
    camp_of = {r["id"]: r.get("campaign_id") for r in acc.to_dict("records")}
    members = result.clusters_members()
    pred_of = {a: c for c, ms in members.items() for a in ms}
    out: dict[str, Any] = {"clusters": len(members), "clustered_accounts": len(pred_of)}
    # campaign capture: share of a distillation campaign's (active) accounts in its best predicted cluster
    active = set(result.activity.accounts["account_id"])
    cap = {}
    for c in clusters:
        if c["label"] != "distillation":
            continue
        accts = [a for a in c["accounts"] if a in active]
        if not accts:
            continue
        best = Counter(pred_of.get(a) for a in accts if pred_of.get(a)).most_common(1)
        cap[c["id"]] = round((best[0][1] if best else 0) / len(accts), 3)
    out["campaign_capture"] = cap
    # purity: per predicted cluster, share of the majority campaign (benign accounts count as their own id)
    pur_num = pur_den = 0
    impure = []
    for cid, ms in members.items():
        keys = Counter(camp_of.get(a) or f"benign:{a}" for a in ms)
        top = keys.most_common(1)[0][1]
        pur_num += top
        pur_den += len(ms)
        if top < len(ms):
            impure.append((cid, len(ms), dict(Counter(label_of.get(a, "?") for a in ms))))
    out["purity"] = round(pur_num / max(1, pur_den), 4)
    out["impure_clusters"] = impure[:10]
    # benign accounts inside clusters that hold abuse accounts
    benign_in_abuse = 0
    for ms in members.values():
        labs = [label_of.get(a, "benign") for a in ms]
        if any(lab != "benign" for lab in labs):
            benign_in_abuse += sum(1 for lab in labs if lab == "benign")
    out["benign_in_abuse_clusters"] = benign_in_abuse
    out["benign_clustered"] = sum(1 for a in pred_of if label_of.get(a) == "benign")
    # ban evaders: linked (finding) within first day of activity
    ev = acc[(acc["label"] == "ban_evasion")]
    firsts = result.activity.accounts.set_index("account_id")["first_ts"]
    fmap = {f["entity_id"]: f for f in (findings or [])}
    linked = within = 0
    for r in ev.to_dict("records"):
        a = r["id"]
        if a not in firsts.index:
            continue
        f = fmap.get(a)
        if f:
            linked += 1
            if pd.Timestamp(f["first_flagged_at"]) <= pd.Timestamp(firsts[a]) + pd.Timedelta(days=1):
                within += 1
    out["evaders_active"] = int(sum(1 for a in ev["id"] if a in firsts.index))
    out["evaders_linked"] = linked
    out["evaders_within_1d"] = within
    out["ban_evasion_findings"] = len(fmap)
    out["ban_evasion_fp"] = sum(1 for a in fmap if label_of.get(a) == "benign")
    out["ban_evasion_outcomes"] = ban_evasion_outcomes(result, fmap, label_of, camp_of)
    return out


def ban_evasion_outcomes(
    result: Any, fmap: dict[str, dict[str, Any]], label_of: dict[str, str], camp_of: dict[str, Any]
) -> dict[str, Any]:
    """Classify each ``ban_evasion`` finding against the labels.

    * ``evader``: the simulator labels the account ``ban_evasion``;
    * ``returning_operator``: labelled otherwise (a hydra or relay pool account) but in the same
      campaign (= operator) as an enforced account the finding names, and created after that
      enforcement: a banned operator's replacement account, which is what ban evasion is, so it
      counts as true (reported with its cluster context);
    * ``benign``: a benign account (false positive);
    * ``wrong_operator``: an abuse account tied to an enforced account of another operator (false).
    """
    enforced = set(result.enforced["account_id"]) if len(result.enforced) else set()
    counts: Counter[str] = Counter()
    wrong: list[str] = []
    for a, f in fmap.items():
        lab = label_of.get(a, "benign")
        olds = [o for o in f["accounts"] if o != a and o in enforced]
        if lab == "ban_evasion":
            counts["evader"] += 1
        elif lab == "benign":
            counts["benign"] += 1
            wrong.append(a)
        elif camp_of.get(a) and any(camp_of.get(o) == camp_of.get(a) for o in olds):
            counts["returning_operator"] += 1
        else:
            counts["wrong_operator"] += 1
            wrong.append(a)
    n = max(1, len(fmap))
    return {
        **dict(counts),
        "precision_operator": round((counts["evader"] + counts["returning_operator"]) / n, 4),
        "precision_label_only": round(counts["evader"] / n, 4),
        "false": wrong[:10],
    }


def replay_evaders(engine: Any, settings: Any, labels_path: Path) -> dict[str, Any]:
    """Re-link with ``until`` = each evader's first exchange + 1 day; count evaders flagged by then."""
    from stillwatch.link import ban_evasion_findings, link_accounts

    acc, _ = read_labels(labels_path)
    full = link_accounts(engine, settings, write=False)
    firsts = full.activity.accounts.set_index("account_id")["first_ts"]
    ev = [a for a in acc[acc["label"] == "ban_evasion"]["id"] if a in firsts.index]
    cut_of = {a: (pd.Timestamp(firsts[a]) + pd.Timedelta(days=1)).ceil("h") for a in ev}
    hit = set()
    for cut in sorted(set(cut_of.values())):
        res = link_accounts(engine, settings, until=cut.to_pydatetime(), write=False)
        flagged = {f["entity_id"] for f in ban_evasion_findings(res)}
        hit |= {a for a, c in cut_of.items() if c == cut and a in flagged}
    return {"evaders_active": len(ev), "flagged_within_1d_replay": len(hit), "missed": sorted(set(ev) - hit)}


def main() -> None:
    """CLI entry: link a store and print the floors."""
    import logging

    from stillwatch.config import load_settings
    from stillwatch.engine import get_engine
    from stillwatch.link import ban_evasion_findings, link_accounts

    logging.basicConfig(level=logging.INFO)
    data_dir, labels = Path(sys.argv[1]), Path(sys.argv[2])
    if len(sys.argv) > 3 and sys.argv[3] == "--replay":
        settings = load_settings(data_dir=data_dir)
        with get_engine(settings) as engine:
            print(json.dumps(replay_evaders(engine, settings, labels), indent=1, default=str))
        return
    until = pd.Timestamp(sys.argv[3]).to_pydatetime() if len(sys.argv) > 3 else None
    settings = load_settings(data_dir=data_dir)
    with get_engine(settings) as engine:
        res = link_accounts(engine, settings, until=until, write=False)
        fnd = ban_evasion_findings(res)
    print(json.dumps({"seconds": res.seconds, **evaluate(res, labels, fnd)}, indent=1, default=str))


if __name__ == "__main__":
    main()
