"""Readers of the non-commercial and unlicensed corpora (only used with ``--corpora``, never packed)."""

from __future__ import annotations

from pathlib import Path

from stillwatch.simulate.corpora_io import Pools, _add, _field, _jsonl, _mcq


def _alpaca(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "alpaca_data.jsonl.gz"):
        inst = _field(row, "instruction", d) + (f"\n\n{row['input']}" if row.get("input") else "")
        _add(pools, "distill_seeds_en", inst, row.get("output"))
    _add(pools, "meta_templates", (d / "prompt.txt").read_text(encoding="utf-8"), "alpaca-prompt")


def _llamafactory(d: Path, pools: Pools) -> None:
    for fname, pool in (("alpaca_en_demo.jsonl", "distill_seeds_en"), ("alpaca_zh_demo.jsonl", "distill_seeds_zh")):
        for row in _jsonl(d / fname):
            inst = _field(row, "instruction", d) + (f"\n\n{row['input']}" if row.get("input") else "")
            _add(pools, pool, inst, row.get("output"))
            if pool.endswith("zh"):
                _add(pools, "zh_replies", row.get("output"))


def _belle(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "zh_seed_tasks.jsonl"):
        _add(pools, "distill_seeds_zh", _field(row, "instruction", d))
    for row in _jsonl(d / "eval_set.jsonl"):
        _add(pools, "zh_chat", _field(row, "question", d), row.get("std_answer"))
        _add(pools, "zh_replies", row.get("std_answer"))
    _add(pools, "meta_templates", (d / "prompt_cn.txt").read_text(encoding="utf-8"), "belle-prompt-cn")


def _wizardlm(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "WizardLM_testset.jsonl"):
        _add(pools, "en_chat", _field(row, "Instruction", d))


def _alpaca_eval(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "alpaca_eval_gpt4_0314.jsonl.gz"):
        _add(pools, "en_chat", _field(row, "instruction", d), row.get("output"))
        _add(pools, "bench_alpaca_eval", row["instruction"], row.get("output"))


def _cmmlu(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "cmmlu_test.jsonl.gz"):
        _add(pools, "bench_cmmlu", _mcq(_field(row, "question", d), [row.get(k, "") for k in "ABCD"]))


def _sharegpt(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "sharegpt_sample.jsonl.gz"):
        turns = _field(row, "turns", d)
        first = True
        for i, turn in enumerate(turns):
            if turn.get("from") != "human":
                continue
            nxt = turns[i + 1].get("value") if i + 1 < len(turns) else None
            _add(pools, "en_chat" if first else "en_followup", turn.get("value"), nxt)
            first = False


def _alignbench(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "alignbench_v1.1.jsonl"):
        _add(pools, "zh_chat", _field(row, "question", d), row.get("reference"))
        _add(pools, "bench_alignbench", row["question"], row.get("reference"))
        _add(pools, "zh_replies", row.get("reference"))
