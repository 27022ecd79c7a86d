"""The per-end-user restricted share (detect.peruser) and how the origin features and detector use it."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from stillwatch.detect.mixture import profile
from stillwatch.detect.origin import add_origin_features
from stillwatch.detect.peruser import latent_class_share
from stillwatch.detect.subrouting import SubroutingDetector
from tests.detect.timeline import DAYS, HOURS, OFFICE, RESTRICTED, START

EVENING = np.roll(OFFICE, 6)  # busiest in the evening: in the US, that is the Beijing working day


def _people(rng: np.random.Generator, n: int, offset: float, region: str, per_user: float) -> list[np.ndarray]:
    """Hourly exchanges of ``n`` people, half office and half evening people, on one clock and calendar."""
    out = []
    for k in range(n):
        lam = profile(HOURS, offset, region, OFFICE if k % 2 == 0 else EVENING, 0.5)
        out.append(rng.poisson(per_user * rng.lognormal(0, 0.5) * lam / lam.sum()).astype(float))
    return out


def _evening_gb(rng: np.random.Generator) -> list[np.ndarray]:
    lam = profile(HOURS, 0, "GB", EVENING, 0.5)
    return [rng.poisson(200.0 * lam / lam.sum()).astype(float)]


def _frame(accounts: dict[str, tuple[str, list[np.ndarray]]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows, hourly, users = [], [], []
    for aid, (country, people) in accounts.items():
        y = np.sum(people, axis=0)
        best = {"US": -6, "GB": 0}.get(country, 8)
        rows.append({"account_id": aid, "declared_country": country, "billing_country": country,
                     "n_exchanges": int(y.sum()), "best_utc_offset": best, "utc_offset_fit": 0.8,
                     "followup_share": 0.3})  # fmt: skip
        nz = np.flatnonzero(y)
        hourly.append(pd.DataFrame({"account_id": aid, "hour_ts": [pd.Timestamp(HOURS[i]) for i in nz],
                                    "n": y[nz], "n_direct": 0, "n_xff": 0}))  # fmt: skip
        for u, p in enumerate(people):
            nz = np.flatnonzero(p)
            users.append(pd.DataFrame({"account_id": aid, "user": f"{aid}-u{u}",
                                       "hour_ts": [pd.Timestamp(HOURS[i]) for i in nz], "n": p[nz]}))  # fmt: skip
    return pd.DataFrame(rows), pd.concat(hourly, ignore_index=True), pd.concat(users, ignore_index=True)


def _platforms(seed: int) -> tuple[dict[str, tuple[str, list[np.ndarray]]], dict[str, float]]:
    """A US platform (mainland share 30 %), an all-local US platform and a Singapore platform."""
    rng = np.random.default_rng(seed)
    local, mainland = _people(rng, 42, -6, "US", 40.0), _people(rng, 18, 8, "CN", 40.0)
    truth = float(np.sum(mainland) / (np.sum(local) + np.sum(mainland)))
    # one-person customers in London: office and evening people, the learned diurnal shapes
    accounts = {
        f"acct_gb{k:02d}": ("GB", _people(rng, 1, 0, "GB", 200.0) if k % 2 else _evening_gb(rng)) for k in range(40)
    }
    accounts |= {
        "acct_platform": ("US", local + mainland),
        "acct_local": ("US", _people(rng, 60, -6, "US", 40.0)),
        "acct_sg": ("SG", _people(rng, 40, 8, "SG", 40.0) + _people(rng, 10, 8, "CN", 40.0)),
    }
    return accounts, {"acct_platform": truth}


def test_latent_classes_recover_the_mainland_users_of_a_far_clock_platform() -> None:
    rng = np.random.default_rng(3)
    local, mainland = _people(rng, 30, -6, "US", 40.0), _people(rng, 15, 8, "CN", 40.0)
    users = np.vstack(local + mainland)
    L = np.stack([profile(HOURS, o, "US", s, 0.5, part=p) for s in (OFFICE, EVENING) for o in (-7, -6, -5)  # noqa: N806
                  for p in ("work", "rest")], axis=1)  # fmt: skip
    R = np.stack([profile(HOURS, 8, "CN", s, 0.5, part=p) for s in (OFFICE, EVENING) for p in ("work", "all")], 1)  # noqa: N806
    share, post = latent_class_share(users, L, R)
    truth = float(np.sum(mainland) / users.sum())
    assert abs(share - truth) <= 0.03
    assert (post[len(local) :] > 0.5).mean() >= 0.9 and (post[: len(local)] < 0.5).mean() >= 0.9


def test_origin_features_estimate_far_clock_platforms_per_user_and_same_clock_ones_per_account() -> None:
    accounts, truth = _platforms(7)
    frame, hourly, users = _frame(accounts)
    end = START + timedelta(days=DAYS)
    out = add_origin_features(frame, hourly, RESTRICTED, START, end, user_hourly=users).set_index("account_id")
    p = out.loc["acct_platform"]
    assert p["share_users"] == 60  # every user of the far-clock platform classified
    assert abs(p["restricted_share"] - truth["acct_platform"]) <= 0.04
    assert p["share_low"] <= truth["acct_platform"] <= p["share_high"]
    # local office and evening people only: no restricted share in the hourly evidence to anchor
    # the classes, so no per-user split (a two-class model of one-class data is not identified)
    assert out.loc["acct_local", "share_low"] < 0.02 and out.loc["acct_local", "share_users"] == 0
    # on the declared clock only the make-up workdays tell the classes apart: not per user
    assert out.loc["acct_sg", "share_users"] == 0
    # without user rows every account keeps the account-level mixture
    base = add_origin_features(frame, hourly, RESTRICTED, START, end).set_index("account_id")
    assert (base["share_users"] == 0).all()


def test_a_per_user_share_may_flag_with_a_lower_bound_below_the_clock_only_one() -> None:
    rows = pd.DataFrame({
        "entity_id": ["by_users", "by_hours"], "n_exchanges": [2000, 2000], "restricted_share": [0.08, 0.08],
        "share_low": [0.06, 0.06], "share_high": [0.1, 0.1], "fanout_z": [5.0, 5.0], "share_users": [60, 0],
    })  # fmt: skip
    det = SubroutingDetector()
    det.fit(rows)
    flagged = det.score(rows) >= 0.5
    assert flagged.tolist() == [True, False]
    assert "end users classified" in det.evidence(rows)[0][0].why


def test_day_bootstrap_keeps_a_lone_day_type_in_every_replicate() -> None:
    from stillwatch.detect.peruser import _day_draws

    day_index = np.repeat(np.arange(10), 24)
    strata = np.where(day_index == 5, 1, 0)  # day 5 is the only one of its type (a make-up Saturday)
    draws = _day_draws(day_index, strata, 30, seed=4)
    assert all(w[day_index == 5].min() == 1 and w[day_index == 5].max() == 1 for w in draws)
    assert all(w.sum() == 240 for w in draws)  # each type keeps its number of days
    assert any(w[day_index == 0].max() != 1 for w in draws)  # the other days are resampled


def test_restricted_columns_must_improve_the_fit_before_locally_addressed_traffic_gets_a_clock_share() -> None:
    from stillwatch.detect.mixture import restricted_gain

    rng = np.random.default_rng(2)
    L = np.stack([profile(HOURS, o, "US", s, 0.5, part=p) for s in (OFFICE, EVENING) for o in (-7, -6, -5)  # noqa: N806
                  for p in ("work", "rest")], axis=1)  # fmt: skip
    R = np.stack([profile(HOURS, 8, "CN", s, 0.5, part=p) for s in (OFFICE, EVENING) for p in ("work", "all")], 1)  # noqa: N806
    local = np.sum(_people(rng, 40, -6, "US", 40.0), axis=0)
    mainland = np.sum(_people(rng, 15, 8, "CN", 40.0), axis=0)
    assert restricted_gain(local, L, R) <= 0 < restricted_gain(local + mainland, L, R)


def test_a_platform_forwarding_its_users_addresses_keeps_the_forwarded_share_in_its_interval() -> None:
    """Singapore platform, forwarded-for addresses on every exchange: 4 % mainland addresses, the
    rest Singaporean users on the same clock. Nothing but noise is left for the clock share."""
    rng = np.random.default_rng(9)
    accounts = {
        f"acct_gb{k:02d}": ("GB", _people(rng, 1, 0, "GB", 200.0) if k % 2 else _evening_gb(rng)) for k in range(40)
    }
    local = np.sum(_people(rng, 60, 8, "SG", 40.0), axis=0)
    direct = rng.binomial(local.astype(int), 0.04).astype(float)
    accounts["acct_xff"] = ("SG", [local])
    frame, hourly, _ = _frame(accounts)
    frame["xff_share"] = np.where(frame["account_id"] == "acct_xff", 1.0, 0.0)
    mask = hourly["account_id"] == "acct_xff"
    hourly.loc[mask, "n_direct"] = direct[[HOURS.index(t.to_pydatetime()) for t in hourly.loc[mask, "hour_ts"]]]
    hourly["n_xff"] = hourly["n_direct"]
    hourly["n_fwd"] = np.where(mask, hourly["n"], 0)  # every exchange carries its user's address
    out = add_origin_features(frame, hourly, RESTRICTED, START, START + timedelta(days=DAYS)).set_index("account_id")
    truth = direct.sum() / local.sum()
    row = out.loc["acct_xff"]
    assert row["restricted_share"] == round(truth, 4)
    assert row["share_low"] <= truth <= row["share_high"]
