"""Replay: run detection at the end of every step (daily by default) and record, per finding, the
first step at which it appeared — ``first_flagged_at`` as findings-v1 defines it.

Each step calls :func:`stillwatch.detect.runner.run_detection` with ``until`` = the step end, so
a detector never sees data at or after ``until``. With ``jailbreak=True`` the steps share one
:class:`~stillwatch.detect.jailbreak_cache.ScanCache` (memory only unless one is passed): the
exchange scores of a whole day are computed at the first step whose window holds that day and
reused by the later steps, so a step scores only its new day (each day's scan reads only that
day, which is before the step's ``until``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillwatch.detect.findings import Finding
from stillwatch.exceptions import ConfigError, NotFoundError

if TYPE_CHECKING:
    from stillwatch.config import Settings
    from stillwatch.engine import Engine

log = logging.getLogger(__name__)
STEPS: dict[str, timedelta] = {"daily": timedelta(days=1), "12h": timedelta(hours=12), "6h": timedelta(hours=6)}


@dataclass
class ReplayResult:
    """Findings of the last step with ``first_flagged_at`` set from the replay."""

    findings: list[Finding]
    steps: list[datetime] = field(default_factory=list)
    first_flagged: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    seconds: float = 0.0
    step_seconds: list[float] = field(default_factory=list)
    step_cpu_seconds: list[float] = field(default_factory=list)


def _key(f: Finding) -> tuple[str, str, str]:
    """What "the same finding" means across steps: the same kind on the same entity, whichever
    detector variant (account or pool evidence) carried it at a given step."""
    return (f.kind, f.entity, f.entity_id)


def data_span(engine: Engine) -> tuple[datetime, datetime]:
    """First and last exchange time in ``exchanges_enriched``.

    Raises:
        NotFoundError: No enriched exchanges.
    """
    if not engine.has_table("exchanges_enriched"):
        raise NotFoundError("table 'exchanges_enriched' has no data", hint="run `stillwatch enrich` first")
    t = engine.table("exchanges_enriched")
    row = engine.execute(t.aggregate(lo=t.ts.min(), hi=t.ts.max())).to_pylist()[0]
    if row["lo"] is None:
        raise NotFoundError("exchanges_enriched is empty")
    return tuple(v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC) for v in (row["lo"], row["hi"]))


def step_ends(start: datetime, end: datetime, step: str | timedelta = "daily") -> list[datetime]:
    """Step end instants covering ``[start, end]``: midnights (or step multiples) after ``start``."""
    if isinstance(step, str):
        if step not in STEPS:
            raise ConfigError(f"unknown replay step {step!r}", hint=f"use one of {', '.join(STEPS)}")
        step = STEPS[step]
    t = datetime(start.year, start.month, start.day, tzinfo=UTC) + step
    out = []
    while t <= end + step:
        out.append(t)
        if t > end:
            break
        t += step
    return out


def replay_ends(
    start: datetime, end: datetime, step: str | timedelta = "daily", until: datetime | None = None
) -> list[datetime]:
    """The replay's step ends: :func:`step_ends`, cut at ``until`` (then the last step) when given.

    Raises:
        ConfigError: ``until`` is not after the first exchange, or the step is unknown.
    """
    ends = step_ends(start, end, step)
    if until is None or until >= ends[-1]:
        return ends
    if until <= start:
        raise ConfigError(
            f"--until {until.isoformat()} is not after the first exchange ({start.isoformat()})",
            hint="pick an instant inside the data",
        )
    return [t for t in ends if t < until] + [until]


def replay(
    engine: Engine,
    settings: Settings,
    step: str | timedelta = "daily",
    *,
    until: datetime | None = None,
    detect: Callable[..., list[Finding]] | None = None,
    progress: Callable[[int, int, datetime], None] | None = None,
    checkpoint: Path | str | None = None,
    **detect_kwargs: Any,
) -> ReplayResult:
    """Run detection at every step end and keep the first time each finding appeared.

    Args:
        engine: The engine.
        settings: Settings.
        step: ``daily``, ``12h``, ``6h`` or a timedelta.
        until: Stop the replay here (its last step; naive means UTC): a shorter replay scores the
            accounts active before it. Steps are the full replay's, so a checkpoint of either
            serves the other.
        detect: Detection function (default :func:`stillwatch.detect.runner.run_detection`).
        progress: Called after each step with ``(done, total, until)``.
        checkpoint: A checkpoint file (:mod:`stillwatch.evaluate.checkpoint`): completed steps are
            recorded there, and the steps it already holds are not run again (the last step is
            re-run when its findings are needed); same result as an uninterrupted replay.
        **detect_kwargs: Passed to ``detect`` (e.g. ``clusters``, ``link``).

    Returns:
        The last step's findings with replay ``first_flagged_at``.
    """
    if detect is None:
        from stillwatch.detect.runner import run_detection

        detect = run_detection
    t0 = time.perf_counter()
    lo, hi = data_span(engine)
    if until is not None:
        until = until.replace(tzinfo=UTC) if until.tzinfo is None else until.astimezone(UTC)
    ends = replay_ends(lo, hi, step, until)
    first: dict[tuple[str, str, str], datetime] = {}
    last: list[Finding] = []
    ckpt = None
    if checkpoint is not None:
        from stillwatch.evaluate.checkpoint import Checkpoint, header

        ckpt = Checkpoint(checkpoint, header(engine, step, (lo, hi), detect_kwargs))
        first.update({k: t for k, t in ckpt.first.items() if t <= ends[-1]})  # a shorter replay: its steps only
    if detect_kwargs.get("jailbreak") and detect_kwargs.get("jailbreak_cache") is None:
        from stillwatch.detect.jailbreak_cache import ScanCache

        detect_kwargs["jailbreak_cache"] = ScanCache()
    took: list[float] = []
    cpu: list[float] = []
    for i, until in enumerate(ends, 1):
        if ckpt is not None and until in ckpt.done and i < len(ends):
            rec = ckpt.done[until]
            took.append(float(rec["seconds"]))
            cpu.append(float("nan") if rec.get("cpu_seconds") is None else float(rec["cpu_seconds"]))
            continue  # recorded by an earlier run: later steps do not depend on it
        t_step, c_step = time.perf_counter(), time.process_time()
        found = detect(engine, settings, until, write=False, **detect_kwargs)
        took.append(time.perf_counter() - t_step)
        cpu.append(time.process_time() - c_step)
        new = [_key(f) for f in found if _key(f) not in first]
        for f in found:
            first.setdefault(_key(f), until)
        if ckpt is not None and until not in ckpt.done:
            ckpt.record(until, found, sorted(set(new)), took[-1], cpu[-1])
        last = found
        if progress:
            progress(i, len(ends), until)
        log.info("replay step %s: %d findings, %.1f s (%.1f s CPU)", until.isoformat(), len(found), took[-1], cpu[-1])
    for f in last:
        f.first_flagged_at = first.get(_key(f), f.window_to)
    return ReplayResult(
        findings=last,
        steps=ends,
        first_flagged=first,
        seconds=time.perf_counter() - t0,
        step_seconds=took,
        step_cpu_seconds=cpu,
    )
