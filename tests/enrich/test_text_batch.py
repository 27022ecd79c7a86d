"""Batch text enrichment equals the one-text reference (scripts, features, index matches)."""

from __future__ import annotations

import pytest

from stillwatch.enrich import text as textmod
from stillwatch.enrich.benchmarks import benchmark_index
from stillwatch.enrich.sample import generate
from stillwatch.enrich.templates import signature
from stillwatch.enrich.texts import analyse_texts

EDGE = [
    "", "   ", "\x00\x01binary", "😀🎉", "这是 mixed 文本 text", "這是繁體中文的句子，請逐步推理。", "请一步一步地解释这个方程。",
    "日本語のテキストです。ひらがなとカタカナ。", "한국어 텍스트입니다", "Привет, как дела?", "İstanbul ſtep by step",
    "a\ud800b lone surrogate", "ǅ Latin-Extended ḁ ẞ", "x" * 30_000, "Let's think step by step: 2 + 2 = ?",
]  # fmt: skip


def _texts() -> list[str | None]:
    data = generate(300, accounts=12, days=1, seed=5)
    out: list[str | None] = [t for ts in data.column("user_texts").to_pylist() for t in (ts or [])]
    out += [t for t in data.column("system_text").to_pylist() if t]
    return [*dict.fromkeys(out), *EDGE, None]


def test_script_profiles_equal_the_per_character_reference() -> None:
    texts = [t for t in _texts() if t]
    assert textmod.script_profiles(texts) == [textmod.script_profile(t) for t in texts]
    scripts = {p["script"] for p in textmod.script_profiles(EDGE)}
    expected = {"latin", "han_simplified", "han_traditional", "japanese", "hangul", "cyrillic", "emoji", "unknown"}
    assert expected <= scripts


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_analyse_texts_equals_one_text_at_a_time(size: int) -> None:
    texts = _texts()
    batched = [row for i in range(0, len(texts), size) for row in analyse_texts(texts[i : i + size])]
    single = [analyse_texts([t])[0] for t in texts]
    assert batched == single


def test_batch_index_query_equals_single_queries() -> None:
    index = benchmark_index()
    sigs = [signature(t) for t in _texts()]
    assert index.query_batch(sigs) == [index.query(s) for s in sigs]
    assert any(m is not None for m in index.query_batch(sigs))  # generate() includes a GSM8K item


def test_bulk_signatures_equal_datasketch_signatures() -> None:
    import numpy as np

    from stillwatch.enrich.templates import signatures

    texts = [*_texts(), "abcd", "ab", "😀 emoji outside the BMP 😀", "a\ud800b c d e f", "同じ テキスト " * 50]
    for got, ref in zip(signatures(texts), [signature(t) for t in texts], strict=True):
        assert (got is None) == (ref is None)
        assert got is None or np.array_equal(got, ref)


def test_batch_language_identification_equals_py3langid_one_by_one() -> None:
    extra = ["HELLO WORLD, ALL UPPER CASE TEXT", "Ça va très bien, merci beaucoup", "Dies ist ein deutscher Satz.",
             "Это русский текст", "abc", "Hola, ¿cómo estás? Muy bien."]  # fmt: skip
    items = [(t, textmod.script_profile(t)["script"]) for t in [*(x for x in _texts() if x), *extra]]
    ident = textmod._identifier()
    got = textmod.languages(items)
    assert got == [textmod.language(t, s) for t, s in items]
    langs = {lang for lang, _ in got}
    assert {"en", "zh", "fr", "de", "ru", "es"} <= langs
    classified = [t[:2000] for t, s in items if textmod._language_without_model(t, s) is None]
    from stillwatch.enrich.langbatch import classify_batch

    exact = [(lang, float(p)) for lang, p in (ident.classify(t) for t in classified)]
    assert classify_batch(ident, classified) == exact  # bit-for-bit, before rounding
