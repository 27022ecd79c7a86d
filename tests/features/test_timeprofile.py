"""Holiday calendars, CN make-up workdays, UTC-offset fit and holiday ratios."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from stillwatch.config import Settings
from stillwatch.engine import Engine
from stillwatch.enrich.pipeline import enrich
from stillwatch.enrich.sample import canonical_table
from stillwatch.enrich.timeprofile import calendar_table, diurnal_weights, makeup_workdays, offset_template_table
from stillwatch.features.pipeline import build_features


def test_cn_makeup_workdays_2026() -> None:
    assert makeup_workdays("CN", 2026) == [
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10)
    ]  # fmt: skip
    cal = calendar_table(date(2026, 2, 14), date(2026, 2, 17), ("CN", "US"))
    rows = {(r["region"], r["local_day"]): r for r in cal.to_pylist()}
    assert rows[("CN", date(2026, 2, 14))]["is_makeup_workday"] and rows[("CN", date(2026, 2, 14))]["is_workday"]
    assert rows[("CN", date(2026, 2, 16))]["is_holiday"]  # Spring Festival
    assert rows[("US", date(2026, 2, 16))]["is_holiday"]  # Presidents' Day
    assert not rows[("US", date(2026, 2, 14))]["is_workday"]


def test_template_is_centred_unit() -> None:
    w = diurnal_weights()
    assert abs(sum(w)) < 1e-9 and abs(sum(x * x for x in w) - 1) < 1e-9
    assert offset_template_table().num_rows == 27 * 24


def _office_hours(account: str, utc_offset: int, days: list[date], per_hour: int = 1) -> list[dict]:
    rows = []
    for d in days:
        for local_hour in range(9, 19):
            ts = datetime(d.year, d.month, d.day, local_hour, 30, tzinfo=UTC) - timedelta(hours=utc_offset)
            for k in range(per_hour):
                rows.append(
                    {
                        "request_id": f"{account}-{d}-{local_hour}-{k}",
                        "ts": ts + timedelta(seconds=k),
                        "account_id": account,
                        "api_key_id": f"{account}-k",
                        "user_texts": ["Write a test"],
                    }
                )
    return rows  # fmt: skip


def test_offset_fit_and_cn_calendar_ratios(duck: Engine, settings: Settings) -> None:
    span = [date(2026, 2, 9) + timedelta(days=i) for i in range(21)]  # 9 Feb .. 1 Mar 2026
    cn_workdays = [d for d in span if (d.weekday() < 5 and not date(2026, 2, 15) <= d <= date(2026, 2, 23))
                   or d in (date(2026, 2, 14), date(2026, 2, 28))]  # fmt: skip
    us_workdays = [d for d in span if d.weekday() < 5 and d != date(2026, 2, 16)]
    rows = _office_hours("beijing", 8, cn_workdays) + _office_hours("newyork", -5, us_workdays)
    duck.write_table("exchanges", canonical_table(rows), partition_by=["day"])
    enrich(duck, settings)
    build_features(duck, settings, until=datetime(2026, 3, 2, tzinfo=UTC), window_days=28)
    win = {r["account_id"]: r for r in duck.execute(duck.table("account_window")).to_pylist()}
    bj, ny = win["beijing"], win["newyork"]
    # a flat 09-18 office day fits the template within an hour of the true offset
    assert abs(bj["best_utc_offset"] - 8) <= 1 and bj["utc_offset_fit"] > 0.5
    assert abs(ny["best_utc_offset"] + 5) <= 1
    assert bj["makeup_ratio_cn"] > 1.0  # works CN make-up Saturdays, not other weekends
    assert 0.7 < bj["makeup_vs_workday_cn"] < 1.3
    assert bj["holiday_ratio_cn"] < 0.2  # quiet over Spring Festival
    # New York's Friday afternoons fall on CN-local Saturdays, so its ratio is not zero, but far lower
    assert ny["holiday_ratio_cn"] > 0.5 and bj["makeup_ratio_cn"] > 2 * (ny["makeup_ratio_cn"] or 0)
    assert ny["holiday_ratio_us"] < 0.2
    day_rows = duck.execute(duck.table("account_day")).to_pylist()
    assert any(r["cn_makeup_workday"] and r["account_id"] == "beijing" for r in day_rows)
