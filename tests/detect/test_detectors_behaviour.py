"""Detector behaviour on hand-made account frames: what must fire and what must not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from stillwatch.detect.distillation import DistillationDetector, add_derived
from stillwatch.detect.relay import RelayDetector
from stillwatch.detect.runner import score_frame
from stillwatch.detect.subrouting import COUNTRY_UTC_OFFSET, estimate_share, profile
from stillwatch.detect.subsidiary import SubsidiaryDetector

RESTRICTED = ["CN", "HK", "MO", "RU", "IR", "KP", "CU", "SY"]


def _population(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Ordinary accounts: a few users, local clock, unshared egress, conversational."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "account_id": [f"acct_{i:04d}" for i in range(n)], "n_exchanges": rng.integers(30, 400, n),
        "n_sys_prompts": rng.integers(0, 3, n), "n_md_devices": rng.integers(0, 2, n), "n_ua_families": 1,
        "n_langs": rng.integers(1, 3, n), "max_per_minute": rng.integers(1, 4, n),
        "n_first_msgs": rng.integers(20, 300, n), "hop_share": 0.0, "hop_n": 0,
        "shared_egress_accounts": 1, "tz_restricted": 0.0, "cal_restricted": 0.0, "restricted_addr_share": 0.0,
        "share_low": 0.0, "share_high": rng.uniform(0, 0.05, n), "restricted_share": 0.0,
        "share_identifiable": True, "utc_offset_fit": rng.uniform(0.5, 0.95, n),
        "relay_hit_share": 0.0, "relay_strong_hits": 0, "max_tokens_default_share": 0.0, "zero_width_share": 0.0,
        "hosting_share": rng.uniform(0, 0.1, n), "vpn_proxy_share": 0.0, "coverage_24_7": rng.uniform(0.2, 0.5, n),
        "lang_zh_share": 0.0, "cn_mainland_artifact_share": 0.0,
        "top_template_share": rng.uniform(0.02, 0.2, n), "cot_share": rng.uniform(0, 0.05, n),
        "bench_share": rng.uniform(0, 0.05, n), "cap_coding_share": rng.uniform(0, 0.4, n),
        "max_tokens_pinned_share": rng.uniform(0.3, 1.0, n), "followup_share": rng.uniform(0.2, 0.5, n),
        "new_model_share": rng.uniform(0, 0.2, n), "xacct_template_share": rng.uniform(0, 0.05, n),
        "parent_country": None, "declared_country": "US",
    })  # fmt: skip


def _with(frame: pd.DataFrame, i: int, **values: object) -> pd.DataFrame:
    for k, v in values.items():
        frame.loc[i, k] = v
    return frame


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["entity_id"] = frame["account_id"]
    return score_frame(frame, RESTRICTED).set_index("account_id")


RELAY = dict(n_sys_prompts=60, n_md_devices=40, n_langs=6, n_ua_families=5, shared_egress_accounts=7,
             tz_restricted=3.0, cal_restricted=3.0, share_low=0.9, share_high=1.0, restricted_share=0.95)  # fmt: skip


def test_relay_fires_on_fanout_with_restricted_origin() -> None:
    s = _scored(_with(_population(), 0, **RELAY))
    assert s.loc["acct_0000", "relay_flag"]
    assert s["relay_flag"].sum() == 1


def test_enterprise_gateway_with_local_users_is_not_a_relay() -> None:
    gw = dict(n_sys_prompts=60, n_md_devices=40, n_langs=6, n_ua_families=5, relay_hit_share=1.0,
              relay_strong_hits=0, hosting_share=1.0, coverage_24_7=0.8)  # fmt: skip
    s = _scored(_with(_population(), 0, **gw))
    assert not s[["relay_flag", "subrouting_flag", "subsidiary_flag", "distillation_flag"]].any().any()


def test_chinese_language_alone_is_never_a_finding() -> None:
    frame = _population()
    frame["lang_zh_share"] = 0.95
    frame["cn_mainland_artifact_share"] = 0.3
    frame["declared_country"] = "SG"
    s = _scored(frame)
    assert not s[["relay_flag", "subrouting_flag", "subsidiary_flag", "distillation_flag"]].any().any()


def test_evidence_of_a_relay_is_beyond_language() -> None:
    frame = _with(_population(), 0, **RELAY, lang_zh_share=0.9)
    det = RelayDetector().fit(frame.assign(entity_id=frame.account_id))
    (items,) = det.evidence(frame.assign(entity_id=frame.account_id).iloc[[0]])
    families = {e.family for e in items}
    assert {"multi_user", "network", "timing"} <= families and "language" not in families


def test_distillation_needs_extraction_shape_and_coordination() -> None:
    hydra = dict(followup_share=0.0, cot_share=0.6, new_model_share=0.6, shared_egress_accounts=8)
    researcher = dict(followup_share=0.0, cot_share=0.9, bench_share=0.95, max_tokens_pinned_share=1.0)
    frame = _with(_with(_population(), 0, **hydra), 1, **researcher)
    frame = add_derived(frame.assign(entity_id=frame.account_id))
    det = DistillationDetector().fit(frame)
    flags = det.predict(frame)
    assert flags[0] and not flags[1] and flags.sum() == 1


def test_subsidiary_needs_restricted_traffic_not_only_a_parent() -> None:
    frame = _population(60)
    frame["parent_restricted"] = 0
    frame.loc[0, ["parent_restricted", "share_low"]] = [1, 0.8]
    frame.loc[1, ["parent_restricted", "share_low"]] = [1, 0.0]  # genuinely local subsidiary
    frame = frame.assign(entity_id=frame.account_id)
    det = SubsidiaryDetector().fit(frame)
    assert det.predict(frame).tolist()[:2] == [True, False] and det.predict(frame).sum() == 1


def test_mixture_recovers_a_known_share() -> None:
    start = datetime(2026, 2, 2, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(28 * 24)]
    shape = np.array([0.1, 0.05, 0.03, 0.02, 0.02, 0.04, 0.15, 0.35, 0.65, 0.9, 1.0, 0.95,
                      0.75, 0.9, 1.0, 0.95, 0.9, 0.8, 0.65, 0.6, 0.6, 0.55, 0.4, 0.22])  # fmt: skip
    local = profile(hours, COUNTRY_UTC_OFFSET["US"], "US", shape, 0.4)
    restricted = profile(hours, COUNTRY_UTC_OFFSET["CN"], "CN", shape, 0.4)
    rng = np.random.default_rng(3)
    truth = 0.3
    lam = 3.0 * ((1 - truth) * local / local.mean() + truth * restricted / restricted.mean())
    y = rng.poisson(lam).astype(float)
    days = np.arange(len(hours)) // 24
    est = estimate_share(y, np.zeros_like(y), local, restricted, days, n_boot=100)
    assert abs(est["restricted_share"] - truth) <= 0.05
    assert est["low"] <= truth <= est["high"]
    direct = estimate_share(y, y * 0.5, local, restricted, days, n_boot=0)
    assert direct["restricted_share"] >= 0.5
