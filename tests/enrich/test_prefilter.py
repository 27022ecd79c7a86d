"""The literal pre-filter never changes a regex answer (it only skips hopeless searches)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stillwatch.enrich import text as textmod
from stillwatch.enrich.prefilter import PatternSet, branch_runs, fold, search, split_branches
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


def test_pattern_set_equals_plain_search_of_every_pattern() -> None:
    patterns = PatternSet(PATTERNS)
    for text in _texts():
        assert patterns.matching(text, fold(text)) == [n for n, rx in PATTERNS if rx.search(text)], text[:60]


def test_text_pattern_hits_equal_the_plain_patterns() -> None:
    plain = [
        *((f"cot:{n}", rx) for n, rx in textmod._COT_RX),
        *((f"cap:{n}", rx) for n, rx in textmod._CAP_RX),
        ("zero_width", textmod._ZERO_WIDTH),
        ("cn_mainland_artifact", textmod._CN_MAINLAND),
    ]
    for text in _texts():
        assert textmod.pattern_hits(text) == [n for n, rx in plain if rx.search(text)], text[:60]


_SET = PatternSet(PATTERNS)
#: Pieces that hit literal runs, word boundaries, case-folding classes and the literal-free branches.
_PIECES = st.sampled_from(
    [
        "solve", "SOLVE", "ſolve", "prove", "step by step", "step-wise reasoning", "<think>", "< / thinking >",
        "select", " FROM ", "```", "def ", "class X", "import y", "rewrite", " it to be ", "neutral", "rate ",
        "the", "逐步", "推理过程", "审查", "改写", "合规", "+86 138", "gitee.com", "p\u200broxy", "2 + 2", "=",
        "x", " ", "\n", "İ", "ı", "Σ", "_", "7",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_pattern_set_equals_plain_search_on_generated_text(text: str) -> None:
    assert _SET.matching(text, fold(text)) == [n for n, rx in PATTERNS if rx.search(text)]


def test_split_branches_respects_groups_classes_and_escapes() -> None:
    assert split_branches(r"a|b(c|d)|[|]|\|x") == ["a", "b(c|d)", "[|]", r"\|x"]
    assert split_branches(r"[]|]|x") == ["[]|]", "x"]
    assert split_branches(r"[^]|]|y") == ["[^]|]", "y"]
    assert split_branches("solo") == ["solo"]
    assert split_branches(r"(?i)a|b") is None  # an inline flag applies to every branch
    assert split_branches(r"(a)|\1") is None  # group numbers would change
    assert split_branches(r"a(|b") is None


def test_pattern_set_searches_a_branch_only_when_its_literals_occur() -> None:
    patterns = PatternSet([("p", re.compile(r"\bfoo\b|bar\d|\d{3}", re.IGNORECASE))])
    assert patterns.matching("a FOO b", "a foo b") == ["p"]
    assert patterns.matching("bar7", "bar7") == ["p"]
    assert patterns.matching("bar", "bar") == []
    assert patterns.matching("n 123", "n 123") == ["p"]  # the literal-free branch always runs
    assert patterns.matching("food", "food") == []
