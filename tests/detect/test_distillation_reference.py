"""Distillation baselines on a campaign's first day: summed rows are judged against untied accounts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stillwatch.detect.distillation import DistillationDetector, add_derived


def _ordinary(n: int, seed: int = 0) -> pd.DataFrame:
    """Busy ordinary accounts: own egress, conversational, little chain-of-thought."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "account_id": [f"acct_o{i:03d}" for i in range(n)], "n_exchanges": rng.integers(30, 120, n),
        "top_template_share": rng.uniform(0.02, 0.12, n), "cot_share": rng.uniform(0.0, 0.04, n),
        "bench_share": rng.uniform(0.0, 0.1, n), "cap_code_share": rng.uniform(0.1, 0.45, n),
        "max_tokens_pinned_share": rng.uniform(0.5, 1.0, n), "followup_share": rng.uniform(0.2, 0.45, n),
        "new_model_share": 0.0, "xacct_template_share": 0.0, "shared_egress_accounts": 1.0, "pool_member": False,
    })  # fmt: skip


def _campaign(n: int, seed: int = 1) -> pd.DataFrame:
    """A hydra's pooled accounts on day 1: single-shot, chain-of-thought harvesting, shared egress."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "account_id": [f"acct_h{i:03d}" for i in range(n)], "n_exchanges": rng.integers(30, 40, n),
        "top_template_share": rng.uniform(0.03, 0.08, n), "cot_share": rng.uniform(0.25, 0.45, n),
        "bench_share": rng.uniform(0.0, 0.1, n), "cap_code_share": rng.uniform(0.25, 0.4, n),
        "max_tokens_pinned_share": 1.0, "followup_share": 0.0, "new_model_share": 0.0,
        "xacct_template_share": 0.0, "shared_egress_accounts": 6.0, "pool_member": True,
    })  # fmt: skip


def _frame(*parts: pd.DataFrame) -> pd.DataFrame:
    frame = pd.concat(parts, ignore_index=True)
    return add_derived(frame.assign(entity_id=frame["account_id"]))


def _pool_row(members: pd.DataFrame, shared: float = 6.0) -> pd.DataFrame:
    """One summed row (as pools, linked clusters and operators build it) over ``members``."""
    w = members["n_exchanges"].to_numpy(dtype=float)
    row: dict[str, object] = {
        c: float(np.average(members[c], weights=w)) for c in members.columns if c.endswith("_share")
    }
    row |= {"account_id": "pool-1", "n_exchanges": float(w.sum()), "pool_k_eff": float(w.sum() ** 2 / (w**2).sum())}
    return add_derived(pd.DataFrame([{**row, "shared_egress_accounts": shared}]).assign(entity_id="pool-1"))


def test_pool_of_a_campaign_dominating_the_busy_accounts_is_flagged() -> None:
    # 30 pooled campaign accounts, 15 ordinary ones: the campaign is most of the busy accounts
    ordinary, hydra = _ordinary(15), _campaign(30)
    frame = _frame(ordinary, hydra)
    det = DistillationDetector().fit(frame)
    assert det.predict(_pool_row(hydra.iloc[:3]))[0]
    assert not det.predict(frame[~frame["pool_member"]]).any()


def test_pool_without_the_untied_reference_is_not_flagged() -> None:
    # the same pool judged against all busy accounts (the campaign included) looks ordinary:
    # the case the untied reference exists for (fails if summed rows used the busy baseline)
    hydra = _campaign(30)
    frame = _frame(_ordinary(15), hydra).drop(columns="pool_member")
    det = DistillationDetector().fit(frame)
    assert not det.predict(_pool_row(hydra.iloc[:3]))[0]


def test_single_accounts_keep_the_baseline_of_all_busy_accounts() -> None:
    frame = _frame(_ordinary(15), _campaign(30))
    untied, busy = DistillationDetector().reference(frame)
    assert not untied["pool_member"].any() and len(untied) == 15 and len(busy) == 45
    det = DistillationDetector()
    det.fit(frame)
    assert det.summed_baseline_["cot_share"][0] < 0.05  # the campaign's 0.25-0.45 is not the centre
    assert det.baseline_["cot_share"][0] > 0.2  # single accounts: all busy accounts, as before
    (items,) = det.evidence(_pool_row(frame[frame["pool_member"]].iloc[:3]))
    cot = next(e for e in items if e.feature == "cot_share")
    assert "not tied to other accounts" in cot.baseline


def test_account_sharing_one_address_is_not_judged_on_the_untied_baseline() -> None:
    # a customer behind one NAT address with one other account: some CoT prompts, moved to a new
    # model; against untied accounts its CoT share would count, against all busy accounts it does not
    customer = _ordinary(1, seed=7).assign(
        account_id="acct_c000", cot_share=0.3, followup_share=0.0, new_model_share=0.85,
        shared_egress_accounts=2.0, pool_member=False,
    )  # fmt: skip
    frame = _frame(_ordinary(15), _campaign(30), customer)
    flags = DistillationDetector().fit(frame).predict(frame)
    assert not flags[frame["account_id"].eq("acct_c000").to_numpy()].any()


def test_too_few_untied_accounts_fall_back_to_all_busy_accounts() -> None:
    frame = _frame(_ordinary(5), _campaign(30))
    shape_ref, coord_ref = DistillationDetector().reference(frame)
    assert len(shape_ref) == len(coord_ref) == 35


def test_untied_extraction_shape_without_coordination_is_not_flagged() -> None:
    # a benchmark researcher: single-shot chain-of-thought prompts, its own egress, no shared templates
    researcher = _campaign(1, seed=3).assign(
        account_id="acct_r000", shared_egress_accounts=1.0, pool_member=False, bench_share=0.95
    )
    frame = _frame(_ordinary(40), _campaign(30), researcher)
    flags = DistillationDetector().fit(frame).predict(frame)
    assert not flags[frame["account_id"].eq("acct_r000").to_numpy()].any()


def test_pooled_ordinary_accounts_are_not_flagged() -> None:
    # an office pair behind one address: tied, but conversational ordinary traffic
    office = _ordinary(2, seed=5).assign(
        account_id=["acct_p000", "acct_p001"], shared_egress_accounts=2.0, pool_member=True
    )
    frame = _frame(_ordinary(40), _campaign(30), office)
    flags = DistillationDetector().fit(frame).predict(frame)
    assert not flags[frame["account_id"].str.startswith("acct_p").to_numpy()].any()


def test_summed_row_keeps_what_all_busy_accounts_show() -> None:
    # later in a window the untied accounts can be the wider reference (researchers, jailbreak
    # accounts with much chain-of-thought); a pool standing out against all busy accounts stays flagged
    rng = np.random.default_rng(11)
    wide = _ordinary(15, seed=9).assign(
        cot_share=rng.uniform(0.0, 0.9, 15), followup_share=rng.uniform(0.0, 1.0, 15),
        max_tokens_pinned_share=rng.uniform(0.2, 1.0, 15),
    )  # fmt: skip
    tied = _ordinary(60, seed=10).assign(account_id=[f"acct_t{i:03d}" for i in range(60)], pool_member=True)
    pool = _campaign(4, seed=12).assign(cot_share=0.3, followup_share=0.15, max_tokens_pinned_share=0.6)
    frame = _frame(wide, tied)
    det = DistillationDetector()
    det.fit(frame)
    row = _pool_row(pool)
    both = det._scores(row)[0]
    assert both[0] >= 0.5 > both[1]  # flagged against all busy accounts, not against the untied ones
    assert det.predict(row)[0]
