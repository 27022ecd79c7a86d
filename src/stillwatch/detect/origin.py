"""Origin features per account: restricted clock, mainland calendar and the restricted share.

``add_origin_features`` adds ``tz_restricted``, ``cal_fit``/``cal_restricted``,
``enduser_addr_share`` and the mixture estimate ``restricted_share``/``share_low``/``share_high``
(:mod:`stillwatch.detect.mixture`). Offsets and calendars are geographic facts; the restricted list
comes only from ``settings.restricted_regions``; the diurnal shapes and the weekend level are
learned from the accounts in the window.

Address evidence. A client address geolocated to a restricted region says where that *address*
is registered or announced, which for a corporate or cloud range is often not where its users
sit (a multinational's regional /24, an anycast or a cloud region). Client addresses count as
*end-user* evidence only when they spread over at least ``MIN_RESTRICTED_PREFIXES`` distinct
prefixes (several people and places); X-Forwarded-For addresses (the end users' own) always
count. One stable restricted range is left to the clock and calendar: when they agree, the
mixture finds the share anyway; when the account runs on its declared country's clock, the range
alone is not a finding.

Forwarded addresses decide where they are seen. An exchange carrying a public X-Forwarded-For
address outside the restricted regions is observed local; the clock mixture fits only the exchanges
without such an address (and those with a restricted one count as restricted first). The clock
over the observed-local traffic as well only raises the upper bound (restricted users behind a VPN
exit or roaming keep a non-restricted address); such accounts are not estimated per user. A
forwarded address on a hosting or VPN/proxy network says nothing about where its user sits (a
chained proxy, a VPN exit) and is not observed local.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from stillwatch.detect.base import wilson_interval
from stillwatch.detect.mixture import (
    COUNTRY_UTC_OFFSET,
    Model,
    circ_dist,
    estimate_share,
    local_span,
    profile,
    regions_told_apart,
    rest_days,
    restricted_offsets,
)
from stillwatch.detect.peruser import MIN_ACCOUNT_LOW, MIN_ID_COVERAGE, MIN_USERS, estimate_by_users
from stillwatch.engine.batchpool import fork_map

MIN_EXCHANGES_FOR_MIXTURE = 50
MIN_EXCHANGES_FOR_CALENDAR = 100
#: Distinct restricted client prefixes needed before client addresses count as end-user evidence.
MIN_RESTRICTED_PREFIXES = 2
#: Diurnal basis shapes learned from the accounts (the model variant with several shapes).
N_BASIS = 3
#: Follow-up share of the accounts the basis shapes are learned from (people in conversations).
MIN_BASIS_FOLLOWUP = 0.15


#: Network kinds (``xff_kind``) of a forwarded address that do not show where its user is.
UNINFORMATIVE_XFF_KINDS = ("hosting", "vpn_proxy")


def direct_evidence(view: Any) -> Any:
    """Per exchange: restricted address evidence, the client's or the forwarded one (Ibis)."""
    return view.ip_restricted.fill_null(False) | view.xff_restricted.fill_null(False)


def hourly_address_counts(view: Any) -> Any:
    """Per account and UTC hour (Ibis): ``n``, ``n_direct`` (:func:`direct_evidence`), ``n_xff``
    (restricted forwarded address) and ``n_fwd`` (a forwarded address that shows where its user is:
    restricted, or not on a network of :data:`UNINFORMATIVE_XFF_KINDS`)."""
    import ibis

    direct, xff = direct_evidence(view), view.xff_restricted.fill_null(False)
    seen = view.xff_ip.notnull() & (xff | ~view.xff_kind.fill_null("unknown").isin(UNINFORMATIVE_XFF_KINDS))
    return view.group_by(["account_id", view.ts.truncate("h").name("hour_ts")]).aggregate(
        n=view.count(),
        n_direct=ibis.ifelse(direct, 1, 0).sum(),
        n_xff=ibis.ifelse(xff, 1, 0).sum(),
        n_fwd=ibis.ifelse(seen, 1, 0).sum(),
    )


def _local_offset(row: pd.Series) -> float | None:
    for col in ("declared_country", "billing_country"):
        code = row.get(col)
        if isinstance(code, str) and code.upper() in COUNTRY_UTC_OFFSET:
            return COUNTRY_UTC_OFFSET[code.upper()]
    return None


def _template() -> np.ndarray:
    from stillwatch.enrich.timeprofile import _DIURNAL  # noqa: PLC0415

    return np.asarray(_DIURNAL, dtype=float) / max(_DIURNAL)


def learn_shape(frame: pd.DataFrame, hourly: pd.DataFrame, mask: pd.Series | None = None) -> tuple[np.ndarray, float]:
    """Human diurnal shape (24 local hours, max 1) and weekend activity level from the accounts.

    Each account's hourly counts are moved to local time with its best-fitting offset; accounts
    whose diurnal fit is good contribute equally. Falls back to the enrichment template.

    Args:
        frame: Account frame.
        hourly: Hourly counts.
        mask: Restrict to these accounts (e.g. those living on a restricted region's clock).
    """
    sel = (frame["utc_offset_fit"].fillna(0) >= 0.5) & (frame["n_exchanges"] >= 20)
    good = frame[sel & mask] if mask is not None else frame[sel]
    if len(good) < 5 or hourly.empty:
        return _template(), 0.4
    prof, h = _aligned(hourly, dict(zip(good["account_id"], good["best_utc_offset"].astype(int), strict=True)))
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


def _aligned(hourly: pd.DataFrame, off: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-account share of activity by local hour (accounts × 24) and the shifted hourly rows."""
    h = hourly[hourly["account_id"].isin(off)].copy()
    local = pd.to_datetime(h["hour_ts"], utc=True) + pd.to_timedelta(h["account_id"].map(off).to_numpy(), unit="h")
    h["lh"] = local.dt.hour.to_numpy()
    h["wk"] = (local.dt.dayofweek >= 5).to_numpy()
    h["ld"] = local.dt.date.to_numpy()
    prof = h.pivot_table(index="account_id", columns="lh", values="n", aggfunc="sum", fill_value=0)
    prof = prof.reindex(columns=range(24), fill_value=0)
    return prof.div(prof.sum(axis=1), axis=0), h


def shape_basis(frame: pd.DataFrame, hourly: pd.DataFrame, k: int = N_BASIS) -> list[np.ndarray]:
    """A few distinct human diurnal shapes (office day, evening, night) learned from the accounts.

    Accounts of single-zone countries are aligned on their *declared* country's offset (aligning on
    the best-fitting offset would map every evening person onto the office template and hide the
    diversity), then clustered (k-means on hour-of-day shares). Falls back to the template.

    The shapes are the *local* side's vocabulary, so they are learned from local people only:
    accounts holding conversations (follow-up share ≥ ``MIN_BASIS_FOLLOWUP``; a benchmark batch
    job's one-hour spike is not a diurnal shape, and as a column it fits any spike of noise) and
    not living on a restricted region's clock far from their declared one (``tz_restricted`` 0).
    Without the second rule relays and hydras declared in Europe but serving mainland users formed
    a cluster of their own (the Beijing working day seen from London), which the local side then
    used to explain restricted traffic.
    """
    code = frame["declared_country"].astype("string").str.upper()
    single = code.isin([c for c in COUNTRY_UTC_OFFSET if c not in ("US", "CA", "BR", "MX", "AU", "ID", "RU", "KZ")])
    whole = frame["local_offset"].notna() & (frame["local_offset"] % 1 == 0)
    local = (_num(frame, "followup_share", 1.0) >= MIN_BASIS_FOLLOWUP) & (_num(frame, "tz_restricted") <= 0)
    good = frame[single.fillna(False) & whole & (frame["n_exchanges"] >= 50) & local]
    if len(good) < 10 * k or hourly.empty:
        return [_template()]
    from sklearn.cluster import KMeans  # noqa: PLC0415

    prof, _ = _aligned(hourly, dict(zip(good["account_id"], good["local_offset"].astype(int), strict=True)))
    km = KMeans(n_clusters=k, n_init=4, random_state=0).fit(prof.to_numpy())
    return [np.maximum(c / c.max(), 0.01) for c in km.cluster_centers_]


def add_origin_features(
    frame: pd.DataFrame,
    hourly: pd.DataFrame,
    restricted: list[str],
    start: datetime,
    until: datetime,
    n_boot: int = 60,
    workers: int = 1,
    user_hourly: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Add ``tz_restricted``, ``cal_restricted``, ``enduser_addr_share`` and the restricted share.

    ``cal_restricted`` compares each account on a restricted region's clock (best offset within
    1 h) with every other account on that clock: a robust z of its make-up-workday activity and
    of its holiday dip relative to its declared country's holidays.

    Args:
        frame: Account-window frame (with ``declared_country``, ``best_utc_offset``…; optionally
            ``restricted_prefixes``, the distinct restricted client prefixes).
        hourly: ``account_id, hour_ts, n, n_direct`` (optionally ``n_xff``: restricted forwarded-for
            addresses only; ``n_fwd``: exchanges carrying a public forwarded-for address. Those of
            them outside the restricted regions are observed local: addresses decide where they
            are seen, the clock estimates the rest and only widens the upper bound beyond it).
        restricted: ``settings.restricted_regions``.
        start: Window start.
        until: Window end.
        n_boot: Bootstrap replicates for the interval.
        workers: Processes for the per-account estimates (forked; same results with any number).
        user_hourly: ``account_id, user, hour_ts, n``: exchanges *without* direct address
            evidence per end user (``metadata.user_id``) and hour. Accounts with enough users and
            every restricted region told apart by its clock get the per-user estimate
            (:mod:`stillwatch.detect.peruser`); ``share_users`` is the number of users it rests on
            (0: the account-level mixture).

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
    frame["enduser_addr_share"] = enduser_addr_share(frame)
    shapes = {}
    for r, o in roff.items():
        on = best.apply(lambda b, o=o: pd.notna(b) and circ_dist(b, o) <= 1)
        shapes[r] = learn_shape(frame, hourly, on)[0] if on.sum() >= 5 else shape
    basis = shape_basis(frame, hourly)
    est = _estimate_all(
        frame, hourly, roff, (shape, weekend, shapes, basis), start, until, n_boot, workers, user_hourly
    )
    for col in ("restricted_share", "share_low", "share_high", "share_users"):
        frame[col] = frame["account_id"].map({a: e[col] for a, e in est.items()}).fillna(0.0)
    frame["share_identifiable"] = frame["account_id"].map({a: e["identifiable"] for a, e in est.items()})
    frame["share_identifiable"] = frame["share_identifiable"].fillna(False).astype(bool)
    return frame


def _num(frame: pd.DataFrame, col: str, default: float = 0.0) -> pd.Series:
    if col not in frame.columns:
        return pd.Series(default, index=frame.index, dtype=float)
    return pd.to_numeric(frame[col], errors="coerce").fillna(default).astype(float)


def enduser_addr_share(frame: pd.DataFrame) -> pd.Series:
    """Share of exchanges whose *end-user* address is in a restricted region (see module doc)."""
    client = _num(frame, "ip_restricted_share")
    if "restricted_prefixes" in frame.columns:
        client = client.where(_num(frame, "restricted_prefixes") >= MIN_RESTRICTED_PREFIXES, 0.0)
    elif "ip_restricted_share" not in frame.columns:  # hand-made frames: only the combined share
        return _num(frame, "restricted_addr_share")
    return np.maximum(client, _num(frame, "xff_restricted_share"))


def _estimate_all(
    frame: pd.DataFrame, hourly: pd.DataFrame, roff: dict[str, float],
    learned: tuple[np.ndarray, float, dict[str, np.ndarray], list[np.ndarray]],
    start: datetime, until: datetime, n_boot: int, workers: int = 1, user_hourly: pd.DataFrame | None = None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    if not roff or hourly.empty:
        return {}
    shape, weekend, shapes, basis = learned
    grid = pd.date_range(pd.Timestamp(start).floor("h"), pd.Timestamp(until), freq="h", inclusive="left", tz="UTC")
    hours = [t.to_pydatetime() for t in grid]
    pos = {t: i for i, t in enumerate(grid)}
    day_idx = np.asarray([(t - grid[0]).days for t in grid])
    named = {"main": shape, "template": _template()} | {f"b{i}": b for i, b in enumerate(basis)}
    named |= {f"r:{r}": s for r, s in shapes.items()}
    cache: dict[tuple[Any, ...], np.ndarray] = {}

    def prof(off: float, region: str | None, sh: str, also: tuple[str, ...] = (), part: str = "all") -> np.ndarray:
        key = (off, region, sh, also, part)
        if key not in cache:
            cache[key] = profile(hours, off, region, named[sh], weekend, None, also, part)
        return cache[key]

    out: dict[str, dict[str, Any]] = {}
    cand = frame[(frame["n_exchanges"] >= MIN_EXCHANGES_FOR_MIXTURE) & frame["local_offset"].notna()]
    hourly = hourly[hourly["account_id"].isin(set(cand["account_id"]))]
    idx_all = pd.to_datetime(hourly["hour_ts"], utc=True).map(pos).to_numpy()
    hourly = hourly.assign(_i=idx_all).dropna(subset=["_i"])
    # per account: its hourly rows as arrays (one groupby, not a get_group per account)
    h_i, h_n = hourly["_i"].astype(int).to_numpy(), hourly["n"].to_numpy()
    h_direct = hourly["n_direct"].to_numpy()
    h_xff = hourly["n_xff"].to_numpy() if "n_xff" in hourly.columns else None
    h_fwd = hourly["n_fwd"].to_numpy() if "n_fwd" in hourly.columns else None
    groups = hourly.groupby("account_id").indices
    stacked: dict[tuple[Any, ...], np.ndarray] = {}  # columns over the whole grid, shared by accounts

    def columns(key: tuple[Any, ...], make: Callable[[], list[np.ndarray]]) -> np.ndarray:
        if key not in stacked:
            stacked[key] = np.stack(make(), axis=1)
        return stacked[key]

    prefixes = _num(frame, "restricted_prefixes", default=np.inf) if "restricted_prefixes" in frame else None
    by_user = _user_rows(user_hourly, set(cand["account_id"]), pos)

    def one(i: Any, row: pd.Series) -> tuple[str, dict[str, Any]] | None:
        """The share estimate of one candidate account (``None`` without hourly rows)."""
        aid = row["account_id"]
        if aid not in groups:
            return None
        rows = groups[aid]
        gi = h_i[rows]
        sel = np.arange(int(gi.min()) - int(gi.min()) % 24, int(gi.max()) + 1)
        y = np.zeros(len(grid))
        dn = np.zeros(len(grid))
        y[gi] = h_n[rows]
        one_range = prefixes is not None and prefixes[i] < 2 and h_xff is not None
        dn[gi] = (h_xff if one_range and h_xff is not None else h_direct)[rows]
        fl = np.zeros(len(grid))
        if h_fwd is not None and h_xff is not None:
            fl[gi] = np.maximum(h_fwd[rows] - h_xff[rows], 0)
        code = str(row.get("declared_country") or row.get("billing_country") or "").upper() or None
        offs = local_span(code, float(row["local_offset"]))
        regions = regions_told_apart(roff, offs, code, partial(_days, hours, sel))
        if not regions:
            d_lo, d_hi = wilson_interval(int(dn[sel].sum()), int(y[sel].sum()))
            direct = float(dn[sel].sum() / max(y[sel].sum(), 1))
            return aid, {"restricted_share": direct, "share_low": d_lo, "share_high": d_hi, "identifiable": False,
                         "share_users": 0}  # fmt: skip
        # regions told apart by their calendar only (same clock): local users may keep their
        # festivals too, each region's on its own (not a union of every restricted calendar)
        also = tuple(r for r in regions if min(circ_dist(roff[r], o) for o in offs) < 2)

        def model(  # the account's values bound now (the function is used within this iteration)
            sh: list[str], free: bool = True, rest_range: bool = False, code: str | None = code,
            offs: list[float] = offs, also: tuple[str, ...] = also, regions: list[str] = regions,
            sel: np.ndarray = sel,
        ) -> Model:  # fmt: skip
            """Local and restricted columns; ``free``: work and rest days separately (weekend level free).

            Local users may also rest on the restricted regions' holidays (neighbours and diaspora
            keep the same festivals), so only the make-up workdays and the clock tell them apart.
            ``rest_range``: a same-clock region's weekend level anywhere from 0 to the population's
            (v3) instead of the population's.
            """
            # local: any weekend level (hobbyists are busier at weekends); restricted: from 0 up
            # to the population's weekend level (a mix of "workdays only" and "all" columns). Its
            # people rest on their rest days: a restricted component as busy on its holidays as
            # on its workdays would be a copy of the local columns on the same clock (and fit
            # anything), not people keeping the restricted calendar. On the local clock the make-up
            # workdays identify only W * (1 - weekend level): there the level is the population's
            # (least squares picked it from shape misfit, in practice near 0 = the lowest share)
            parts, rparts = (("work", "rest"), ("work", "all")) if free else (("all",), ("all",))
            key = (code, tuple(offs), also, tuple(regions), tuple(sh), free, rest_range)
            cols = columns(("L", *key), lambda: [
                *(prof(o, code, s, (), p) for s in sh for o in offs for p in parts),
                *(prof(o, code, s, (a,), p) for a in also for s in sh for o in offs for p in parts),
            ])  # fmt: skip
            rc = columns(("R", *key), lambda: [
                prof(roff[r], r, s, (), p)
                for r in regions
                for s in sh
                for p in (rparts if rest_range or r not in also else ("all",))
            ])  # fmt: skip
            return cols[sel], rc[sel]

        # the same shapes on both sides: a shape only one side may use would win on shape, not
        # on clock or calendar; the variants span other plausible shapes, a fixed weekend level
        # and (same-clock regions) the restricted weekend level from 0 to the population's
        bs = [f"b{k}" for k in range(len(basis))]
        L, R = model(["main", *bs])  # noqa: N806
        # exchanges whose forwarded-for address (the end user's own) is outside the restricted
        # regions are observed local: they count in the total, the clock fits only the rest
        known = fl[sel] if fl[sel].sum() > 0 else None
        e = estimate_share(y[sel], dn[sel], L, R, day_idx[sel], n_boot=0, known_local=known)
        if e["restricted_share"] > 0.02 or dn[sel].sum() > 0:
            variants = [model(["main"]), model(["template"]), model(bs), model(["main"], free=False)]
            if also:
                variants.append(model(["main", *bs], rest_range=True))
            strata = _strata(hours, sel, code, float(row["local_offset"]), {r: roff[r] for r in regions})
            seed = int.from_bytes(aid.encode()[-4:], "little")
            e = estimate_share(y[sel], dn[sel], L, R, day_idx[sel], n_boot, seed, variants, strata, known)
            if known is not None:
                # addresses decide where they are seen (altgen seed 41: an SG app forwarding every
                # user's address, 11.97 % restricted, was 13.4 % [13.4-37.4] per user and 17.1 %
                # [17.0-51.7] from the clock). The clock over the observed-local traffic too only
                # widens the upper bound: users behind a VPN exit or roaming are not excluded
                clock = estimate_share(y[sel], dn[sel], L, R, day_idx[sel], n_boot, seed, variants, strata)
                e = {**e, "high": max(e["high"], clock["high"])}
                return aid, _result(e)
            # every region told apart by its clock, and the hourly evidence already shows restricted
            # users: classify the end users. Without that anchor a two-class model of one-class
            # data is not identified: local evening people look like the Beijing working day, and
            # the EM can make a restricted class of them (a synthetic all-local US platform: 27 %)
            users = None if also else _user_matrix(by_user.get(aid), sel, y[sel] - np.minimum(dn[sel], y[sel]))
            if users is not None and e["low"] >= MIN_ACCOUNT_LOW:
                e = estimate_by_users(users, y[sel], dn[sel], [(L, R), *variants], day_idx[sel], n_boot, seed, strata)
        return aid, _result(e)

    # accounts are independent (each bootstrap has its own seed): the same estimates on any worker
    items = list(cand.iterrows())
    for result in fork_map(lambda k: one(*items[k]), len(items), workers):
        if result is not None:
            out[result[0]] = result[1]
    return out


def _result(e: dict[str, float]) -> dict[str, Any]:
    """The account's estimate columns from an estimate of :mod:`mixture` or :mod:`peruser`."""
    return {"restricted_share": e["restricted_share"], "share_low": e["low"], "share_high": e["high"],
            "identifiable": True, "share_users": int(e.get("users", 0))}  # fmt: skip


def _user_rows(
    user_hourly: pd.DataFrame | None, accounts: set[str], pos: dict[Any, int]
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per account: user code, grid hour and count of each (user, hour) row with exchanges."""
    if user_hourly is None or user_hourly.empty:
        return {}
    uh = user_hourly[user_hourly["account_id"].isin(accounts)]
    hour = pd.to_datetime(uh["hour_ts"], utc=True).map(pos)
    uh = uh.assign(_i=hour.to_numpy()).dropna(subset=["_i"])
    uh = uh[uh["n"] > 0]
    out = {}
    for aid, rows in uh.groupby("account_id").indices.items():
        part = uh.iloc[rows]
        codes = pd.factorize(part["user"])[0]
        out[str(aid)] = (codes, part["_i"].astype(int).to_numpy(), part["n"].to_numpy(dtype=float))
    return out


def _user_matrix(
    rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None, sel: np.ndarray, rest: np.ndarray
) -> np.ndarray | None:
    """Users × selected hours of exchanges without direct evidence, or None when too few carry ids.

    Exchanges without a user id (``rest`` minus the users' counts) are one more row.
    """
    if rows is None:
        return None
    codes, hour, n = rows
    n_users = int(codes.max()) + 1
    if n_users < MIN_USERS or float(n.sum()) < MIN_ID_COVERAGE * float(rest.sum()) or float(rest.sum()) <= 0:
        return None
    col = hour - int(sel[0])
    keep = (col >= 0) & (col < len(sel))
    users = np.zeros((n_users, len(sel)))
    np.add.at(users, (codes[keep], col[keep]), n[keep])
    users = users[users.sum(axis=1) > 0]
    if len(users) < MIN_USERS:
        return None
    anonymous = np.maximum(rest - users.sum(axis=0), 0.0)
    return np.vstack([users, anonymous]) if anonymous.sum() > 0 else users


def _strata(
    hours: list[datetime], sel: np.ndarray, code: str | None, local: float, regions: dict[str, float]
) -> np.ndarray:
    """Day type per selected hour: which calendars (local, each restricted region) rest that day.

    ``hours`` is an hourly grid (consecutive hours) and ``sel`` ascending indices into it: the
    hours of one UTC day share their day type, so it is computed once per day, numbered in order
    of first appearance.
    """
    h0 = hours[0]
    rel = (h0.hour + np.asarray(sel)) // 24  # UTC day of each selected hour, from hours[0]'s day
    calendars = [(code, local), *regions.items()]
    seen: dict[tuple[float, ...], int] = {}
    uniq, inverse = np.unique(rel, return_inverse=True)
    per_day = np.empty(len(uniq), dtype=int)
    for j, r in enumerate(uniq):
        noon = h0.replace(hour=12) + timedelta(days=int(r))
        key = tuple(_rests((noon + timedelta(hours=o)).date(), c) for c, o in calendars)
        per_day[j] = seen.setdefault(key, len(seen))
    return per_day[inverse.reshape(-1)]


_REST: dict[tuple[date, str | None], float] = {}


def _rests(day: date, region: str | None) -> float:
    """:func:`rest_days` of one day, remembered (calendars are facts; a few hundred keys per run)."""
    key = (day, region)
    if key not in _REST:
        _REST[key] = float(rest_days([day], region)[0])
    return _REST[key]


def _days(hours: list[datetime], sel: np.ndarray, offset: float) -> list[date]:
    """Local dates at ``offset`` covered by the selected hours."""
    first, last = hours[int(sel[0])], hours[int(sel[-1])]
    d0, d1 = (first + timedelta(hours=offset)).date(), (last + timedelta(hours=offset)).date()
    return [d0 + timedelta(days=k) for k in range((d1 - d0).days + 1)]
