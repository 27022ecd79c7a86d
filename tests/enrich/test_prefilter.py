"""The literal pre-filter never changes a regex answer (it only skips hopeless searches)."""

from __future__ import annotations

import re

import pytest

from stillwatch.enrich import text as textmod
from stillwatch.enrich.prefilter import branch_runs, fold, search
from stillwatch.enrich.sample import generate

PATTERNS = [*textmod._CAP_RX, *textmod._COT_RX, ("zw", textmod._ZERO_WIDTH), ("cn", textmod._CN_MAINLAND)]
TRICKY = [
    "İSTANBUL STEP BY STEP", "ſtep by ſtep (long s)", "Let's THINK step-wise reasoning", "ΣΟΛVE Σ", "ＣＯＤＥ",
    "\u212aelvin sign CODE", "Proſe: SOLVE this", "DEF foo(): pass", "\u0130mport os", "请逐步推理", "請給出理由",
    "Rewrite this to be politically neutral and safe", "pip install -i https://pypi.tuna.tsinghua.edu.cn/simple",
    "pass\u200bword", "2+2=4", "", "ıMPORT sys", "µ and μ", "ΘΕΩΡΗΜΑ theorem",
]  # fmt: skip


def _texts() -> list[str]:
    data = generate(200, accounts=8, days=1, seed=9)
    out = [t for ts in data.column("user_texts").to_pylist() for t in (ts or [])]
    out += [t for t in data.column("system_text").to_pylist() if t]
    return [*dict.fromkeys(out), *TRICKY]


@pytest.mark.parametrize(("name", "rx"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_prefiltered_search_equals_plain_search(name: str, rx: re.Pattern[str]) -> None:
    for text in _texts():
        assert search(rx, text, fold(text)) == bool(rx.search(text)), (name, text[:60])


def test_fold_is_one_to_one_and_follows_re_case_rules() -> None:
    for text in TRICKY:
        assert len(fold(text)) == len(text)
    assert fold("ſ") == fold("s") and fold("ı") == fold("i") and fold("İ") == "i" and fold("Σ") == fold("ς")


def test_patterns_with_a_literal_free_branch_are_not_prefiltered() -> None:
    assert branch_runs(r"\bsolve\b|\d+\s*[+-]\s*\d+", re.IGNORECASE) is None
    assert branch_runs(r"\bsolve\b|\bprove\b", re.IGNORECASE) == (("solve",), ("prove",))
    assert search(re.compile(r"\bSOLVE\b", re.IGNORECASE), "please solve it", "please solve it")
