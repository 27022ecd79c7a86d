"""Sub-routing: the share of an account's exchanges that come from restricted-region end users.

Estimator (per account, on the UTC hour grid of the window):

``y(t) ≈ a·L(t) + b·R(t)`` with ``a, b ≥ 0`` (non-negative least squares), where

* ``L`` is the *local* profile: a human diurnal shape placed at the declared country's UTC offset
  times the local day factor (weekday 1, weekend and local public holiday at the baseline
  weekend level);
* ``R`` is the *restricted* profile: the same shape at a restricted region's UTC offset with that
  region's calendar (mainland holidays low, make-up workdays at weekday level — the 调休 effect);
* the diurnal shape and the weekend level are learned from all accounts in the window (each
  account's hour-of-day profile aligned on its best-fitting offset), not fixed constants.

Exchanges with direct address evidence (client IP or X-Forwarded-For in a restricted region) are
counted as restricted before the mixture is fitted on the rest. The share is ``b·ΣR / (a·ΣL + b·ΣR)``;
its interval is a day-block bootstrap. Offsets and calendars are geographic facts; the restricted
list comes only from ``settings.restricted_regions``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from stillwatch.detect.base import Detector, squash, wilson_interval
from stillwatch.detect.evidence import Evidence

#: Standard UTC offsets (hours, DST ignored) by ISO country. Geographic facts, used to place the
#: local and restricted diurnal profiles; countries spanning zones use their most populous one.
COUNTRY_UTC_OFFSET: dict[str, float] = {
    "US": -6, "CA": -5, "MX": -6, "BR": -3, "AR": -3, "CL": -4, "CO": -5, "PE": -5, "CU": -5,
    "GB": 0, "IE": 0, "PT": 0, "IS": 0, "FR": 1, "DE": 1, "NL": 1, "BE": 1, "ES": 1, "IT": 1, "CH": 1,
    "AT": 1, "SE": 1, "NO": 1, "DK": 1, "PL": 1, "CZ": 1, "HU": 1, "NG": 1, "FI": 2, "GR": 2, "UA": 2,
    "RO": 2, "IL": 2, "EG": 2, "ZA": 2, "TR": 3, "RU": 3, "SA": 3, "KE": 3, "SY": 3, "BY": 3, "IR": 3.5,
    "AE": 4, "PK": 5, "IN": 5.5, "BD": 6, "KZ": 5, "TH": 7, "VN": 7, "ID": 7, "CN": 8, "HK": 8, "MO": 8,
    "TW": 8, "SG": 8, "MY": 8, "PH": 8, "AU": 10, "JP": 9, "KR": 9, "KP": 9, "NZ": 12,
}  # fmt: skip


def circ_dist(a: float, b: float) -> float:
    """Distance between two UTC offsets on the 24-hour circle."""
    d = abs(a - b) % 24
    return min(d, 24 - d)


def restricted_offsets(regions: list[str]) -> dict[str, float]:
    """UTC offset of every restricted region whose offset is known."""
    return {r: COUNTRY_UTC_OFFSET[r] for r in regions if r in COUNTRY_UTC_OFFSET}


def _day_factors(days: list[date], region: str | None, weekend: float) -> np.ndarray:
    """Activity factor per local day: 1 on workdays, ``weekend`` on weekends and holidays."""
    from stillwatch.enrich.timeprofile import _region_days  # noqa: PLC0415 - cached holiday sets

    out = np.ones(len(days))
    for i, d in enumerate(days):
        hol: frozenset[date] = frozenset()
        makeup: frozenset[date] = frozenset()
        if region:
            try:
                hol, makeup = _region_days(region, d.year)
            except Exception:  # noqa: BLE001 - unknown region in the holidays package
                hol, makeup = frozenset(), frozenset()
        if d in makeup:
            out[i] = 1.0
        elif d in hol or d.weekday() >= 5:
            out[i] = weekend
        else:
            out[i] = 1.0
    return out


def profile(hours: list[datetime], offset: float, region: str | None, shape: np.ndarray, weekend: float) -> np.ndarray:
    """Expected relative activity at each UTC hour for users at ``offset`` on ``region``'s calendar."""
    local = [h + timedelta(hours=offset) for h in hours]
    days = [lt.date() for lt in local]
    uniq = sorted(set(days))
    factors = dict(zip(uniq, _day_factors(uniq, region, weekend), strict=True))
    frac = offset - np.floor(offset)
    out = np.empty(len(hours))
    for i, lt in enumerate(local):
        h = lt.hour
        v = shape[h] if frac == 0 else (1 - frac) * shape[h] + frac * shape[(h + 1) % 24]
        out[i] = v * factors[days[i]]
    return out


def mixture_share(y: np.ndarray, L: np.ndarray, R: np.ndarray) -> tuple[float, float]:  # noqa: N803
    """Restricted share and relative residual of the NNLS fit ``y ≈ L·a + R·b`` (``a, b ≥ 0``).

    Args:
        y: Counts per hour.
        L: Local components, one column per plausible local offset (or a single vector).
        R: Restricted components, one column per restricted region (or a single vector).
    """
    L = L.reshape(len(y), -1)  # noqa: N806
    R = R.reshape(len(y), -1)  # noqa: N806
    if y.sum() <= 0 or R.shape[1] == 0:
        return 0.0, 1.0
    # a flat round-the-clock component on the local side: a platform's many users (and its
    # scheduled jobs) spread wider than one person's diurnal shape, and without it the broader
    # shoulders are absorbed by a restricted profile a few hours away
    L = np.concatenate([L, np.full((len(y), 1), float(L.mean()) if L.size else 1.0)], axis=1)  # noqa: N806
    A = np.concatenate([L, R], axis=1)  # noqa: N806
    coef, resid = nnls(A, y.astype(float))
    mass = coef * A.sum(axis=0)
    tot = mass.sum()
    share = float(mass[L.shape[1] :].sum() / tot) if tot > 0 else 0.0
    return share, float(resid / max(np.linalg.norm(y), 1e-9))


def estimate_share(
    counts: np.ndarray,
    direct: np.ndarray,
    L: np.ndarray,  # noqa: N803
    R: np.ndarray,  # noqa: N803
    day_index: np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, float]:
    """Share estimate with a day-block bootstrap interval.

    Args:
        counts: Exchanges per UTC hour (all exchanges).
        direct: Exchanges per UTC hour with direct restricted-address evidence.
        L: Local components per hour (columns).
        R: Restricted components per hour (columns).
        day_index: UTC day index per hour (bootstrap blocks).
        n_boot: Bootstrap replicates (0: no interval beyond the point).
        seed: Random seed (fixed: results are deterministic).

    Returns:
        ``{restricted_share, low, high, confidence}``.
    """
    L = L.reshape(len(counts), -1)  # noqa: N806
    R = R.reshape(len(counts), -1)  # noqa: N806
    if counts.sum() <= 0:
        return {"restricted_share": 0.0, "low": 0.0, "high": 0.0, "confidence": 0.95}

    def one(idx: np.ndarray) -> float:
        c, d = counts[idx], direct[idx]
        rest = np.maximum(c - d, 0)
        s, _ = mixture_share(rest, L[idx], R[idx])
        tot = c.sum()
        return float((d.sum() + s * rest.sum()) / tot) if tot > 0 else 0.0

    point = one(np.arange(len(counts)))
    boots = []
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        days = np.unique(day_index)
        by_day = {d: np.flatnonzero(day_index == d) for d in days}
        for _ in range(n_boot):
            pick = rng.choice(days, size=len(days), replace=True)
            boots.append(one(np.concatenate([by_day[d] for d in pick])))
    lo, hi = np.quantile(boots, [0.025, 0.975]) if boots else (point, point)
    return {
        "restricted_share": round(point, 4),
        "low": round(float(min(lo, point)), 4),
        "high": round(float(max(hi, point)), 4),
        "confidence": 0.95,
    }


_EXTRA_EVIDENCE = (
    ("restricted_addr_share", "restricted_addr_share", 0.0, "0 for most accounts",
     "client or forwarded-for addresses in a restricted region", "network", 3.0),
    ("cal_restricted", "makeup_ratio_cn", 1.0, "about 1 or below", "works on mainland make-up workdays (调休)",
     "timing", 2.0),
)  # fmt: skip


class SubroutingDetector(Detector):
    """Flags accounts with a material restricted-region share backed by timing or address evidence.

    Input columns (built by the runner): ``restricted_share``, ``share_low``, ``share_high``,
    ``tz_fit_gain`` (how much the restricted component improves the fit), ``restricted_addr_share``,
    ``cal_restricted``.

    Args:
        min_low: The interval's lower bound must exceed this share.
        min_exchanges_clock: Exchanges needed before a clock-only (mixture) share can flag. The
            mixture describes a population of end users; on a few hundred exchanges it fits one
            person's rhythm instead (a night owl, a traveller) and gives a 25-45 % "restricted"
            share to customers in Europe, India or Australia (seen on the small tuning set). A
            platform sends a thousand and more; direct address evidence needs no such volume.
        min_low_clock: Lower bound a clock-only share needs (below it template misfit dominates).
        min_direct_share: Share of restricted client/forwarded-for addresses that counts as direct evidence.
        min_fanout_z_direct: Fan-out needed when restricted addresses are seen directly.
        min_fanout_z: Multi-user fan-out (``fanout_z``, robust z) that counts as "many end users".
        min_exchanges: Accounts with fewer exchanges are not scored.
        midpoint: Evidence strength at which the score is 0.5.
    """

    name = "subrouting_mixture"
    version = "2"
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
        min_direct_share: float = 0.005,
    ) -> None:
        self.min_low = min_low
        self.min_exchanges_clock = min_exchanges_clock
        self.min_low_clock = min_low_clock
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
        low = pd.to_numeric(X["share_low"], errors="coerce").fillna(0.0).to_numpy()
        n = pd.to_numeric(X["n_exchanges"], errors="coerce").fillna(0).to_numpy()
        addr = pd.to_numeric(X.get("restricted_addr_share", 0.0), errors="coerce")
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
        # a clock-based share needs volume to be estimable; restricted addresses are direct evidence
        clock_ok = n >= self.min_exchanges_clock
        # the clock alone cannot separate a small share from template misfit: it needs min_low_clock
        low_ok = (low > self.min_low) & ((clock_ok & (low >= self.min_low_clock)) | direct)
        low_ok |= direct & (users >= self.min_fanout_z_direct)
        gate = low_ok & (n >= self.min_exchanges) & support
        s = squash(np.maximum(strength, 1.0) + 1.0, self.midpoint)
        return np.where(gate, s, np.minimum(s, 0.49) * 0.5)

    def evidence(self, X: pd.DataFrame) -> list[list[Evidence]]:  # noqa: N803
        """Evidence items per row."""
        self._check_fitted()
        out = []
        for _, row in X.iterrows():
            items = [
                Evidence(
                    "restricted_share", row["restricted_share"],
                    f"interval lower bound: median {self.low_median_:.3f}, p99 {self.low_p99_:.3f} over all accounts",
                    f"hour-of-week and holiday mixture puts {row['share_low']:.0%}–{row['share_high']:.0%} of the "
                    "traffic on a restricted region's clock and calendar",
                    "timing", float(row["share_low"]) * 10,
                )
            ]  # fmt: skip
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


def describe_estimate(row: dict[str, Any]) -> dict[str, Any]:
    """findings-v1 ``estimate`` for sub-routing."""
    return {
        "restricted_share": round(float(row["restricted_share"]), 4),
        "low": round(float(row["share_low"]), 4),
        "high": round(float(row["share_high"]), 4),
        "confidence": 0.95,
    }


# ---------------------------------------------------------------------- origin features (pandas)
MIN_EXCHANGES_FOR_MIXTURE = 50
MIN_EXCHANGES_FOR_CALENDAR = 100


def _local_offset(row: pd.Series) -> float | None:
    for col in ("declared_country", "billing_country"):
        code = row.get(col)
        if isinstance(code, str) and code.upper() in COUNTRY_UTC_OFFSET:
            return COUNTRY_UTC_OFFSET[code.upper()]
    return None


def learn_shape(frame: pd.DataFrame, hourly: pd.DataFrame, mask: pd.Series | None = None) -> tuple[np.ndarray, float]:
    """Human diurnal shape (24 local hours, max 1) and weekend activity level from the accounts.

    Each account's hourly counts are moved to local time with its best-fitting offset; accounts
    whose diurnal fit is good contribute equally. Falls back to the enrichment template.

    Args:
        frame: Account frame.
        hourly: Hourly counts.
        mask: Restrict to these accounts (e.g. those living on a restricted region's clock).
    """
    from stillwatch.enrich.timeprofile import _DIURNAL  # noqa: PLC0415

    fallback = np.asarray(_DIURNAL, dtype=float) / max(_DIURNAL)
    sel = (frame["utc_offset_fit"].fillna(0) >= 0.5) & (frame["n_exchanges"] >= 20)
    good = frame[sel & mask] if mask is not None else frame[sel]
    if len(good) < 5 or hourly.empty:
        return fallback, 0.4
    off = dict(zip(good["account_id"], good["best_utc_offset"].astype(int), strict=True))
    h = hourly[hourly["account_id"].isin(off)].copy()
    ts = pd.to_datetime(h["hour_ts"], utc=True)
    shift = h["account_id"].map(off).to_numpy()
    local = ts + pd.to_timedelta(shift, unit="h")
    h["lh"] = local.dt.hour.to_numpy()
    h["wk"] = (local.dt.dayofweek >= 5).to_numpy()
    h["ld"] = local.dt.date.to_numpy()
    prof = h.pivot_table(index="account_id", columns="lh", values="n", aggfunc="sum", fill_value=0)
    prof = prof.reindex(columns=range(24), fill_value=0)
    prof = prof.div(prof.sum(axis=1), axis=0)
    shape = prof.mean(axis=0).to_numpy()
    shape = np.maximum(shape / shape.max(), 0.01)
    days = h.groupby(["account_id", "ld", "wk"])["n"].sum().reset_index()
    per = days.groupby(["account_id", "wk"])["n"].mean().unstack()
    if True in per.columns and False in per.columns:
        ratio = (per[True] / per[False]).replace([np.inf, -np.inf], np.nan).dropna()
        weekend = float(np.clip(ratio.median(), 0.05, 1.5)) if len(ratio) else 0.4
    else:
        weekend = 0.4
    return shape, weekend


def _local_span(code: str | None, offset: float) -> list[float]:
    """Plausible local offsets of a country: its own ±1 h (several zones for wide countries)."""
    wide = {"US": (-8, -5), "CA": (-8, -4), "BR": (-5, -3), "MX": (-7, -6), "AU": (9, 11), "ID": (7, 9),
            "RU": (2, 12), "KZ": (5, 6)}  # fmt: skip
    if code in wide:
        lo, hi = wide[code]
        return [float(h) for h in range(lo - 1, hi + 2)]
    return [offset - 1, offset, offset + 1]


def add_origin_features(
    frame: pd.DataFrame, hourly: pd.DataFrame, restricted: list[str], start: datetime, until: datetime, n_boot: int = 60
) -> pd.DataFrame:
    """Add ``tz_restricted``, ``cal_restricted``, ``restricted_share``/``share_low``/``share_high``.

    ``cal_restricted`` compares each account on a restricted region's clock (best offset within
    1 h) with every other account on that clock: a robust z of its make-up-workday activity and
    of its holiday dip relative to its declared country's holidays.

    Args:
        frame: Account-window frame (with ``declared_country``, ``best_utc_offset``…).
        hourly: ``account_id, hour_ts, n, n_direct``.
        restricted: ``settings.restricted_regions``.
        start: Window start.
        until: Window end.
        n_boot: Bootstrap replicates for the interval.

    Returns:
        The frame with the new columns.
    """
    frame = frame.copy()
    roff = restricted_offsets(restricted)
    local = frame.apply(_local_offset, axis=1)
    frame["local_offset"] = local
    best = frame["best_utc_offset"].astype(float)
    fit = frame["utc_offset_fit"].fillna(0.0).astype(float)
    tz = np.zeros(len(frame))
    for i, (b, d, f) in enumerate(zip(best, local, fit, strict=True)):
        if not roff or pd.isna(b) or d is None or pd.isna(d):
            continue
        if min(circ_dist(b, r) for r in roff.values()) <= 1 and circ_dist(b, d) >= 3:
            tz[i] = float(np.clip((f - 0.3) / 0.15, 0, 4))
    frame["tz_restricted"] = tz
    shape, weekend = learn_shape(frame, hourly)
    frame["cal_fit"] = 0.0
    if "CN" in roff and "makeup_ratio_cn" in frame.columns and 0 < weekend < 1:
        # 1 = the account works the mainland calendar (make-up days like workdays, holidays like
        # weekends); 0 = it ignores it. Scaled by the baseline weekend level of all accounts.
        on_clock = best.apply(lambda b: pd.notna(b) and circ_dist(b, roff["CN"]) <= 1)
        on_clock &= frame["n_exchanges"] >= MIN_EXCHANGES_FOR_CALENDAR
        hol_local = pd.Series(1.0, index=frame.index)
        for i, row in frame.iterrows():
            col = f"holiday_ratio_{str(row.get('declared_country') or '').lower()}"
            if col != "holiday_ratio_cn" and col in frame.columns and pd.notna(row[col]):
                hol_local[i] = max(float(row[col]), 0.05)
        mk = np.log(frame["makeup_ratio_cn"].astype(float).clip(lower=0.05)) / np.log(1 / weekend)
        hol = np.log(frame["holiday_ratio_cn"].astype(float).clip(lower=0.05) / hol_local) / np.log(weekend)
        # both calendar effects must agree (make-up days worked AND mainland holidays quiet)
        cal = pd.concat([mk, hol], axis=1).min(axis=1, skipna=False).clip(-0.5, 1.5)
        frame["cal_fit"] = cal.where(on_clock, 0.0).fillna(0.0)
    frame["cal_restricted"] = 4.0 * ((frame["cal_fit"] - 0.3) / 0.7).clip(0, 1)
    shapes = {}
    for r, o in roff.items():
        on = best.apply(lambda b, o=o: pd.notna(b) and circ_dist(b, o) <= 1)
        shapes[r] = learn_shape(frame, hourly, on)[0] if on.sum() >= 5 else shape
    est = _estimate_all(frame, hourly, roff, shape, weekend, start, until, n_boot, shapes)
    for col in ("restricted_share", "share_low", "share_high"):
        frame[col] = frame["account_id"].map({a: e[col] for a, e in est.items()}).fillna(0.0)
    frame["share_identifiable"] = frame["account_id"].map({a: e["identifiable"] for a, e in est.items()})
    frame["share_identifiable"] = frame["share_identifiable"].fillna(False).astype(bool)
    return frame


def _estimate_all(
    frame: pd.DataFrame, hourly: pd.DataFrame, roff: dict[str, float], shape: np.ndarray, weekend: float,
    start: datetime, until: datetime, n_boot: int, shapes: dict[str, np.ndarray] | None = None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    if not roff or hourly.empty:
        return {}
    grid = pd.date_range(pd.Timestamp(start).floor("h"), pd.Timestamp(until), freq="h", inclusive="left", tz="UTC")
    hours = [t.to_pydatetime() for t in grid]
    pos = {t: i for i, t in enumerate(grid)}
    day_idx = np.asarray([(t - grid[0]).days for t in grid])
    cache: dict[tuple[float, str | None, bool], np.ndarray] = {}

    shapes = shapes or {}

    def prof(off: float, region: str | None, restricted: bool = False) -> np.ndarray:
        key = (off, region, restricted)
        if key not in cache:
            sh = shapes.get(region, shape) if restricted and region else shape
            cache[key] = profile(hours, off, region, sh, weekend)
        return cache[key]

    out: dict[str, dict[str, Any]] = {}
    cand = frame[(frame["n_exchanges"] >= MIN_EXCHANGES_FOR_MIXTURE) & frame["local_offset"].notna()]
    hourly = hourly[hourly["account_id"].isin(set(cand["account_id"]))]
    idx_all = pd.to_datetime(hourly["hour_ts"], utc=True).map(pos).to_numpy()
    groups = hourly.assign(_i=idx_all).dropna(subset=["_i"]).groupby("account_id")
    for _, row in cand.iterrows():
        aid = row["account_id"]
        if aid not in groups.groups:
            continue
        g = groups.get_group(aid)
        gi = g["_i"].astype(int).to_numpy()
        sel = np.arange(int(gi.min()) - int(gi.min()) % 24, int(gi.max()) + 1)
        y = np.zeros(len(grid))
        dn = np.zeros(len(grid))
        y[gi] = g["n"].to_numpy()
        dn[gi] = g["n_direct"].to_numpy()
        code = str(row.get("declared_country") or row.get("billing_country") or "").upper() or None
        offs = _local_span(code, float(row["local_offset"]))
        L = np.stack([prof(o, code) for o in offs], axis=1)  # noqa: N806
        rcols = [prof(o, r, True) for r, o in roff.items() if min(circ_dist(o, lo) for lo in offs) >= 2]
        # a restricted region on the declared country's own clock (Singapore and the mainland):
        # the clock cannot separate them, only the calendar and addresses can. A region merely
        # inside a wide country's span (Cuba in the US span) is covered by the local components.
        clock_r = [r for r, o in roff.items() if circ_dist(o, float(row["local_offset"])) < 1]
        if (
            clock_r
            and pd.notna(row.get("best_utc_offset"))
            and any(circ_dist(float(row["best_utc_offset"]), roff[r]) <= 1 for r in clock_r)
        ):
            direct = float(dn[sel].sum() / max(y[sel].sum(), 1))
            d_lo, d_hi = wilson_interval(int(dn[sel].sum()), int(y[sel].sum()))
            cal = float(row.get("cal_fit", 0.0) or 0.0)
            share = max(direct, min(1.0, cal)) if cal >= 0.3 else direct
            lo = max(d_lo, share - 0.2) if cal >= 0.3 else d_lo
            hi = min(1.0, share + 0.2) if cal >= 0.1 else d_hi
            out[aid] = {"restricted_share": share, "share_low": lo, "share_high": hi, "identifiable": False}
            continue
        if not rcols:
            direct = float(dn[sel].sum() / max(y[sel].sum(), 1))
            d_lo, d_hi = wilson_interval(int(dn[sel].sum()), int(y[sel].sum()))
            out[aid] = {"restricted_share": direct, "share_low": d_lo, "share_high": d_hi, "identifiable": False}
            continue
        R = np.stack(rcols, axis=1)  # noqa: N806
        point, _ = mixture_share(np.maximum(y[sel] - dn[sel], 0), L[sel], R[sel])
        boots = n_boot if (point > 0.02 or dn[sel].sum() > 0) else 0
        seed = int.from_bytes(aid.encode()[-4:], "little")
        e = estimate_share(y[sel], dn[sel], L[sel], R[sel], day_idx[sel], n_boot=boots, seed=seed)
        out[aid] = {
            "restricted_share": e["restricted_share"],
            "share_low": e["low"],
            "share_high": e["high"],
            "identifiable": True,
        }
    return out
