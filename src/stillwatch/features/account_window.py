"""``account_window``: one row per account over a trailing window ending at ``until``.

Adds time-of-day features to the shared aggregates: 24/7 coverage, active hours per day, the
best-fitting UTC offset of a human diurnal template with its goodness of fit, and activity
ratios on each region's public holidays and (CN) make-up workdays. Also builds the long-form
hour-of-week profile ``account_hour_of_week`` and the ``account_model`` first-use table.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from stillwatch.enrich.timeprofile import HOLIDAY_REGIONS
from stillwatch.features.activity import grain_table

KEYS = ["account_id"]

#: Features specific to this grain (besides the shared aggregates): name -> description.
DOCS: dict[str, str] = {
    "window_start": "first instant of the window (UTC, inclusive)",
    "window_end": "end of the window = until (UTC, exclusive)",
    "first_ts": "first exchange in the window",
    "last_ts": "last exchange in the window",
    "active_days": "distinct UTC days with activity",
    "active_hours_per_day": "mean distinct active UTC hours per active day",
    "coverage_24_7": "distinct hours of the week with activity / 168",
    "best_utc_offset": "UTC offset (hours) whose shifted human diurnal template best fits the hourly activity",
    "utc_offset_fit": "correlation of hourly activity with the diurnal template at the best offset (-1..1)",
}
for _r in HOLIDAY_REGIONS:
    DOCS[f"holiday_ratio_{_r.lower()}"] = (
        f"mean exchanges per {_r} public-holiday day / per ordinary {_r} workday (local days; <1 = quieter on "
        "holidays; denominator floored at one exchange; null when the window has no such days)"
    )
DOCS["makeup_ratio_cn"] = (
    "mean exchanges per CN make-up weekend workday (调休) / per ordinary CN weekend day (>1 = works the CN "
    "calendar; denominator floored at one exchange)"
)
DOCS["makeup_vs_workday_cn"] = (
    "mean exchanges per CN make-up weekend workday / per ordinary CN workday (about 1 = follows the CN calendar)"
)

HOW_DOCS: dict[str, str] = {
    "how": "hour of week (Monday 00 UTC = 0 … Sunday 23 UTC = 167)",
    "n_exchanges": "exchanges in that hour of week over the window",
    "share": "share of the account's window exchanges",
}
MODEL_DOCS: dict[str, str] = {
    "first_ts": "first exchange of the account with this model (before until)",
    "last_ts": "last exchange with this model",
    "n_exchanges": "exchanges with this model",
}


def _hourly(view: ir.Table) -> ir.Table:
    """Exchanges per account and UTC clock hour (``hour_ts``): the input of the time-of-day fits."""
    return view.group_by(["account_id", view.ts.truncate("h").name("hour_ts")]).aggregate(n=view.count())


def _offset_fit(hourly: ir.Table, offsets: ir.Table) -> ir.Table:
    by_hour = hourly.mutate(hour=hourly.hour_ts.hour().cast("int32"))
    hours = by_hour.group_by(["account_id", "hour"]).aggregate(n=by_hour.n.sum())
    tot = hours.group_by("account_id").aggregate(tot=hours.n.sum())
    p = hours.join(tot, "account_id")
    p = p.mutate(p=(p.n / p.tot).cast("float64"))
    spread = p.group_by("account_id").aggregate(sumsq=(p.p * p.p).sum())
    dots = p.join(offsets, p.hour == offsets.utc_hour)
    dots = dots.group_by(["account_id", "offset_hours"]).aggregate(dot=(dots.p * dots.weight).sum())
    fit = dots.join(spread, "account_id")
    denom = fit.sumsq - ibis.literal(1.0 / 24.0, type="float64")
    fit = fit.mutate(
        fit=ibis.ifelse(
            denom > ibis.literal(1e-12, type="float64"), (fit.dot / denom.sqrt()).round(9), ibis.null().cast("float64")
        )
    )
    fit = fit.filter(fit.fit.notnull())
    w = ibis.window(group_by="account_id", order_by=[ibis.desc("fit"), ibis.asc("offset_hours")])
    ranked = fit.mutate(rn=ibis.row_number().over(w))
    best = ranked.filter(ranked.rn == 0)
    return best.select("account_id", best_utc_offset=best.offset_hours.cast("int32"), utc_offset_fit=best.fit)


def _calendar_day_counts(calendar: pa.Table, start: date, end: date) -> dict[str, dict[str, int]]:
    """Per region: number of holiday, workday, make-up and ordinary weekend days in [start, end)."""
    out: dict[str, dict[str, int]] = {r: {"hol": 0, "work": 0, "makeup": 0, "weekend": 0} for r in HOLIDAY_REGIONS}
    for row in calendar.to_pylist():
        if not (start <= row["local_day"] < end) or row["region"] not in out:
            continue
        c = out[row["region"]]
        c["hol"] += row["is_holiday"]
        c["work"] += row["is_workday"] and not row["is_holiday"]
        c["makeup"] += row["is_makeup_workday"]
        c["weekend"] += row["is_weekend"] and not row["is_makeup_workday"] and not row["is_holiday"]
    return out


def _holidays(hourly: ir.Table, calendar: ir.Table, counts: dict[str, dict[str, int]]) -> ir.Table:
    # Exchanges per account and local day, once per distinct UTC offset (regions share them).
    distinct = sorted(set(HOLIDAY_REGIONS.values()))
    shifted = [
        hourly.select(
            "account_id", "n",
            offset=ibis.literal(off, type="int32"),
            local_day=(hourly.hour_ts + ibis.interval(minutes=off)).date(),
        )
        for off in distinct
    ]  # fmt: skip
    allr = shifted[0]
    for s in shifted[1:]:
        allr = allr.union(s)
    daily = allr.group_by(["account_id", "offset", "local_day"]).aggregate(n=allr.n.sum())
    region_offset = ibis.memtable(
        pa.table(
            {
                "region": pa.array(list(HOLIDAY_REGIONS), pa.string()),
                "offset": pa.array(list(HOLIDAY_REGIONS.values()), pa.int32()),
            }
        )
    )
    cal = calendar.join(region_offset, "region")
    j = daily.join(cal, ["offset", "local_day"])
    aggs = {}
    for r in HOLIDAY_REGIONS:
        in_r = j.region == r
        aggs[f"hol_{r}"] = ibis.ifelse(in_r & j.is_holiday, j.n, 0).sum()
        aggs[f"work_{r}"] = ibis.ifelse(in_r & j.is_workday & ~j.is_holiday, j.n, 0).sum()
    cn = j.region == "CN"
    aggs["makeup_CN"] = ibis.ifelse(cn & j.is_makeup_workday, j.n, 0).sum()
    aggs["weekend_CN"] = ibis.ifelse(cn & j.is_weekend & ~j.is_makeup_workday & ~j.is_holiday, j.n, 0).sum()
    sums = j.group_by("account_id").aggregate(**aggs)

    def ratio(num: ir.NumericValue, num_days: int, den: ir.NumericValue, den_days: int) -> ir.FloatingValue:
        if not num_days or not den_days:  # no such calendar days in the window
            return ibis.null().cast("float64")
        floor = ibis.greatest(den.cast("float64"), ibis.literal(1.0, type="float64"))
        rate_den = floor / ibis.literal(float(den_days), type="float64")
        return ((num.cast("float64") / ibis.literal(float(num_days), type="float64")) / rate_den).round(9)

    cols = {
        f"holiday_ratio_{r.lower()}": ratio(sums[f"hol_{r}"], counts[r]["hol"], sums[f"work_{r}"], counts[r]["work"])
        for r in HOLIDAY_REGIONS
    }
    cols["makeup_ratio_cn"] = ratio(
        sums["makeup_CN"], counts["CN"]["makeup"], sums["weekend_CN"], counts["CN"]["weekend"]
    )
    cols["makeup_vs_workday_cn"] = ratio(
        sums["makeup_CN"], counts["CN"]["makeup"], sums["work_CN"], counts["CN"]["work"]
    )
    return sums.select("account_id", **cols)


def build(
    view: ir.Table,
    fine: ir.Table,
    calendar_arrow: pa.Table,
    offsets: ir.Table,
    start: datetime,
    until: datetime,
    data_start: date | None = None,
) -> ir.Table:
    """Account-window features.

    Args:
        view: The exchange view cut to ``[start, until)``.
        fine: :func:`stillwatch.features.activity.fine_table` rows of the same exchanges.
        calendar_arrow: The holiday calendar covering the window (Arrow).
        offsets: :func:`stillwatch.enrich.timeprofile.offset_template_table` as an Ibis table.
        start: Window start (UTC).
        until: Window end (UTC, exclusive).
        data_start: First day the store has data for; calendar days before it are not counted
            in the holiday ratios (the account could not have been seen then).

    Returns:
        One row per account active in the window.
    """
    calendar = ibis.memtable(calendar_arrow)
    first = max(start.date(), data_start) if data_start else start.date()
    counts = _calendar_day_counts(calendar_arrow, first, (until - timedelta(microseconds=1)).date() + timedelta(days=1))
    hourly = _hourly(view)
    extra = {
        "first_ts": view.ts.min(),
        "last_ts": view.ts.max(),
        "active_days": view.day.nunique().cast("int64"),
        "active_hours_per_day": (
            (view.day.cast("string") + ":" + view.hour.cast("string")).nunique().cast("int64")
            / view.day.nunique().cast("int64")
        ).cast("float64"),
        "coverage_24_7": view.how.nunique().cast("float64") / ibis.literal(168.0, type="float64"),
    }
    parts = [_offset_fit(hourly, offsets), _holidays(hourly, calendar, counts)]
    table = grain_table(view, fine, KEYS, extra, parts)
    return table.mutate(
        window_start=ibis.literal(start, type="timestamp('UTC')"),
        window_end=ibis.literal(until, type="timestamp('UTC')"),
    ).relocate("account_id", "window_start", "window_end")


def hour_of_week(view: ir.Table) -> ir.Table:
    """Long-form hour-of-week profile per account over the window."""
    per = view.group_by(["account_id", "how"]).aggregate(n_exchanges=view.count().cast("int64"))
    tot = per.group_by("account_id").aggregate(tot=per.n_exchanges.sum())
    j = per.join(tot, "account_id")
    return j.select("account_id", "how", "n_exchanges", share=(j.n_exchanges / j.tot).cast("float64"))


def model_first_use(view: ir.Table) -> ir.Table:
    """First and last use of each model per account (all history before until)."""
    return view.group_by(["account_id", "model"]).aggregate(
        first_ts=view.ts.min(), last_ts=view.ts.max(), n_exchanges=view.count().cast("int64")
    )
