"""Evaluation harness: replay detection day by day and score findings against labels."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillwatch.evaluate.metrics import evaluate_findings, labels_before, read_labels, wilson
from stillwatch.evaluate.replay import replay

if TYPE_CHECKING:
    from stillwatch.config import Settings
    from stillwatch.engine import Engine

__all__ = ["evaluate", "evaluate_findings", "labels_before", "read_labels", "replay", "wilson"]


def account_stats(engine: Engine, until: datetime | None = None) -> tuple[dict[str, int], dict[str, datetime]]:
    """Exchanges and first exchange (UTC) per account, only before ``until`` when given."""
    t = engine.table("exchanges_enriched")
    if until is not None:
        from stillwatch.features.view import utc_literal  # noqa: PLC0415

        t = t.filter(t.ts < utc_literal(until))
    df = engine.execute(t.group_by("account_id").aggregate(n=t.count(), first=t.ts.min())).to_pandas()
    firsts = {}
    for a, ts in zip(df["account_id"], df["first"], strict=True):
        ts = ts.to_pydatetime()
        firsts[str(a)] = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
    return dict(zip(df["account_id"].astype(str), df["n"].astype(int), strict=True)), firsts


def evaluate(
    engine: Engine,
    settings: Settings,
    labels: Path | str | list[dict[str, Any]],
    step: str = "daily",
    *,
    until: datetime | None = None,
    progress: Any = None,
    **detect_kwargs: Any,
) -> dict[str, Any]:
    """Replay detection over the store and evaluate the findings against ``labels``.

    Args:
        engine: The engine (the store must be ingested and enriched).
        settings: Settings.
        labels: ``labels.jsonl`` path or parsed labels (simulated data only).
        step: Replay step: ``daily`` (default), ``12h`` or ``6h``.
        until: Stop the replay at this instant (see :func:`stillwatch.evaluate.replay.replay`);
            then only accounts and labelled exchanges active before it are scored.
        progress: Optional ``(done, total, until)`` callback.
        **detect_kwargs: Passed to the detection run (``clusters``, ``link``, ``jailbreak``,
            ``jailbreak_cache``; with ``jailbreak`` and no cache, a memory cache shared by the steps)
            and ``checkpoint`` (see :func:`stillwatch.evaluate.replay.replay`).

    Returns:
        The evaluation (see :func:`stillwatch.evaluate.metrics.evaluate_findings`) plus ``meta``.
    """
    labs = read_labels(labels) if isinstance(labels, str | Path) else labels
    if detect_kwargs.get("jailbreak") and detect_kwargs.get("jailbreak_cache") is None:
        from stillwatch.detect.jailbreak_cache import ScanCache

        detect_kwargs["jailbreak_cache"] = ScanCache()
    result = replay(engine, settings, step, until=until, progress=progress, **detect_kwargs)
    last = result.steps[-1] if until is not None and result.steps else None
    per_account, first_seen = account_stats(engine, last)
    if last is not None:
        labs = labels_before(labs, per_account, last)
    out = evaluate_findings(result.findings, labs, per_account, first_seen)
    out["meta"] = {
        "step": step,
        "steps": len(result.steps),
        "seconds": round(result.seconds, 1),
        "until": result.steps[-1].isoformat() if result.steps else None,
        "step_seconds": [round(x, 1) for x in result.step_seconds],
        "step_cpu_seconds": [round(x, 1) for x in result.step_cpu_seconds],
    }
    cache = detect_kwargs.get("jailbreak_cache")
    if cache is not None:
        st = cache.stats
        out["meta"]["jailbreak_scan_days"] = {
            "memory": st.memory, "disk": st.disk, "scanned": st.scanned, "partial": st.partial,
            "scan_seconds": round(st.seconds_scanning, 1),
        }  # fmt: skip
    out["_findings"] = result.findings
    return out
