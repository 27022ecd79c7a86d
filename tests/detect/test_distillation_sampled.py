"""Distillation on sampled text features (``text_sample_rate`` < 1): template and benchmark shares
estimated on a few analysed texts are judged on their lower confidence bound."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stillwatch.detect.distillation import DistillationDetector, add_derived, sampled_lower_bound


def test_lower_bound_keeps_fully_analysed_rows_and_tightens_with_the_sample() -> None:
    p = np.array([0.43, 0.43, 0.43, 0.43, 1.0, 0.0])
    n = np.array([200.0, 200.0, 200.0, 200.0, 200.0, 200.0])
    d = np.array([200.0, 0.0, 7.0, 100.0, 7.0, 7.0])
    low = sampled_lower_bound(p, d, n)
    assert low[0] == p[0] and low[1] == p[1]  # analysed in full, or no count: the value itself
    assert 0.1 < low[2] < 0.25  # 3 of 7: a 95 % lower bound far below 0.43
    assert low[2] < low[3] < p[3]  # more texts analysed, tighter bound
    assert 0.6 < low[4] < 1.0 and low[5] == 0.0  # extremes stay in [0, 1]
    near = sampled_lower_bound(np.array([0.43]), np.array([199.0]), np.array([200.0]))
    assert near[0] == pytest.approx(0.43, abs=0.01)  # almost the whole population: almost no margin


def _accounts(n: int, seed: int) -> pd.DataFrame:
    """Busy ordinary accounts; template shares spread as on a simulated store (median ~0.1-0.15,
    a third of the accounts with some cross-account template reuse up to ~0.38)."""
    rng = np.random.default_rng(seed)
    xacct = np.where(rng.random(n) < 0.3, rng.uniform(0.0, 0.38, n), 0.0)
    return pd.DataFrame({
        "account_id": [f"acct_{seed}_{i:03d}" for i in range(n)], "n_exchanges": rng.integers(150, 250, n),
        "top_template_share": rng.uniform(0.02, 0.3, n), "cot_share": rng.uniform(0.0, 0.04, n),
        "bench_share": rng.uniform(0.0, 0.05, n), "cap_code_share": rng.uniform(0.1, 0.45, n),
        "max_tokens_pinned_share": rng.uniform(0.5, 1.0, n), "followup_share": rng.uniform(0.2, 0.45, n),
        "new_model_share": 0.0, "xacct_template_share": xacct, "shared_egress_accounts": 1.0,
    })  # fmt: skip


def test_a_few_sampled_texts_on_shared_templates_are_not_a_campaign() -> None:
    # a benign busy account whose 7 analysed first turns happen to hold 4 on a popular template:
    # estimated 0.57 template concentration and cross-account reuse, with some CoT cues
    ordinary = _accounts(40, seed=3)
    lucky = ordinary.iloc[[0]].assign(
        account_id="acct_lucky", n_exchanges=200, top_template_share=4 / 7, xacct_template_share=4 / 7,
        cot_share=0.1, followup_share=0.05,
    )  # fmt: skip
    frame = pd.concat([ordinary, lucky], ignore_index=True)
    frame = add_derived(frame.assign(entity_id=frame["account_id"]))
    full = frame.assign(n_deep=frame["n_exchanges"])  # the same values measured on every text
    sampled = frame.assign(n_deep=np.where(frame["account_id"].eq("acct_lucky"), 7, frame["n_exchanges"]))
    det = DistillationDetector().fit(full)
    assert det.score(full)[-1] > det.score(sampled)[-1]  # the same estimate weighs less on 7 texts
    assert det.predict(full)[-1] and not det.predict(sampled)[-1]
    (items,) = det.evidence(sampled.iloc[[-1]])
    assert all("sampled" in e.why for e in items if e.feature in ("top_template_share", "xacct_template_share"))
