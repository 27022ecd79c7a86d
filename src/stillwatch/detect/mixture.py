"""The restricted-share mixture: hour-of-week profiles, calendars, NNLS and the bootstrap.

An account's exchanges per UTC hour ``y(t)`` are modelled as a non-negative mix of *local*
components (human diurnal shapes at the declared country's plausible offsets, times its calendar)
and *restricted* components (the same kind of shapes at a restricted region's offset, times that
region's calendar: holidays low, make-up workdays — 调休 — at workday level). The restricted share
is the restricted components' part of the fitted mass.

A restricted region is only put in the model when it is *identifiable* from the local side
(:func:`identifiable`): its clock is ≥ 2 h from every local offset, or — on the same clock — its
calendar has a make-up workday inside the data (a weekend day its people work and locals do not).
Holiday dips alone never identify it: neighbours and diaspora keep the same festivals (Spring
Festival in Singapore, Malaysia, Taiwan, Chinese communities anywhere), so the local side also gets
a variant that rests on the restricted regions' holidays.

The interval (:func:`estimate_share`) is a day-block bootstrap in which every replicate also draws
one of several plausible *models* (diurnal basis, holiday depth): it reflects model uncertainty,
not only sampling noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

import numpy as np
from scipy.optimize import nnls

from stillwatch.detect.bootshare import estimate_share_fast

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

#: Countries spanning several zones: the range of their standard offsets.
WIDE_COUNTRIES: dict[str, tuple[int, int]] = {
    "US": (-8, -5), "CA": (-8, -4), "BR": (-5, -3), "MX": (-7, -6), "AU": (9, 11), "ID": (7, 9),
    "RU": (2, 12), "KZ": (5, 6),
}  # fmt: skip


#: Restricted regions whose clock belongs to far larger unrestricted populations: activity on it
#: says "users at that offset", which there are almost all elsewhere (UTC+9: Japan and South Korea
#: for North Korea; UTC-5: the US East Coast, Canada, Colombia and Peru for Cuba). Their clock alone
#: never makes an account's users identifiable (:func:`regions_told_apart`). Geographic and
#: demographic facts, not fitted; for UTC+8 mainland China is most of the clock's internet users.
CLOCK_SHARED_REGIONS: frozenset[str] = frozenset({"KP", "CU"})


def circ_dist(a: float, b: float) -> float:
    """Distance between two UTC offsets on the 24-hour circle."""
    d = abs(a - b) % 24
    return min(d, 24 - d)


def restricted_offsets(regions: list[str]) -> dict[str, float]:
    """UTC offset of every restricted region whose offset is known."""
    return {r: COUNTRY_UTC_OFFSET[r] for r in regions if r in COUNTRY_UTC_OFFSET}


def local_span(code: str | None, offset: float) -> list[float]:
    """Plausible local offsets of a country: its own ±1 h (several zones for wide countries)."""
    if code in WIDE_COUNTRIES:
        lo, hi = WIDE_COUNTRIES[code]
        return [float(h) for h in range(lo - 1, hi + 2)]
    return [offset - 1, offset, offset + 1]


def _region_days(region: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    from stillwatch.enrich.timeprofile import _region_days as cached  # noqa: PLC0415 - cached holiday sets

    try:
        return cached(region, year)
    except Exception:  # noqa: BLE001 - unknown region in the holidays package
        return frozenset(), frozenset()


def day_factors(
    days: list[date], region: str | None, weekend: float, holiday: float | None = None, also: Sequence[str] = ()
) -> np.ndarray:
    """Activity factor per local day.

    Args:
        days: Local days.
        region: Calendar (holidays and make-up workdays) of the users, or None.
        weekend: Activity on weekends relative to workdays.
        holiday: Activity on public holidays (default: the weekend level).
        also: Further regions whose *holidays* (not make-up days) these users also keep.
    """
    hol_level = weekend if holiday is None else holiday
    out = np.ones(len(days))
    for i, d in enumerate(days):
        hol, makeup = _region_days(region, d.year) if region else (frozenset(), frozenset())
        if d in makeup:
            continue
        if d in hol or any(d in _region_days(r, d.year)[0] for r in also):
            out[i] = hol_level
        elif d.weekday() >= 5:
            out[i] = weekend
    return out


def rest_days(days: list[date], region: str | None, also: Sequence[str] = ()) -> np.ndarray:
    """1 on the users' rest days (weekends and holidays, not make-up workdays), else 0."""
    return (day_factors(days, region, 0.0, 0.0, also) == 0).astype(float)


def profile(
    hours: list[datetime],
    offset: float,
    region: str | None,
    shape: np.ndarray,
    weekend: float,
    holiday: float | None = None,
    also: Sequence[str] = (),
    part: str = "all",
) -> np.ndarray:
    """Expected relative activity at each UTC hour for users at ``offset`` on ``region``'s calendar.

    ``part``: ``all`` (workdays 1, weekends ``weekend``, holidays ``holiday``); ``any`` (every day
    1); or only the ``work`` or ``rest`` days at 1. Pairs of such columns with non-negative weights
    leave the users' weekend level free, to be learned from the account itself.
    """
    local = [h + timedelta(hours=offset) for h in hours]
    days = [lt.date() for lt in local]
    uniq = sorted(set(days))
    if part == "all":
        factors = dict(zip(uniq, day_factors(uniq, region, weekend, holiday, also), strict=True))
    elif part == "any":
        factors = dict.fromkeys(uniq, 1.0)
    else:
        rest = rest_days(uniq, region, also)
        factors = dict(zip(uniq, rest if part == "rest" else 1.0 - rest, strict=True))
    frac = offset - np.floor(offset)
    out = np.empty(len(hours))
    for i, lt in enumerate(local):
        h = lt.hour
        v = shape[h] if frac == 0 else (1 - frac) * shape[h] + frac * shape[(h + 1) % 24]
        out[i] = v * factors[days[i]]
    return out


def identifiable(
    r_offset: float,
    region: str,
    local_offsets: Sequence[float],
    local_region: str | None,
    days: Sequence[date],
    *,
    by_clock: bool = True,
) -> bool:
    """Whether users of ``region`` can be told apart from local users by clock or calendar.

    By clock (unless ``by_clock`` is false) when its offset is ≥ 2 h from every plausible local
    offset; otherwise only by a make-up workday in ``days`` (local dates of the data) that is not a
    local workday.
    """
    if by_clock and min(circ_dist(r_offset, o) for o in local_offsets) >= 2:
        return True
    for d in days:
        _, makeup = _region_days(region, d.year)
        if d in makeup:
            lhol, lmk = _region_days(local_region, d.year) if local_region else (frozenset(), frozenset())
            if d not in lmk and (d.weekday() >= 5 or d in lhol):
                return True
    return False


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
    coef, resid = nnls(A, y.astype(float), maxiter=50 * A.shape[1])
    mass = coef * A.sum(axis=0)
    tot = mass.sum()
    share = float(mass[L.shape[1] :].sum() / tot) if tot > 0 else 0.0
    return share, float(resid / max(np.linalg.norm(y), 1e-9))


def restricted_gain(y: np.ndarray, L: np.ndarray, R: np.ndarray) -> float:  # noqa: N803
    """How much the restricted columns improve the NNLS fit of ``y`` (Akaike's criterion).

    ``(RSS without R − RSS with R) / σ² − 2 · (restricted columns in the solution)``, σ² the
    residual variance of the full fit. At or below 0 the restricted side fits noise: with the
    non-negativity constraint a share of noise is always ≥ 0, so a share that does not improve the
    fit is the boundary artefact of the estimator, not evidence (small seed 1: an XFF platform's
    locally addressed remainder got 1.5 % from columns that changed the residual by 0.0 σ²).

    Args:
        y: Counts per hour.
        L: Local columns (a flat column is added, as in :func:`mixture_share`).
        R: Restricted columns.
    """
    L = L.reshape(len(y), -1)  # noqa: N806
    R = R.reshape(len(y), -1)  # noqa: N806
    if y.sum() <= 0 or R.shape[1] == 0:
        return 0.0
    L = np.concatenate([L, np.full((len(y), 1), float(L.mean()) if L.size else 1.0)], axis=1)  # noqa: N806
    A = np.concatenate([L, R], axis=1)  # noqa: N806
    coef, r_full = nnls(A, y.astype(float), maxiter=50 * A.shape[1])
    _, r_null = nnls(L, y.astype(float), maxiter=50 * L.shape[1])
    k = int((coef > 0).sum())
    k_r = int((coef[L.shape[1] :] > 0).sum())
    sigma2 = max(r_full**2 / max(len(y) - k, 1), 1e-12)
    return float((r_null**2 - r_full**2) / sigma2 - 2 * k_r)


Model = tuple[np.ndarray, np.ndarray]


def estimate_share(
    counts: np.ndarray,
    direct: np.ndarray,
    L: np.ndarray,  # noqa: N803
    R: np.ndarray,  # noqa: N803
    day_index: np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
    variants: Sequence[Model] = (),
    strata: np.ndarray | None = None,
    known_local: np.ndarray | None = None,
) -> dict[str, float]:
    """Share estimate with a day-block bootstrap interval over sampling *and* model uncertainty.

    Args:
        counts: Exchanges per UTC hour (all exchanges).
        direct: Exchanges per UTC hour with direct restricted-address evidence.
        L: Local components per hour (columns) of the main model.
        R: Restricted components per hour (columns) of the main model.
        day_index: UTC day index per hour (bootstrap blocks).
        n_boot: Bootstrap replicates (0: no interval beyond the point).
        seed: Random seed (fixed: results are deterministic).
        variants: Other plausible ``(L, R)`` models; each replicate draws the main model or one of
            these, so the interval also spans what the choice of model changes.
        strata: Day type per hour (e.g. which calendars rest that day). Days are resampled within
            their type, so a rare type that carries the calendar evidence (a make-up workday) is in
            every replicate; a type with a single day gets Poisson-resampled counts instead.
        known_local: Exchanges per hour whose end user's own address is observed outside the
            restricted regions (a forwarded-for address): they count in the total as local and the
            clock mixture fits only the exchanges without address evidence. None: no such exchanges.

    Returns:
        ``{restricted_share, low, high, confidence}``.
    """
    models: list[Model] = [(L.reshape(len(counts), -1), R.reshape(len(counts), -1))]
    models += [(a.reshape(len(counts), -1), b.reshape(len(counts), -1)) for a, b in variants]
    if counts.sum() <= 0:
        return {"restricted_share": 0.0, "low": 0.0, "high": 0.0, "confidence": 0.95}
    point, boots = estimate_share_fast(counts, direct, models, day_index, n_boot, seed, strata, known_local)
    return _interval(point, boots)


def _interval(point: float, boots: list[float]) -> dict[str, float]:
    lo, hi = np.quantile(boots, [0.025, 0.975]) if boots else (point, point)
    return {
        "restricted_share": round(point, 4),
        "low": round(float(min(lo, point)), 4),
        "high": round(float(max(hi, point)), 4),
        "confidence": 0.95,
    }


def _estimate_share_reference(
    counts: np.ndarray,
    direct: np.ndarray,
    L: np.ndarray,  # noqa: N803
    R: np.ndarray,  # noqa: N803
    day_index: np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
    variants: Sequence[Model] = (),
    strata: np.ndarray | None = None,
    known_local: np.ndarray | None = None,
) -> dict[str, float]:
    """The reference implementation of :func:`estimate_share` (per-replicate row copies; slow).

    Same arguments and result as :func:`estimate_share`; kept for the tests that compare the fast
    path (:mod:`stillwatch.detect.bootshare`) with it.
    """
    if counts.sum() <= 0:
        return {"restricted_share": 0.0, "low": 0.0, "high": 0.0, "confidence": 0.95}
    return _interval(
        *_reference_replicates(counts, direct, L, R, day_index, n_boot, seed, variants, strata, known_local)
    )


def _reference_replicates(
    counts: np.ndarray,
    direct: np.ndarray,
    L: np.ndarray,  # noqa: N803
    R: np.ndarray,  # noqa: N803
    day_index: np.ndarray,
    n_boot: int,
    seed: int,
    variants: Sequence[Model],
    strata: np.ndarray | None,
    known_local: np.ndarray | None = None,
) -> tuple[float, list[float]]:
    """The reference's point share and replicate shares (see :func:`estimate_share`)."""
    local = np.zeros(len(counts)) if known_local is None else np.asarray(known_local, dtype=float)
    models: list[Model] = [(L.reshape(len(counts), -1), R.reshape(len(counts), -1))]
    models += [(a.reshape(len(counts), -1), b.reshape(len(counts), -1)) for a, b in variants]

    def one(idx: np.ndarray, m: int, c: np.ndarray | None = None) -> float:
        c = counts[idx] if c is None else c
        d = np.minimum(direct[idx], c)
        rest = np.maximum(c - d - np.minimum(local[idx], c - d), 0)
        s, _ = mixture_share(rest, models[m][0][idx], models[m][1][idx])
        tot = c.sum()
        return float((d.sum() + s * rest.sum()) / tot) if tot > 0 else 0.0

    everything = np.arange(len(counts))
    point = one(everything, 0)
    boots = [one(everything, m) for m in range(1, len(models))] if n_boot > 0 else []
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        days = np.unique(day_index)
        by_day = {d: np.flatnonzero(day_index == d) for d in days}
        kind = np.zeros(len(counts), dtype=int) if strata is None else np.asarray(strata)
        types: dict[int, list[int]] = {}
        for d in days:
            types.setdefault(int(kind[by_day[d][0]]), []).append(int(d))
        for _ in range(n_boot):
            idx_parts, lone = [], []
            for members in types.values():
                pick = rng.choice(members, size=len(members), replace=True)
                part = np.concatenate([by_day[d] for d in pick])
                idx_parts.append(part)
                lone.append(np.full(len(part), len(members) == 1))
            idx = np.concatenate(idx_parts)
            c = counts[idx].astype(float)
            single = np.concatenate(lone)
            c[single] = rng.poisson(c[single])
            boots.append(one(idx, int(rng.integers(len(models))), c))
    return point, boots


def regions_told_apart(
    roff: dict[str, float],
    local_offsets: Sequence[float],
    local_region: str | None,
    days_at: Callable[[float], Sequence[date]],
) -> list[str]:
    """Restricted regions whose users an account's clock or calendar can tell from its local ones.

    A region of :data:`CLOCK_SHARED_REGIONS` identified by clock alone is kept only next to
    another identifiable region (there it shapes the restricted side, as before); alone it would
    turn an unrestricted population on that clock into restricted users (altgen seed 59: an Indian
    app's late evening on North Korea's, that is Japan's and Korea's, clock).

    Args:
        roff: Restricted region -> UTC offset.
        local_offsets: Plausible local offsets of the account (:func:`local_span`).
        local_region: The account's country (its calendar), or None.
        days_at: Local dates of the data at a given offset.
    """
    regions = [r for r, o in roff.items() if identifiable(o, r, local_offsets, local_region, days_at(o))]
    if regions and set(regions) <= CLOCK_SHARED_REGIONS:
        regions = [
            r
            for r in regions
            if identifiable(roff[r], r, local_offsets, local_region, days_at(roff[r]), by_clock=False)
        ]
    return regions
