"""The model catalogue of the simulated provider, including launches inside the window.

Distillation campaigns move to a newly launched model within 24 hours of its launch (as the
public reports describe); detectors can read the launch times from :func:`model_catalogue` or
from ``models.json`` written next to the simulated logs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

#: Models available before the window starts: (id, tier, launched ISO date).
BASE_MODELS: tuple[tuple[str, str, str], ...] = (
    ("claude-haiku-4-5", "small", "2025-10-15"),
    ("claude-sonnet-4-5", "mid", "2025-09-29"),
    ("claude-opus-4-5", "large", "2025-11-24"),
)

#: Models launched inside the window: (id, tier, fraction of the window at which it launches).
LAUNCHED_MODELS: tuple[tuple[str, str, float], ...] = (("claude-opus-4-6", "large", 0.55),)


def launch_time_ms(start: date, days: int, fraction: float) -> int:
    """Launch time (epoch ms, 17:00 UTC) at ``fraction`` of the window."""
    day = start + timedelta(days=max(1, int(days * fraction)))
    return int(datetime(day.year, day.month, day.day, 17, tzinfo=UTC).timestamp() * 1000)


def model_catalogue(start: date, days: int) -> list[dict[str, Any]]:
    """All models with their launch timestamps (RFC 3339) for a window."""
    out: list[dict[str, Any]] = [
        {"model": m, "tier": t, "launched_at": f"{d}T17:00:00Z", "in_window": False} for m, t, d in BASE_MODELS
    ]
    for m, t, frac in LAUNCHED_MODELS:
        ms = launch_time_ms(start, days, frac)
        iso = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append({"model": m, "tier": t, "launched_at": iso, "in_window": True, "launched_ms": ms})
    return out


def new_model(start: date, days: int) -> tuple[str, int]:
    """The model launched inside the window and its launch time (epoch ms)."""
    m, _t, frac = LAUNCHED_MODELS[0]
    return m, launch_time_ms(start, days, frac)
