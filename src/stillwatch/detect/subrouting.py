"""Sub-routing: the share of an account's exchanges that come from restricted-region end users.

The estimate (``restricted_share``, ``share_low``, ``share_high``) is computed by
:mod:`stillwatch.detect.origin` with the mixture of :mod:`stillwatch.detect.mixture`: non-negative
least squares of the account's hourly counts on local and restricted hour-of-week columns (learned
diurnal shapes × calendars, make-up workdays and holidays included), restricted regions on the
declared clock identified by their make-up workdays, the weekend level learned from the account,
and a day-type-stratified bootstrap over several plausible models. Exchanges with restricted
end-user addresses count as restricted before the fit. This module holds the detector that turns
the estimate into findings; the names below are re-exported for existing callers.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from stillwatch.detect.base import Detector, squash
from stillwatch.detect.evidence import Evidence
from stillwatch.detect.mixture import (
    COUNTRY_UTC_OFFSET,
    circ_dist,
    estimate_share,
    mixture_share,
    profile,
    restricted_offsets,
)
from stillwatch.detect.origin import add_origin_features, learn_shape

__all__ = [
    "COUNTRY_UTC_OFFSET",
    "SubroutingDetector",
    "add_origin_features",
    "circ_dist",
    "describe_estimate",
    "estimate_share",
    "learn_shape",
    "mixture_share",
    "profile",
    "restricted_offsets",
]


_EXTRA_EVIDENCE = (
    ("enduser_addr_share", "enduser_addr_share", 0.0, "0 for most accounts",
     "end users' addresses (forwarded-for, or client addresses over several prefixes) in a restricted region",
     "network", 3.0),
    ("cal_restricted", "makeup_ratio_cn", 1.0, "about 1 or below", "works on mainland make-up workdays (调休)",
     "timing", 2.0),
)  # fmt: skip


class SubroutingDetector(Detector):
    """Flags accounts with a material restricted-region share backed by timing or address evidence.

    Input columns (built by the runner): ``restricted_share``, ``share_low``, ``share_high``,
    ``tz_fit_gain`` (how much the restricted component improves the fit), ``restricted_addr_share``,
    ``cal_restricted``.

    A share resting on the clock alone (:func:`clock_only`) is judged on :func:`gate_low`, the lower
    of the percentile and the reflected bootstrap bounds (v6): the mixture's upward bias on a local
    population the shapes do not fit shows as replicates above the point.

    Args:
        min_low: The interval's lower bound must exceed this share.
        min_exchanges_clock: Exchanges needed before a clock-only (mixture) share can flag. The
            mixture describes a population of end users; on a few hundred exchanges it fits one
            person's rhythm instead (a night owl, a traveller) and gives a 25-45 % "restricted"
            share to customers in Europe, India or Australia (seen on the small tuning set). A
            platform sends a thousand and more; direct address evidence needs no such volume.
        min_low_clock: Lower bound a clock-only share needs (below it template misfit dominates).
        min_low_users: The same for a share estimated over the account's end users
            (``share_users`` > 0, :mod:`stillwatch.detect.peruser`): a user is local or restricted
            as a whole, so the hour-by-hour template misfit that ``min_low_clock`` guards against
            does not add up to a share (small seed 1: 17 enterprise gateways estimated per user,
            lower bounds ≤ 0.6 %, account-level upper bounds up to 29 %).
        min_direct_share: Share of restricted client/forwarded-for addresses that counts as direct evidence.
        min_fanout_z_direct: Fan-out needed when restricted addresses are seen directly.
        min_fanout_z: Multi-user fan-out (``fanout_z``, robust z) that counts as "many end users".
        min_exchanges: Accounts with fewer exchanges are not scored.
        midpoint: Evidence strength at which the score is 0.5.
        min_active_hours: Mean active hours per day that, together with human conversations
            (``min_followup``) on at least ``min_exchanges_clock`` exchanges, also counts as many
            end users: one person or one office is not busy around the clock every day, and a
            script does not hold conversations. Platforms that pass no user ids or system prompts
            through (so show no identifier fan-out) are still populations.
        min_followup: Share of follow-up turns (humans continue conversations; scripts do not).
    """

    name = "subrouting_mixture"
    version = "6"
    kind = "subrouting"
    entity = "account"
    status = "test"
    required_columns: ClassVar[tuple[str, ...]] = ("n_exchanges", "restricted_share", "share_low", "share_high")

    def __init__(
        self,
        min_low: float = 0.02,
        min_exchanges: int = 100,
        midpoint: float = 2.0,
        min_fanout_z: float = 3.0,
        min_fanout_z_direct: float = 2.0,
        min_exchanges_clock: int = 1000,
        min_low_clock: float = 0.1,
        min_low_users: float = 0.05,
        min_direct_share: float = 0.005,
        min_active_hours: float = 18.0,
        min_followup: float = 0.15,
    ) -> None:
        self.min_active_hours = min_active_hours
        self.min_followup = min_followup
        self.min_low = min_low
        self.min_exchanges_clock = min_exchanges_clock
        self.min_low_clock = min_low_clock
        self.min_low_users = min_low_users
        self.min_direct_share = min_direct_share
        self.min_fanout_z = min_fanout_z
        self.min_fanout_z_direct = min_fanout_z_direct
        self.min_exchanges = min_exchanges
        self.midpoint = midpoint

    def _fit(self, X: pd.DataFrame) -> None:  # noqa: N803
        low = pd.to_numeric(X["share_low"], errors="coerce").fillna(0.0).to_numpy()
        self.low_p99_ = float(np.quantile(low, 0.99)) if low.size else 0.0
        self.low_median_ = float(np.median(low)) if low.size else 0.0
        self.offset_ = 0.5

    def _score(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        low = gate_low(X)
        n = pd.to_numeric(X["n_exchanges"], errors="coerce").fillna(0).to_numpy()
        col = "enduser_addr_share" if "enduser_addr_share" in X.columns else "restricted_addr_share"
        addr = pd.to_numeric(X.get(col, 0.0), errors="coerce")
        cal = pd.to_numeric(X.get("cal_restricted", 0.0), errors="coerce")
        addr = np.asarray(addr.fillna(0.0) if hasattr(addr, "fillna") else np.zeros(len(X)), dtype=float)
        cal = np.asarray(cal.fillna(0.0) if hasattr(cal, "fillna") else np.zeros(len(X)), dtype=float)
        users = pd.to_numeric(X.get("fanout_z", 0.0), errors="coerce")
        users = np.asarray(users.fillna(0.0) if hasattr(users, "fillna") else np.zeros(len(X)), dtype=float)
        tz = pd.to_numeric(X.get("tz_restricted", 0.0), errors="coerce")
        tz = np.asarray(tz.fillna(0.0) if hasattr(tz, "fillna") else np.zeros(len(X)), dtype=float)
        strength = 20.0 * np.maximum(low - self.min_low, 0) + np.minimum(2.0, 20 * addr) + 0.5 * np.clip(cal, 0, 2)
        # a platform forwards *other people's* traffic: the restricted share needs many end users
        # behind the account or direct address evidence (a lone script or team is not a platform)
        direct = addr >= self.min_direct_share
        support = (users >= self.min_fanout_z) | (direct & (users >= self.min_fanout_z_direct))
        support |= self._round_the_clock(X) & (n >= self.min_exchanges_clock)
        # a clock-based share needs volume to be estimable; restricted addresses are direct evidence
        clock_ok = n >= self.min_exchanges_clock
        # the clock alone cannot separate a small share from template misfit: it needs min_low_clock
        # (less when whole end users were classified: per-hour misfit does not add up there)
        users_est = pd.to_numeric(X.get("share_users", 0.0), errors="coerce")
        users_est = np.asarray(users_est.fillna(0.0) if hasattr(users_est, "fillna") else np.zeros(len(X))) > 0
        min_clock = np.where(users_est, self.min_low_users, self.min_low_clock)
        low_ok = (low > self.min_low) & ((clock_ok & (low >= min_clock)) | direct)
        low_ok |= direct & (users >= self.min_fanout_z_direct)
        gate = low_ok & (n >= self.min_exchanges) & support
        s = squash(np.maximum(strength, 1.0) + 1.0, self.midpoint)
        return np.where(gate, s, np.minimum(s, 0.49) * 0.5)

    def _round_the_clock(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Human conversations spread over most hours of every day (a population, not a person)."""
        hours = pd.to_numeric(X.get("active_hours_per_day", 0.0), errors="coerce")
        follow = pd.to_numeric(X.get("followup_share", 0.0), errors="coerce")
        hours = np.asarray(hours.fillna(0.0) if hasattr(hours, "fillna") else np.zeros(len(X)), dtype=float)
        follow = np.asarray(follow.fillna(0.0) if hasattr(follow, "fillna") else np.zeros(len(X)), dtype=float)
        return (hours >= self.min_active_hours) & (follow >= self.min_followup)

    def evidence(self, X: pd.DataFrame) -> list[list[Evidence]]:  # noqa: N803
        """Evidence items per row."""
        self._check_fitted()
        out = []
        clock = self._round_the_clock(X)
        for k, (_, row) in enumerate(X.iterrows()):
            est = describe_estimate(row)
            items = [
                Evidence(
                    "restricted_share", row["restricted_share"],
                    f"interval lower bound: median {self.low_median_:.3f}, p99 {self.low_p99_:.3f} over all accounts",
                    f"hour-of-week and holiday mixture puts {est['low']:.0%}–{est['high']:.0%} of the "
                    "traffic on a restricted region's clock and calendar"
                    + _by_users(row) + _clock_only_caveat(row),
                    "timing", float(est["low"]) * 10,
                )
            ]  # fmt: skip
            if clock[k]:
                items.append(Evidence(
                    "active_hours_per_day", row.get("active_hours_per_day"),
                    f"one person or office: well under {self.min_active_hours:.0f} h",
                    f"human conversations (follow-up share {float(row.get('followup_share') or 0):.0%}) around the "
                    "clock every day: a population of end users", "multi_user", 1.0,
                ))  # fmt: skip
            for gate, feat, thr, base, why, fam, strength in _EXTRA_EVIDENCE:
                if float(row.get(gate, 0) or 0) > thr:
                    items.append(Evidence(feat, row.get(feat), base, why, fam, strength))
            out.append(items)
        return out

    @classmethod
    def example_input(cls, seed: int = 0, n: int = 60) -> pd.DataFrame:
        """Synthetic shares for the contract checks."""
        rng = np.random.default_rng(seed)
        share = rng.beta(0.5, 8.0, size=n)
        return pd.DataFrame({
            "entity_id": [f"a{i}" for i in range(n)], "n_exchanges": rng.integers(50, 5000, size=n),
            "restricted_share": share, "share_low": np.maximum(share - 0.05, 0), "share_high": share + 0.05,
        })  # fmt: skip


def _by_users(row: pd.Series) -> str:
    """How the share was estimated, when it classified the account's end users."""
    users = int(float(row.get("share_users") or 0))
    return f" (each of {users} end users classified by their own timeline)" if users > 0 else ""


def _clock_only_caveat(row: pd.Series) -> str:
    """Say so when the share rests on the clock alone: a clock is shared with neighbours.

    Without restricted end-user addresses or work on the restricted calendar's make-up days, the
    mixture cannot tell a restricted region's users from those of non-restricted countries on the
    same clock (UTC+8 is also Taiwan, Singapore, Malaysia, the Philippines and Western Australia).
    """
    addr = max(float(row.get("enduser_addr_share") or 0), float(row.get("restricted_addr_share") or 0))
    if addr > 0 or float(row.get("cal_restricted") or 0) > 0:
        return ""
    return (
        "; clock only (no restricted addresses, no make-up-workday activity): users in non-restricted "
        "countries on the same clock are not told apart"
    )


def clock_only(X: pd.DataFrame, min_direct_share: float = 0.005) -> np.ndarray:  # noqa: N803
    """Rows whose share rests on the clock alone: no restricted end-user addresses, no work on the
    restricted calendar's make-up days, and not living on a restricted region's clock."""

    def col(name: str) -> np.ndarray:
        v = pd.to_numeric(X[name], errors="coerce") if name in X.columns else pd.Series(0.0, index=X.index)
        return np.asarray(v.fillna(0.0), dtype=float)

    addr = col("enduser_addr_share" if "enduser_addr_share" in X.columns else "restricted_addr_share")
    return np.asarray((addr < min_direct_share) & (col("cal_restricted") <= 0) & (col("tz_restricted") <= 0))


def gate_low(X: pd.DataFrame) -> np.ndarray:  # noqa: N803
    """The lower bound a share is judged on: for a clock-only share, also the bootstrap's reflected bound.

    The mixture's restricted side is non-negative: on a population the local shapes do not fit
    exactly it takes whatever part of the misfit a restricted clock can explain, and each bootstrap
    replicate (resampled days, or a less flexible model variant) adds misfit of its own, so the
    replicates lie above the point as the point lies above the truth. The percentile interval then
    puts the point itself as the lower bound (an evening-heavy all-local US app on altgen seed 41:
    5.2 % [5.2-16.6], users 18-23 h local = the Beijing working day) and carries the bias in the wrong
    direction. The basic (reflected) bootstrap bound ``2·share − high`` assumes the replicates sit
    above the point by what the point sits above the truth; the lower of the two bounds is kept
    (that app: 0; the US app with 31.0 % restricted users: 36.2 % [35.9-43.6] -> [28.9-43.6]).
    Shares with address or calendar evidence keep the percentile bound.
    """
    share = pd.to_numeric(X["restricted_share"], errors="coerce").fillna(0.0).to_numpy()
    low = pd.to_numeric(X["share_low"], errors="coerce").fillna(0.0).to_numpy()
    high = pd.to_numeric(X["share_high"], errors="coerce").fillna(0.0).to_numpy()
    reflected = np.maximum(np.minimum(low, 2 * share - high), 0.0)
    return np.where(clock_only(X), reflected, low)


def describe_estimate(row: dict[str, Any] | pd.Series, kind: str = "subrouting") -> dict[str, Any]:
    """findings-v1 ``estimate``: a sub-routing share resting on the clock alone reports the interval
    its finding was judged on (:func:`gate_low`), widened upwards the same way."""
    share, low, high = (float(row[c]) for c in ("restricted_share", "share_low", "share_high"))
    if kind == "subrouting":
        one = pd.DataFrame([dict(row)])
        high = max(high, 2 * share - low) if bool(clock_only(one)[0]) else high
        low = float(gate_low(one)[0])
    return {"restricted_share": round(share, 4), "low": round(low, 4), "high": round(high, 4), "confidence": 0.95}
