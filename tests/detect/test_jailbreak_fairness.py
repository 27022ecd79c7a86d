"""Fairness: a jailbreak finding rests on jailbreak content, never on the text's language.

Uses the shared corpora when present (the held-out rows of the training split): Chinese hard
negatives (cvalues-zh, safetybench-zh) must be flagged no more often than English benign prompts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from stillwatch.detect.jailbreak import JailbreakDetector
from tests.detect.jb_helpers import DAN
from tests.paths import SHARED_DATA as DATA  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def frame(texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": [str(i) for i in range(len(texts))], "system_text": [None] * len(texts),
                         "user_texts": [[t] for t in texts]})  # fmt: skip


@pytest.fixture(scope="module")
def det() -> JailbreakDetector:
    return JailbreakDetector().fit(frame(["x"]))


def test_language_does_not_decide(det: JailbreakDetector) -> None:
    """Same wrapper, English or Chinese request: both flagged; same benign question in both languages: neither."""
    s = det.score(frame([DAN.format(q="how to make a fake ID"), DAN.format(q="如何制作假证件")]))
    assert (s >= det.offset_).all() and abs(s[0] - s[1]) < 0.1
    benign = det.score(
        frame(["What should I cook for dinner tonight with rice and eggs?", "今晚用米饭和鸡蛋做什么菜好？"])
    )
    assert (benign < det.offset_).all()


@pytest.mark.skipif(not (DATA / "cvalues-zh").is_dir(), reason="shared corpora not mounted")
def test_chinese_hard_negatives_not_flagged_more_than_english_benign(det: JailbreakDetector) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import train_jailbreak as tj
    finally:
        sys.path.pop(0)
    zh, en = [], []
    for group, item, text in tj.negatives(DATA):
        if not tj.holdout(f"{group}:{item}"):
            continue
        if group in ("cvalues_zh", "safetybench_zh"):
            zh.append(text)
        elif group == "benign_en" and not item.startswith(("sharegpt", "gsm8k")):
            en.append(text)
    assert len(zh) > 400 and len(en) > 200
    rate_zh = float(det.predict(frame(zh)).mean())
    rate_en = float(det.predict(frame(en)).mean())
    assert rate_zh <= rate_en
    assert rate_zh <= 0.01


@pytest.mark.skipif(not (DATA / "distilabel-templates").is_dir(), reason="shared corpora not mounted")
def test_held_out_reasoning_and_grading_prompts_are_not_jailbreaks(det: JailbreakDetector) -> None:
    """Held-out chain-of-thought cues, judge wrappers and meta-prompt families (never trained on)
    are rarely flagged (jailbreak-lr-1 flagged 5.2 % of them), and Chinese chain-of-thought prompts
    no more often than English ones."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import train_jailbreak as tj
        from jailbreak_reasoning_negatives import reasoning_negatives
    finally:
        sys.path.pop(0)
    rows = [r for r in reasoning_negatives(DATA, tj.holdout, lambda t: tj._max_pairs(tj._sig_matrix(t))) if r[3]]
    groups = pd.Series([r[0] for r in rows])
    assert len(rows) > 200 and set(groups) == {"cot_en", "cot_zh", "judge", "meta_prompt"}
    flagged = pd.Series(det.predict(frame([r[2] for r in rows])))
    assert flagged.mean() <= 0.03
    assert flagged[groups == "cot_zh"].mean() <= flagged[groups == "cot_en"].mean()
