"""Checks of the shipped jailbreak detector: the held-out split, and end to end on a simulated folder.

Used by ``scripts/train_jailbreak.py --evaluate`` and ``--simulated <folder>``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from train_jailbreak import Row, evaluate, wilson

from stillwatch.detect.jailbreak_features import sysprompt_probes


def evaluate_shipped(test: list[Row]) -> None:
    """Score the held-out split with the shipped model through the detector's own code path, at its
    recall point (``threshold``) and its precision point (``finding_threshold``)."""
    from stillwatch.detect.jailbreak import load_model

    load_model.cache_clear()
    model = load_model()
    scores = model.predict_proba([r.text for r in test])
    probes = np.array([bool(sysprompt_probes(r.text)) for r in test])
    out: dict = {"model": model.version}
    for name, threshold in (("threshold", model.threshold), ("finding_threshold", model.finding)):
        out[name] = {"classifier": evaluate(scores, test, threshold),
                     "detector_with_probes": evaluate(scores, test, threshold, probes)}  # fmt: skip
    print(json.dumps(out, indent=1))


def evaluate_simulated(folder: Path) -> None:
    """Exchange and account findings of the shipped detector against a simulator's labels.

    Expects ``stillwatch --data-dir <folder>/store ingest <folder>`` to have run. The simulator
    fills the same public templates the model was trained on, so this measures the pipeline
    (scan, aggregation, bursts), not generalisation; the held-out split measures that.
    """
    from datetime import timedelta

    from stillwatch.config import load_settings
    from stillwatch.detect.jailbreak_account import run
    from stillwatch.engine import get_engine

    labels = [json.loads(line) for line in (folder / "labels.jsonl").open(encoding="utf-8") if line.strip()]
    jb_ex = {x["id"]: x["group"] for x in labels if x["entity"] == "exchange" and x["label"] == "jailbreak"}
    acc_group = {x["id"]: (x["label"], x["group"]) for x in labels if x["entity"] == "account"}
    settings = load_settings(data_dir=folder / "store")
    with get_engine(settings, "duckdb") as engine:
        t = engine.table("exchanges")
        stats = engine.execute(t.aggregate(n=t.count(), first=t.ts.min(), last=t.ts.max())).to_pylist()[0]
        until = stats["last"] + timedelta(seconds=1)
        window = (until - stats["first"]).days + 1
        t0 = time.time()
        found = run(engine, settings, until, window_days=window)
    flagged_ex = {f.entity_id for f in found if f.entity == "exchange"}
    flagged_acc = {f.entity_id for f in found if f.entity == "account"}
    out: dict = {"exchanges": stats["n"], "seconds": round(time.time() - t0, 1)}
    tp = flagged_ex & set(jb_ex)
    out["exchange_recall"] = round(len(tp) / max(1, len(jb_ex)), 4)
    out["exchange_recall_by_group"] = {
        g: round(sum(1 for e in tp if jb_ex[e] == g) / max(1, sum(1 for v in jb_ex.values() if v == g)), 4)
        for g in sorted(set(jb_ex.values()))
    }
    out["exchange_precision"] = round(len(tp) / max(1, len(flagged_ex)), 4)
    out["exchange_fpr"] = round(len(flagged_ex - set(jb_ex)) / max(1, stats["n"] - len(jb_ex)), 5)
    jb_acc = {a for a, (lab, _) in acc_group.items() if lab == "jailbreak"}
    out["account_recall"] = round(len(flagged_acc & jb_acc) / max(1, len(jb_acc)), 4)
    out["account_precision"] = round(len(flagged_acc & jb_acc) / max(1, len(flagged_acc)), 4)
    out["account_fpr_by_group"] = {}
    for group in sorted({g for lab, g in acc_group.values() if lab == "benign"}):
        members = {a for a, (lab, g) in acc_group.items() if lab == "benign" and g == group}
        k = len(members & flagged_acc)
        out["account_fpr_by_group"][group] = {"value": round(k / len(members), 4), "n": len(members),
                                              "ci95": wilson(k, len(members))}  # fmt: skip
    print(json.dumps(out, indent=1))
