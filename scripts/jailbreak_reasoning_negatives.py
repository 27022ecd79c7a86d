"""Hard negatives for the jailbreak classifier: prompts that ask the model to reason, grade or rewrite.

Synthetic-data and evaluation pipelines send prompts that share surface traits with jailbreak
wrappers ("I want you to act as …", long instructions about how to answer, rules for the output,
"ignore …" in a rubric) without asking the model to drop its rules. The first classifier had
never seen them as negatives and flagged them. Four groups, all built from the shared corpora at
training time (nothing here is shipped):

* ``cot_en`` / ``cot_zh`` — benchmark questions (GSM8K train, MMLU, AGIEval, CMMLU) with a
  chain-of-thought cue ("think step by step", "show your reasoning", "逐步推理" …) before or
  after the question. Cue phrases and questions are each split by the shared hash rule, so the
  held-out rows pair held-out cue phrasings with held-out questions;
* ``judge`` — LLM-as-judge prompts: a generic grading wrapper (score against a rubric, compare
  two answers, check a reference) filled with a real question and a real model answer
  (AlpacaEval GPT-4 answers, MT-bench GPT-4 references). Wrappers are split by the hash rule;
* ``meta_prompt`` — synthetic-data meta-prompts of the ``distilabel`` templates (UltraFeedback,
  Prometheus, Evol-Instruct/Evol-Quality mutations, Self-Instruct, embedding-data generators …),
  the Alpaca and BELLE self-instruct prompts, rendered with seed instructions and answers.
  They are split by **family** (templates whose masked MinHash Jaccard is >= 0.3, or that share
  a name prefix, are one family), so no near-copy of a held-out meta-prompt is trained on.

Every key goes through the same ``holdout`` rule as the rest of the training data.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from stillwatch.simulate.corpora_io import iter_jsonl as _jsonl

#: Chain-of-thought cue phrases (English), written for this data set in the styles of the papers
#: that popularised them (zero-shot CoT, plan-and-solve, "show your work" exam instructions).
COT_EN = (
    "Let's think step by step.",
    "Think step by step before answering.",
    "Show your reasoning, then give the final answer.",
    "Explain your reasoning step by step and put the final answer at the end.",
    "Work through the problem carefully and show all of your steps.",
    "First devise a plan, then carry out the plan step by step to solve the problem.",
    "Please reason about this carefully before you answer.",
    "Walk me through your thought process.",
    "Solve it and explain each step of your solution.",
    "Take a deep breath and work on this problem step by step.",
    "Break the problem into smaller parts and reason through each one.",
    "Give a detailed chain of reasoning, then state the answer as 'The answer is X'.",
    "Before answering, think out loud about what the question is really asking.",
    "Show your work.",
    "Reason step by step, and double-check your answer at the end.",
    "Let's work this out in a step by step way to be sure we have the right answer.",
)
#: Chain-of-thought cue phrases (Chinese).
COT_ZH = (
    "让我们一步一步地思考。",
    "请逐步推理，并给出最终答案。",
    "请写出详细的解题过程。",
    "请先分析题目，再一步步给出答案。",
    "请展示你的推理过程。",
    "请一步一步思考后作答。",
    "请逐步分析每个选项，最后给出正确答案。",
    "先列出解题思路，再计算结果。",
    "请详细说明你的思考过程，最后用“答案是X”的格式回答。",
    "请仔细思考，分步骤解答。",
    "在回答之前，请先解释你的推理。",
    "请给出完整的推理链条。",
)
#: Generic LLM-as-judge wrappers (``{q}`` question, ``{a}`` answer, ``{b}`` second answer or reference).
JUDGE = (
    "Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant "
    "to the user question below. Consider helpfulness, relevance, accuracy, depth and level of detail. "
    "Begin with a short explanation, then rate the response on a scale of 1 to 10 in the format "
    "\"Rating: [[5]]\".\n\n[Question]\n{q}\n\n[The Start of Assistant's Answer]\n{a}\n[The End of Assistant's Answer]",
    "You are a strict grader. Score the answer below from 1 to 10 against the rubric.\nRubric:\n- correctness "
    "(0-4)\n- completeness (0-3)\n- clarity (0-3)\nReturn JSON with the fields score and justification.\n\n"
    "Question: {q}\n\nAnswer: {a}",
    "Compare the two responses to the user's request and decide which one is better. Do not let the order of "
    'the responses or their length influence your decision. Output "A", "B" or "tie" followed by a '
    "one-sentence reason.\n\nRequest: {q}\n\nResponse A: {a}\n\nResponse B: {b}",
    "Grade the student's answer using the reference answer. Mark it CORRECT or INCORRECT and explain any "
    "mistake.\n\nQuestion: {q}\nReference answer: {b}\nStudent answer: {a}",
    "Evaluate the following answer for factual accuracy. List every claim that is wrong or unsupported, then "
    "give an overall score between 0 and 100.\n\nPrompt: {q}\n\nModel output:\n{a}",
    "Below is a question and a candidate reply. Rate the reply on harmlessness, honesty and helpfulness, each "
    "on a 1-5 Likert scale, and give your reasoning before the scores.\n\n### Question\n{q}\n\n### Reply\n{a}",
    "请作为公正的评审，根据评分标准对下面AI助手的回答打分（1-10分），先给出简短的评价，再以“评分：X”的格式输出分数。\n\n"
    "【问题】\n{q}\n\n【回答】\n{a}",
    "I'll give you a task and a model's answer. Check whether the answer follows every instruction in the task. "
    "Reply with a score from 1 (ignores the instructions) to 5 (follows all of them) and quote the parts that "
    "violate an instruction.\n\nTask: {q}\n\nAnswer: {a}",
)
_JINJA_FAMILY = re.compile(r"__.*$")


def _questions(data: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(key, text)`` benchmark questions in English and Chinese (with their options)."""
    en: list[tuple[str, str]] = []
    zh: list[tuple[str, str]] = []
    for i, row in enumerate(_jsonl(data / "gsm8k" / "train.jsonl.gz")):
        en.append((f"gsm8k-train-{i}", row["question"]))
    for i, row in enumerate(_jsonl(data / "mmlu" / "mmlu_test.jsonl.gz")):
        opts = "\n".join(f"{chr(65 + j)}. {c}" for j, c in enumerate(row["choices"]))
        en.append((f"mmlu-{i}", f"{row['question']}\n{opts}"))
    for i, row in enumerate(_jsonl(data / "agieval" / "agieval_v1.jsonl.gz")):
        text = (row.get("passage") or "") + "\n" + row["question"] + "\n" + "\n".join(row.get("options") or [])
        target = zh if row["subset"].startswith("gaokao") and row["subset"] != "gaokao-english" or "zh" in row[
            "subset"] else en  # fmt: skip
        target.append((f"agieval-{i}", text.strip()))
    for i, row in enumerate(_jsonl(data / "cmmlu" / "cmmlu_test.jsonl.gz")):
        opts = "\n".join(f"{k}. {row[k]}" for k in "ABCD" if k in row)
        zh.append((f"cmmlu-{i}", f"{row['question']}\n{opts}"))
    return en, zh


def _answers(data: Path) -> list[tuple[str, str, str]]:
    """``(key, question, answer)`` pairs with a real model answer."""
    out = [(f"alpaca_eval-{i}", r["instruction"], r["output"])
           for i, r in enumerate(_jsonl(data / "alpaca-eval" / "alpaca_eval_gpt4_0314.jsonl.gz"))]  # fmt: skip
    refs = {r["question_id"]: r for r in _jsonl(data / "mt-bench" / "mt_bench_reference_gpt-4.jsonl")}
    for r in _jsonl(data / "mt-bench" / "mt_bench_questions.jsonl"):
        ref = refs.get(r["question_id"])
        if ref:
            answer = (ref.get("choices") or [{}])[0].get("turns", [""])[0]
            out.append((f"mtbench-{r['question_id']}", r["turns"][0], answer))
    return [x for x in out if x[1].strip() and x[2].strip()]


def meta_templates(data: Path) -> list[tuple[str, str, str]]:
    """``(name, family, template)`` of the synthetic-data meta-prompts (family = name prefix)."""
    out: list[tuple[str, str, str]] = []
    d = data / "distilabel-templates"
    for path in sorted((d / "templates").glob("*.jinja2")):
        out.append((path.stem, _JINJA_FAMILY.sub("", path.stem), path.read_text("utf-8")))
    for group, parts in json.loads((d / "evol_mutation_prompts.json").read_text("utf-8")).items():
        for part, prompts in parts.items():
            for name, text in prompts.items():
                out.append((f"{group}-{part}-{name}", group, text))
    out.append(("alpaca-prompt", "self-instruct-prompt", (data / "alpaca" / "prompt.txt").read_text("utf-8")))
    out.append(("belle-prompt", "self-instruct-prompt", (data / "belle-zh" / "prompt_cn.txt").read_text("utf-8")))
    return out


def _render(template: str, q: str, answers: list[str], rng: random.Random) -> str:
    """A meta-prompt filled with a seed instruction and answers (Jinja2, lenient; plain slots too)."""
    from jinja2 import ChainableUndefined, Environment

    slots = ("instruction", "input", "task", "question", "query", "prompt", "text", "query_a")
    ctx: dict[str, object] = {k: q for k in slots}
    ctx.update({"generations": answers, "responses": answers, "generation": answers[0], "response": answers[0],
                "reference": answers[-1], "student_solution": answers[0], "rubric": "helpfulness and accuracy",
                "num_instructions": rng.randint(3, 10), "number": rng.randint(3, 10), "language": "English",
                "unit": "sentence", "task_description": q, "examples": None})  # fmt: skip
    try:
        text = Environment(undefined=ChainableUndefined).from_string(template).render(**ctx)
    except Exception:  # noqa: BLE001 - a template needing structures not modelled: use it unrendered
        text = template
    return text.replace("<PROMPT>", q).replace("{instruction}", q).strip()


def families(names: list[str], prefixes: list[str], texts: list[str],
             similarity: Callable[[list[str]], np.ndarray], near: float = 0.3) -> list[str]:  # fmt: skip
    """Family id of each template: union of same-prefix and near-copy (similarity >= ``near``) templates."""
    parent = list(range(len(names)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sim = similarity(texts)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if prefixes[i] == prefixes[j] or sim[i, j] >= near:
                parent[find(i)] = find(j)
    root_name: dict[int, str] = {}
    for i in range(len(names)):
        root_name.setdefault(find(i), sorted(n for k, n in enumerate(names) if find(k) == find(i))[0])
    return [root_name[find(i)] for i in range(len(names))]


def reasoning_negatives(
    data: Path,
    holdout: Callable[[str], bool],
    similarity: Callable[[list[str]], np.ndarray],
    seed: int = 7,
    per_cue: int = 40,
    per_meta: int = 10,
) -> Iterator[tuple[str, str, str, bool]]:
    """``(group, key, text, test)`` rows of reasoning, grading and meta-prompt hard negatives.

    ``key`` is the split unit (cue phrase, judge wrapper or meta-prompt family), so grouped
    cross-validation never scores a fill of a wrapper it was trained on.

    Args:
        data: The corpora folder.
        holdout: The shared hold-out rule on a key.
        similarity: Pairwise similarity matrix of texts (masked MinHash Jaccard in the trainer).
        seed: Sampling seed.
        per_cue: Questions per cue phrase or judge wrapper.
        per_meta: Fills per meta-prompt template.
    """
    rng = random.Random(f"reasoning-negatives:{seed}")
    en, zh = _questions(data)
    for group, cues, pool in (("cot_en", COT_EN, en), ("cot_zh", COT_ZH, zh)):
        for c, cue in enumerate(cues):
            test = holdout(f"{group}-cue:{c}")
            qs = [q for q in pool if holdout(q[0]) == test]
            for _key, q in rng.sample(qs, min(per_cue, len(qs))):
                text = f"{q}\n\n{cue}" if rng.random() < 0.7 else f"{cue}\n\n{q}"
                yield group, f"{group}-cue:{c}", text, test
    pairs = _answers(data)
    for w, wrapper in enumerate(JUDGE):
        test = holdout(f"judge-wrapper:{w}")
        ps = [p for p in pairs if holdout(p[0]) == test]
        for _key, q, a in rng.sample(ps, min(per_cue, len(ps))):
            other = rng.choice(ps)[2]
            yield "judge", f"judge-wrapper:{w}", wrapper.format(q=q, a=a[:1500], b=other[:1500]), test
    metas = meta_templates(data)
    fam = families([m[0] for m in metas], [m[1] for m in metas], [m[2] for m in metas], similarity)
    for (_name, _prefix, template), family in zip(metas, fam, strict=True):
        test = holdout(f"meta-family:{family}")
        ps = [p for p in pairs if holdout(p[0]) == test]
        for _ in range(per_meta):
            _key, q, a = rng.choice(ps)
            answers = [a[:1200]] + [rng.choice(ps)[2][:1200] for _ in range(rng.randint(1, 3))]
            yield "meta_prompt", f"meta-family:{family}", _render(template, q, answers, rng), test


def reasoning_files(data: Path) -> list[str]:
    """Corpus files read by :func:`reasoning_negatives` (relative to ``data``), for the manifest."""
    fixed = ["gsm8k/train.jsonl.gz", "mmlu/mmlu_test.jsonl.gz", "agieval/agieval_v1.jsonl.gz",
             "cmmlu/cmmlu_test.jsonl.gz", "alpaca-eval/alpaca_eval_gpt4_0314.jsonl.gz",
             "mt-bench/mt_bench_questions.jsonl", "mt-bench/mt_bench_reference_gpt-4.jsonl",
             "distilabel-templates/evol_mutation_prompts.json", "alpaca/prompt.txt",
             "belle-zh/prompt_cn.txt"]  # fmt: skip
    templates = sorted((data / "distilabel-templates" / "templates").glob("*.jinja2"))
    return fixed + [str(p.relative_to(data)) for p in templates]
