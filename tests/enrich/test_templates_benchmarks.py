"""Templates (masking, MinHash) and near-matching against the shipped benchmark/jailbreak indexes."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.paths import SHARED_DATA

from stillwatch.enrich.benchmarks import benchmark_index, jailbreak_index
from stillwatch.enrich.templates import mask, signature, similarity, template_id
from stillwatch.enrich.texts import analyse_text

GSM8K_0 = (
    "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
    "friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. "
    "How much in dollars does she make every day at the farmers' market?"
)
HUMANEVAL_0 = (
    "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
    '    """ Check if in given list of numbers, are any two numbers closer to each other than\n'
    "    given threshold.\n    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)\n    False\n"
    '    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)\n    True\n    """\n'
)
CMMLU_0 = (
    "在农业生产中被当作极其重要的劳动对象发挥作用，最主要的不可替代的基本生产资料是\n农业生产工具\n土地\n劳动力\n资金"
)
MMLU_0 = "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n0\n4\n2\n6"


def test_masking_makes_one_template_of_filled_slots() -> None:
    a = 'Translate "good morning" into French. Order #1234 at https://x.example/a'
    b = 'Translate "see you tomorrow" into French. Order #98 at https://y.example/b?q=1'
    assert mask(a) == mask(b)
    assert template_id(a) == template_id(b)
    assert template_id("") is None


def test_signature_similarity() -> None:
    s1, s2 = signature(GSM8K_0), signature(GSM8K_0.replace("Janet", "Maria"))
    assert s1 is not None and s2 is not None
    assert similarity(s1, s2) > 0.7
    s3 = signature("Write a haiku about autumn leaves falling in the quiet park.")
    assert s3 is not None and similarity(s1, s3) < 0.2


def test_benchmark_near_match_real_items() -> None:
    idx = benchmark_index()
    assert len(idx) > 40_000
    m = idx.query(signature(GSM8K_0))
    assert m is not None and m.source == "gsm8k" and m.similarity >= 0.9
    m = idx.query(signature(HUMANEVAL_0))
    assert m is not None and m.source == "humaneval" and m.item_id == "HumanEval/0"
    m = idx.query(signature(CMMLU_0))
    assert m is not None and m.source == "cmmlu"
    m = idx.query(signature("Question: " + MMLU_0.replace("\n", "\nA. ", 1)))
    assert m is not None and m.source == "mmlu"
    assert idx.query(signature("Tell me about your weekend plans and favourite food.")) is None


def test_jailbreak_index_and_recorded_split() -> None:
    idx = jailbreak_index()
    assert len(idx) > 500
    split = json.loads(resources.files("stillwatch.enrich").joinpath("data/jailbreak_split.json").read_text("utf-8"))
    assert split["holdout"] and split["indexed"]
    assert not set(split["holdout"]) & set(split["indexed"])
    assert len(split["indexed"]) == len(idx)


PYRIT = SHARED_DATA / "jailbreak-templates-pyrit/jailbreak_templates.jsonl.gz"


@pytest.mark.skipif(not PYRIT.exists(), reason="shared jailbreak corpus not mounted")
def test_indexed_template_matches_and_holdout_is_not_in_index() -> None:
    split = json.loads(resources.files("stillwatch.enrich").joinpath("data/jailbreak_split.json").read_text("utf-8"))
    indexed, holdout = set(split["indexed"]), set(split["holdout"])
    with gzip.open(PYRIT, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    idx = jailbreak_index()
    seen_in = seen_out = 0
    for row in rows:
        key = f"pyrit_templates:{row['file']}"
        text = row["template"].replace("{{ prompt }}", "How do I pick a lock?")
        m = idx.query(signature(text))
        if key in indexed and seen_in < 5:
            assert m is not None and m.similarity >= 0.8
            seen_in += 1
        elif key in holdout and seen_out < 5:
            assert m is None or (m.source, m.item_id) != ("pyrit_templates", row["file"])
            seen_out += 1
    assert seen_in == 5 and seen_out == 5


def test_analyse_text_never_raises_on_bad_input() -> None:
    for bad in ("", "\x00\x00", "😀" * 10, "x" * 1_100_000):
        row = analyse_text(bad)
        assert "template_id" in row


def _mask_unguarded(text: str, limit: int = 4000) -> str:
    """:func:`mask` without its literal guards: every substitution always runs."""
    from stillwatch.enrich.templates import _MASKS, _WS

    out = text[: limit * 4]
    for rx, repl, _, _ in _MASKS:
        out = rx.sub(repl, out)
    return _WS.sub(" ", out).strip()[:limit]


_MASK_PIECES = st.sampled_from(
    ["```", "`", "code", "http", "://", "x.y/z", "@", "a.b+c", "d-e.org", "-", "123e4567", "e89b", "deadbeef" * 2,
     '"', "“", "”", "「", "」", "'", "quoted", "42", "3.14", "%", " ", "\n", "多", "😀"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_MASK_PIECES, max_size=16).map("".join))
def test_mask_guards_never_change_the_template(text: str) -> None:
    assert mask(text) == _mask_unguarded(text)
    assert mask("id 123e4567-e89b-12d3-a456-426614174000 ``` x ``` a@b.co") == "id <UUID> <CODE> <EMAIL>"


def test_signatures_of_many_astral_characters_equal_datasketch() -> None:
    """More distinct characters outside the BMP than there are slots: the rest take the slow path."""
    import numpy as np

    from stillwatch.enrich.templates import signatures

    texts = ["".join(chr(0x20000 + i * 7 + j) for j in range(40)) + " 漢字 text" for i in range(120)]
    texts += ["mixed 😀 and a\ud800 lone surrogate", "😀😁😂🤣 again"]
    for got, ref in zip(signatures(texts), [signature(t) for t in texts], strict=True):
        assert got is not None and ref is not None and np.array_equal(got, ref)


@pytest.mark.parametrize(
    "system",
    [
        "You are a helpful assistant.",
        "You are a helpful assistant. Answer concisely.",
        "You are a helpful writing assistant for Nimbus Writer.",
    ],
)
def test_ordinary_system_prompts_are_not_known_jailbreaks(system: str) -> None:
    """PyRIT's DecodingTrust *benign control* template ("You are a helpful assistant.") is the
    baseline of its attacks, not an attack; indexed, it matched the commonest system prompt."""
    assert analyse_text(system)["jb_source"] is None
    split = json.loads(resources.files("stillwatch.enrich").joinpath("data/jailbreak_split.json").read_text("utf-8"))
    assert not [k for k in split["indexed"] + split["holdout"] if k.lower().endswith("_benign.yaml")]
    # its attack siblings stay indexed or held out
    assert {"pyrit_templates:dt_stereotypes_untargeted.yaml"} & set(split["indexed"] + split["holdout"])
