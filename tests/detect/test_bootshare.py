"""The fast restricted-share bootstrap equals the reference implementation (same draws, same fits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stillwatch.detect import origin
from stillwatch.detect.bootshare import estimate_share_fast
from stillwatch.detect.mixture import (
    _estimate_share_reference,
    _reference_replicates,
    estimate_share,
    profile,
    rest_days,
)

SHAPE = np.array([0.1, 0.05, 0.03, 0.02, 0.02, 0.04, 0.15, 0.35, 0.65, 0.9, 1.0, 0.95,
                  0.75, 0.9, 1.0, 0.95, 0.9, 0.8, 0.65, 0.6, 0.6, 0.55, 0.4, 0.22])  # fmt: skip


@st.composite
def problems(draw: st.DrawFn) -> dict:
    """Small random mixture problems: counts, direct counts, models, day blocks and strata."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_days = draw(st.integers(2, 9))
    hours = draw(st.integers(4, 12))
    n = n_days * hours - draw(st.integers(0, hours - 1))  # the last day may be partial
    day_index = np.arange(n) // hours + draw(st.integers(0, 5))
    if draw(st.booleans()):  # days need not be contiguous blocks
        day_index = rng.permutation(day_index)
    counts = rng.poisson(draw(st.floats(0.2, 20.0)), size=n).astype(float)
    direct = np.where(rng.random(n) < draw(st.floats(0.0, 0.5)), rng.poisson(1.0, size=n), 0).astype(float)
    n_models = draw(st.integers(1, 4))
    models = []
    for _ in range(n_models):
        p_l, p_r = draw(st.integers(1, 4)), draw(st.integers(0, 4))
        L = rng.random((n, p_l)) * (rng.random((n, p_l)) < 0.8)  # noqa: N806
        R = rng.random((n, p_r)) * (rng.random((n, p_r)) < 0.8)  # noqa: N806
        if p_l > 1 and draw(st.booleans()):
            L[:, 0] = 0.0  # an all-zero column
        models.append((L, R))
    strata = rng.integers(0, draw(st.integers(1, 4)), size=n_days + 6)[day_index] if draw(st.booleans()) else None
    # exchanges seen local by their forwarded address (may exceed what is left after the direct ones)
    known = rng.poisson(draw(st.floats(0.0, 10.0)), size=n).astype(float) if draw(st.booleans()) else None
    return {
        "counts": counts, "direct": direct, "models": models, "day_index": day_index,
        "n_boot": draw(st.integers(0, 12)), "seed": draw(st.integers(0, 10_000)), "strata": strata,
        "known": known,
    }  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_fast_bootstrap_equals_the_reference_on_random_problems(pb: dict) -> None:
    (L, R), variants = pb["models"][0], pb["models"][1:]  # noqa: N806
    args = (pb["counts"], pb["direct"], L, R, pb["day_index"])
    ref_point, ref_boots = _reference_replicates(*args, pb["n_boot"], pb["seed"], variants, pb["strata"], pb["known"])
    point, boots = estimate_share_fast(
        pb["counts"], pb["direct"], pb["models"], pb["day_index"], pb["n_boot"], pb["seed"], pb["strata"], pb["known"]
    )
    assert len(boots) == len(ref_boots)
    np.testing.assert_allclose(point, ref_point, rtol=0, atol=1e-9)
    np.testing.assert_allclose(boots, ref_boots, rtol=0, atol=1e-9)
    kw = {"n_boot": pb["n_boot"], "seed": pb["seed"], "variants": variants, "strata": pb["strata"]}
    kw["known_local"] = pb["known"]
    assert estimate_share(*args, **kw) == _estimate_share_reference(*args, **kw)


def test_fast_bootstrap_draws_the_reference_days() -> None:
    """One replicate per model whose share marks the draw: the fast path must pick the same days."""
    n_days, hours = 10, 24
    day_index = np.arange(n_days * hours) // hours
    counts = np.ones(n_days * hours) * 3.0
    direct = np.repeat(np.arange(n_days) % 3, hours).astype(float)  # the direct share tells the days apart
    L = np.ones((len(counts), 1))  # noqa: N806
    strata = np.repeat(np.arange(n_days) % 4 == 0, hours).astype(int)
    for seed in range(20):
        ref = _reference_replicates(counts, direct, L, L * 0.5, day_index, 30, seed, (), strata)
        fast = estimate_share_fast(counts, direct, [(L, L * 0.5)], day_index, 30, seed, strata)
        np.testing.assert_allclose(fast[1], ref[1], rtol=0, atol=1e-12)
        assert len(set(np.round(ref[1], 9))) > 3  # the replicates differ: the test can tell draws apart


def _strata_reference(
    hours: list[datetime], sel: np.ndarray, code: str | None, local: float, regions: dict
) -> np.ndarray:
    """The per-hour day type of session 4 (each hour looked up on its own)."""
    out = np.zeros(len(sel), dtype=int)
    seen: dict[tuple[float, ...], int] = {}
    calendars = [(code, local), *regions.items()]
    for j, i in enumerate(sel):
        noon = hours[int(i)].replace(hour=12)
        key = tuple(rest_days([(noon + timedelta(hours=o)).date()], c)[0] for c, o in calendars)
        out[j] = seen.setdefault(key, len(seen))
    return out


@pytest.mark.parametrize("start_hour", [0, 5, 17])
def test_strata_per_day_equal_the_per_hour_reference(start_hour: int) -> None:
    start = datetime(2026, 2, 2, start_hour, tzinfo=UTC)  # Spring Festival and two make-up Saturdays
    hours = [start + timedelta(hours=h) for h in range(28 * 24)]
    for sel in (np.arange(len(hours)), np.arange(30, 400)):
        for code, local, regions in (("SG", 8.0, {"CN": 8.0}), ("US", -6.0, {"CN": 8.0, "RU": 3.0}), (None, 0.0, {})):
            got = origin._strata(hours, sel, code, local, regions)
            assert got.tolist() == _strata_reference(hours, sel, code, local, regions).tolist()


def test_origin_features_equal_with_the_reference_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the account frame is the same whichever implementation estimates the share."""
    start = datetime(2026, 2, 2, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(28 * 24)]
    rng = np.random.default_rng(11)
    rows, hourly = [], []
    for i in range(40):
        country, off = [("SG", 8), ("DE", 1), ("US", -6)][i % 3]
        lam = profile(hours, off, country, SHAPE, 0.35)
        if i % 5 == 0:  # part of the traffic on the mainland clock and calendar
            lam = 0.6 * lam + 0.4 * profile(hours, 8, "CN", SHAPE, 0.35)
        y = rng.poisson(6.0 * lam / lam.mean()).astype(float)
        y[: 24 * (i % 4)] = 0  # accounts starting later in the window
        nz = np.flatnonzero(y)
        rows.append({"account_id": f"a{i:02d}", "declared_country": country, "billing_country": country,
                     "n_exchanges": int(y.sum()), "best_utc_offset": off, "utc_offset_fit": 0.8,
                     "followup_share": 0.3, "restricted_prefixes": 0})  # fmt: skip
        direct = (rng.random(len(nz)) < (0.05 if i % 7 == 0 else 0.0)).astype(int)
        hourly.append(pd.DataFrame({"account_id": f"a{i:02d}", "hour_ts": [pd.Timestamp(hours[j]) for j in nz],
                                    "n": y[nz], "n_direct": direct, "n_xff": direct}))  # fmt: skip
    frame, hourly_df = pd.DataFrame(rows), pd.concat(hourly, ignore_index=True)
    restricted = ["CN", "HK", "RU"]
    fast = origin.add_origin_features(frame, hourly_df, restricted, start, start + timedelta(days=28), n_boot=20)
    forked = origin.add_origin_features(
        frame, hourly_df, restricted, start, start + timedelta(days=28), n_boot=20, workers=2
    )
    pd.testing.assert_frame_equal(fast, forked)  # accounts estimated on two forked workers: same values
    monkeypatch.setattr(origin, "estimate_share", _estimate_share_reference)
    ref = origin.add_origin_features(frame, hourly_df, restricted, start, start + timedelta(days=28), n_boot=20)
    pd.testing.assert_frame_equal(fast, ref)
    assert (fast["share_high"] > fast["share_low"]).sum() >= 5  # bootstrapped intervals were compared
