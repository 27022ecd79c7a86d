"""The features stage: enriched tables → ``key_day``, ``account_day``, ``egress_day`` (by day),
``account_window``, ``account_hour_of_week`` and ``account_model`` (per run).

Incremental: day-partitioned tables are recomputed only for days whose ``exchanges_enriched``
partitions changed since the last run. The window tables are rebuilt for the requested
``until`` (they are small: one row per account).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import ibis

from stillwatch.enrich.state import Manifest, days_until, partition_fingerprints
from stillwatch.enrich.timeprofile import calendar_table, offset_template_table
from stillwatch.exceptions import NotFoundError
from stillwatch.features import account_day, account_window, egress, key_day
from stillwatch.features.activity import fine_table
from stillwatch.features.view import exchange_view, utc_literal

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from stillwatch.config import Settings
    from stillwatch.engine import Engine

DAY_TABLES = ("key_day", "account_day", "egress_day")
WINDOW_TABLES = ("account_window", "account_hour_of_week", "account_model")
DEFAULT_WINDOW_DAYS = 28


@dataclass
class FeaturesResult:
    """What one features run did."""

    days: list[str] = field(default_factory=list)
    window_start: datetime | None = None
    window_end: datetime | None = None
    accounts: int = 0
    seconds: float = 0.0


def _days(view: ir.Table, days: list[str], all_days: list[str]) -> ir.Table:
    """``view`` cut to ``days`` (no filter when they are all the days it holds)."""
    return view if len(days) == len(all_days) else view.filter(view.day.cast("string").isin(days))


def build_features(
    engine: Engine,
    settings: Settings,
    until: datetime | None = None,
    *,
    window_days: int = DEFAULT_WINDOW_DAYS,
    full: bool = False,
) -> FeaturesResult:
    """Build every feature table from ``exchanges_enriched`` and ``texts``.

    Args:
        engine: DuckDB or Spark engine.
        settings: Settings (the data directory holds the incremental manifest).
        until: Nothing at or after this instant is read; default: the end of the last day.
        window_days: Length of the ``account_window`` window.
        full: Recompute every day, ignoring the manifest.

    Returns:
        A :class:`FeaturesResult`.

    Raises:
        NotFoundError: ``exchanges_enriched`` does not exist (run enrich first).
    """
    start_clock = time.perf_counter()
    if not engine.has_table("exchanges_enriched"):
        raise NotFoundError("table 'exchanges_enriched' has no data", hint="run `stillwatch enrich` first")
    if until is not None:
        until = until.replace(tzinfo=UTC) if until.tzinfo is None else until.astimezone(UTC)
    current = days_until(partition_fingerprints(engine, "exchanges_enriched"), until)
    if not current:
        return FeaturesResult(seconds=time.perf_counter() - start_clock)
    if until is not None and until.date().isoformat() in current:
        cut = until.date().isoformat()
        current[cut] = f"{current[cut]}|until={until.isoformat()}"
    last_day = datetime.fromisoformat(max(current)).replace(tzinfo=UTC)
    end = until or (last_day + timedelta(days=1))
    first_day = datetime.fromisoformat(min(current)).date()
    calendar_arrow = calendar_table(
        first_day - timedelta(days=1), end.date() + timedelta(days=1), cache_dir=settings.data_dir / "cache"
    )
    calendar = ibis.memtable(calendar_arrow)

    manifest = Manifest(settings.data_dir, f"features-{engine.name}")
    missing = any(not engine.has_table(t) for t in DAY_TABLES)
    todo = sorted(current) if full or missing else manifest.changed(current)
    result = FeaturesResult(days=todo)
    start = end - timedelta(days=window_days)
    window_days_list = sorted(d for d in current if d >= start.date().isoformat())
    # One narrow view over every day this run reads, computed once; each table filters it.
    needed = sorted(set(todo) | set(window_days_list))
    view_all = engine.materialize(exchange_view(engine, until, days=needed, narrow=True))
    # The additive aggregates of every grain, summed once per account, key, day and window flag.
    in_window = (view_all.ts >= utc_literal(start)) & (view_all.ts < utc_literal(end))
    fine_all = engine.materialize(fine_table(view_all, in_window))
    if todo:
        view, fine = _days(view_all, todo, needed), _days(fine_all, todo, needed)
        engine.write_partitions("key_day", key_day.build(view, fine), partition_by=["day"])
        engine.write_partitions("account_day", account_day.build(view, fine, calendar), partition_by=["day"])
        engine.write_partitions("egress_day", egress.build(view), partition_by=["day"])

    view_w = _days(view_all, window_days_list, needed)
    view_w = view_w.filter((view_w.ts >= utc_literal(start)) & (view_w.ts < utc_literal(end)))
    fine_w = fine_all.filter(fine_all.in_window)
    offsets = ibis.memtable(offset_template_table())
    engine.write_table(
        "account_window", account_window.build(view_w, fine_w, calendar_arrow, offsets, start, end, first_day)
    )
    engine.write_table("account_hour_of_week", account_window.hour_of_week(view_w))
    history = engine.table("exchanges_enriched")
    history = history.filter(history.day.cast("string").isin(sorted(current)) & (history.ts < utc_literal(end)))
    engine.write_table("account_model", account_window.model_first_use(history))
    manifest.save(current)
    result.window_start, result.window_end = start, end
    result.accounts = int(engine.execute(engine.table("account_window").count()).column(0)[0].as_py())
    result.seconds = time.perf_counter() - start_clock
    return result
