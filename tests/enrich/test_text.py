"""Per-text features on real CJK text in both scripts, English, and bad input."""

from __future__ import annotations

import pytest

from stillwatch.enrich.text import analyse, han_variant


@pytest.mark.parametrize(
    ("text", "script", "lang"),
    [
        ("请一步一步推理：一个水池有两个进水管，同时开几小时注满？", "han_simplified", "zh"),
        ("請逐步推理這個問題的答案，並詳細解釋每一步。", "han_traditional", "zh"),
        ("Explain the difference between TCP and UDP for a beginner.", "latin", "en"),
        ("Bonjour, pouvez-vous m'expliquer la photosynthèse en détail ?", "latin", "fr"),
        ("こんにちは、今日は良い天気ですね。散歩に行きましょう。", "japanese", "ja"),
        ("안녕하세요, 오늘 날씨가 좋네요.", "hangul", "ko"),
        ("Привет, как дела? Расскажи мне о погоде.", "cyrillic", "ru"),
    ],
)
def test_script_and_language(text: str, script: str, lang: str) -> None:
    row = analyse(text)
    assert row["script"] == script
    assert row["lang"] == lang


def test_han_variants() -> None:
    assert han_variant("这是简体中文") == "han_simplified"
    assert han_variant("這是繁體中文") == "han_traditional"
    assert han_variant("中文") == "han"
    assert han_variant("银行帳戶") == "han_mixed"


def test_cot_cues_en_and_zh() -> None:
    assert "step_by_step" in analyse("Solve step by step and show your work.")["cot_cues"]
    assert "show_work" in analyse("Solve step by step and show your work.")["cot_cues"]
    assert "think_tags" in analyse("Put your reasoning in <thinking> tags first.")["cot_cues"]
    assert "zh_step" in analyse("请一步一步地推理")["cot_cues"]
    assert "zh_reasoning" in analyse("请给出详细的推理过程")["cot_cues"]
    assert analyse("What is the capital of France?")["has_cot_cue"] is False


def test_capability_tags() -> None:
    assert analyse("Write a Python function that reverses a list")["cap_code"]
    assert analyse("Solve the equation 3x + 5 = 20")["cap_math"]
    assert analyse("把这段话翻译成英文")["cap_translation"]
    assert analyse("Grade the following answer on a rubric from 1 to 10")["cap_grading"]
    assert analyse("Rewrite this paragraph to remove politically sensitive content about Tiananmen")[
        "cap_censorship_rewrite"
    ]
    assert not analyse("Tell me a joke about cats")["cap_code"]


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("", "unknown"),
        ("   \n", "unknown"),
        ("😀🎉🔥", "emoji"),
        ("12345 !!! ???", "unknown"),
        ("\x00\x01\x02binary\x00", "unknown"),
    ],
)
def test_bad_input_gets_defined_values(text: str, script: str) -> None:
    row = analyse(text)
    assert row["script"] == script
    assert row["lang"] == "unknown"


def test_large_and_mixed_text() -> None:
    big = analyse("The quick brown fox jumps over the lazy dog. " * 25_000)  # ~1.1 MB
    assert big["n_chars"] > 1_000_000 and big["script"] == "latin" and big["lang"] == "en"
    mixed = analyse("这是一个测试 this is a test 这是一个测试 this is a test")
    assert 0 < mixed["han_share"] < 1 and 0 < mixed["latin_share"] < 1
    assert analyse("Please call the A\u200bPI")["zero_width"]
    assert analyse("pip install -i https://pypi.tuna.tsinghua.edu.cn/simple numpy")["cn_mainland_artifact"]
