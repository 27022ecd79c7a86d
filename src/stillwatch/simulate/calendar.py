"""Activity model: local time zones, diurnal and weekly rhythm, public holidays, make-up workdays.

Holidays come from the ``holidays`` package. For mainland China the official make-up working
weekends (调休) come from ``weekend_workdays``: mainland workers are active on those Saturdays and
Sundays as on a weekday, which no other calendar reproduces.
"""

from __future__ import annotations

import bisect
import itertools
import random
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

#: A representative IANA time zone per country (diaspora users use their country's zone).
COUNTRY_TZ: dict[str, tuple[str, ...]] = {
    "US": ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
    "CA": ("America/Toronto", "America/Vancouver"),
    "AU": ("Australia/Sydney", "Australia/Melbourne", "Australia/Perth"),
    "GB": ("Europe/London",),
    "DE": ("Europe/Berlin",),
    "FR": ("Europe/Paris",),
    "NL": ("Europe/Amsterdam",),
    "ES": ("Europe/Madrid",),
    "IN": ("Asia/Kolkata",),
    "BR": ("America/Sao_Paulo",),
    "MX": ("America/Mexico_City",),
    "JP": ("Asia/Tokyo",),
    "KR": ("Asia/Seoul",),
    "SG": ("Asia/Singapore",),
    "TW": ("Asia/Taipei",),
    "MY": ("Asia/Kuala_Lumpur",),
    "HK": ("Asia/Hong_Kong",),
    "CN": ("Asia/Shanghai",),
    "RU": ("Europe/Moscow",),
    "IR": ("Asia/Tehran",),
    "MO": ("Asia/Macau",),
}

#: Relative activity per local hour 0..23 of the main rhythms.
HOUR_PROFILES: dict[str, tuple[float, ...]] = {
    # office worker: morning ramp, lunch dip, evening tail
    "office": (
        0.15,
        0.08,
        0.05,
        0.04,
        0.04,
        0.06,
        0.15,
        0.35,
        0.7,
        1.0,
        1.0,
        0.95,
        0.6,
        0.85,
        1.0,
        1.0,
        0.9,
        0.7,
        0.5,
        0.45,
        0.45,
        0.4,
        0.3,
        0.22,
    ),
    # hobbyist / student: late-evening peak
    "evening": (
        0.45,
        0.3,
        0.15,
        0.08,
        0.05,
        0.05,
        0.08,
        0.15,
        0.3,
        0.45,
        0.55,
        0.6,
        0.6,
        0.6,
        0.6,
        0.6,
        0.65,
        0.7,
        0.8,
        0.9,
        1.0,
        1.0,
        0.9,
        0.7,
    ),
    # mainland developer: long day, lunch (12-13:30) and dinner dips, late tail (996 culture)
    "cn_dev": (
        0.35,
        0.2,
        0.08,
        0.04,
        0.03,
        0.03,
        0.05,
        0.15,
        0.45,
        0.9,
        1.0,
        1.0,
        0.45,
        0.6,
        0.95,
        1.0,
        1.0,
        0.95,
        0.6,
        0.65,
        0.8,
        0.8,
        0.7,
        0.5,
    ),
    # operator batch jobs: nearly flat with a small dip while the operator sleeps
    "flat": (
        0.8,
        0.8,
        0.75,
        0.7,
        0.7,
        0.7,
        0.75,
        0.8,
        0.9,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        0.95,
        0.9,
        0.85,
        0.8,
    ),
}

#: Day-level multipliers.
WEEKEND_FACTOR = {"office": 0.22, "evening": 0.8, "cn_dev": 0.3, "flat": 0.95}
HOLIDAY_FACTOR = {"office": 0.15, "evening": 0.7, "cn_dev": 0.2, "flat": 0.9}


@lru_cache(maxsize=64)
def country_calendar(country: str, years: tuple[int, ...]) -> holidays.HolidayBase | None:
    """The public-holiday calendar of ``country`` (None if the package has none)."""
    try:
        return holidays.country_holidays(country, years=list(years), language="en_US")
    except Exception:
        try:
            return holidays.country_holidays(country, years=list(years))
        except Exception:
            return None


@lru_cache(maxsize=64)
def make_up_workdays(country: str, years: tuple[int, ...]) -> frozenset[date]:
    """Official make-up working days on weekends (调休) of ``country`` in ``years``."""
    cal = country_calendar(country, years)
    days = getattr(cal, "weekend_workdays", None) or set()
    return frozenset(d for d in days if d.year in years)


@lru_cache(maxsize=65536)
def day_kind(country: str, day: date) -> str:
    """Classify a local date as ``workday``, ``weekend``, ``holiday`` or ``makeup`` (worked weekend)."""
    years = (day.year - 1, day.year, day.year + 1)
    if day in make_up_workdays(country, years):
        return "makeup"
    cal = country_calendar(country, years)
    if cal is not None and day in cal:
        return "holiday"
    return "weekend" if day.weekday() >= 5 else "workday"


def day_factor(country: str, day: date, profile: str) -> float:
    """Relative activity of a local day for a rhythm ``profile``."""
    kind = day_kind(country, day)
    if kind in ("workday", "makeup"):
        return 1.0
    if kind == "holiday":
        return HOLIDAY_FACTOR.get(profile, 0.5)
    return WEEKEND_FACTOR.get(profile, 0.5)


@lru_cache(maxsize=4096)
def utc_offset_minutes(tz_name: str, day: date) -> int:
    """UTC offset of ``tz_name`` at local noon of ``day``, in minutes."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(tz_name))
    off = noon.utcoffset()
    return int(off.total_seconds() // 60) if off else 0


@lru_cache(maxsize=16)
def _cum_weights(profile: str) -> tuple[list[float], float]:
    weights = HOUR_PROFILES[profile]
    cum = list(itertools.accumulate(weights))
    return cum, cum[-1]


def sample_local_second(rng: random.Random, profile: str) -> int:
    """A second of the local day (0..86399) drawn from the hour profile."""
    cum, total = _cum_weights(profile)
    hour = bisect.bisect_right(cum, rng.random() * total)
    return min(hour, 23) * 3600 + rng.randrange(3600)


def local_day_start_ms(day: date, tz_name: str) -> int:
    """Epoch milliseconds of local midnight of ``day`` in ``tz_name``."""
    midnight_utc = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int(midnight_utc.timestamp() * 1000) - utc_offset_minutes(tz_name, day) * 60_000


def day_bounds_ms(day: date) -> tuple[int, int]:
    """Epoch milliseconds of the start and end of the UTC day."""
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    return start, start + 86_400_000


def window_days(start: date, days: int) -> list[date]:
    """The list of UTC days of the simulation window."""
    return [start + timedelta(days=i) for i in range(days)]


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, rounded normal for large)."""
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, int(rng.gauss(lam, lam**0.5) + 0.5))
    threshold = pow(2.718281828459045, -lam)
    k, p = 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1
