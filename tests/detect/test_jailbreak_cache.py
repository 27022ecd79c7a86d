"""Per-day jailbreak scan cache: same findings as a full scan, each day scored once, no look-ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stillwatch.config import load_settings
from stillwatch.detect.findings import Finding
from stillwatch.detect.jailbreak_account import run
from stillwatch.detect.jailbreak_cache import ScanCache, whole_days
from stillwatch.engine import Engine, get_engine
from stillwatch.evaluate.replay import replay
from tests.detect.jb_helpers import AIM, DAN, PAYLOADS, T0, exchange, minutes, table

MIDNIGHT = datetime(2026, 3, 3, tzinfo=UTC)  # first midnight after T0 (2026-03-02 09:00)
NO_SETTINGS: Any = None  # the jailbreak stage does not read settings


def rows(upto: datetime | None = None) -> list[dict[str, Any]]:
    """Five days: one AIM attempt a day (the account reaches the attempts threshold on day 5), a
    fuzzing burst on day 3, benign traffic every day."""
    out, i = [], 0
    for d in range(5):
        out.append(exchange(i, "acc-repeat", AIM.format(q=PAYLOADS[d]), T0 + timedelta(days=d)))
        i += 1
        for k in range(3):
            out.append(exchange(i, "acc-benign", f"What is {d} + {k}?", T0 + timedelta(days=d, hours=k + 1)))
            i += 1
    for k in range(6):
        text = DAN.replace("Stay in character!", f"Stay in character! Variant {k}.").format(q=PAYLOADS[k])
        out.append(exchange(i, "acc-fuzz", text, T0 + timedelta(days=2) + minutes(7 * k)))
        i += 1
    return [r for r in out if upto is None or r["ts"] < upto]


def _store(path: Path, data: list[dict[str, Any]], enriched: bool = False) -> Engine:
    eng = get_engine(load_settings(data_dir=path), "duckdb")
    eng.write_table("exchanges", table(data), partition_by=["day"])
    if enriched:  # the replay reads the data span from exchanges_enriched
        eng.write_table("exchanges_enriched", table(data).select(["request_id", "ts", "account_id"]))
    return eng


def _dicts(found: list[Finding]) -> list[dict[str, Any]]:
    """Findings as dicts, without ``first_flagged_at`` (the replay sets it on its last step's findings)."""
    out = [{k: v for k, v in f.to_dict().items() if k != "first_flagged_at"} for f in found]
    return sorted(out, key=lambda d: (d["kind"], d["entity"], d["entity_id"]))


def test_whole_days_and_edges() -> None:
    days, edges = whole_days(MIDNIGHT - timedelta(hours=6), MIDNIGHT + timedelta(days=2, hours=3))
    assert [d.isoformat() for d in days] == ["2026-03-03", "2026-03-04"]
    assert edges == [(MIDNIGHT - timedelta(hours=6), MIDNIGHT), (MIDNIGHT + timedelta(days=2),
                                                                 MIDNIGHT + timedelta(days=2, hours=3))]  # fmt: skip
    assert whole_days(MIDNIGHT + timedelta(hours=1), MIDNIGHT + timedelta(hours=5)) == (
        [], [(MIDNIGHT + timedelta(hours=1), MIDNIGHT + timedelta(hours=5))])  # fmt: skip


@pytest.mark.parametrize("hours", [0, 13])  # midnight steps (all whole days), and partial edge days
def test_same_findings_as_a_full_scan_and_each_day_scored_once(tmp_path: Path, hours: int) -> None:
    eng = _store(tmp_path / "s", rows())
    cache = ScanCache(tmp_path / "cache")
    try:
        for step in range(5):
            until = MIDNIGHT + timedelta(days=step, hours=hours)
            before = cache.stats.scanned
            cached = run(eng, NO_SETTINGS, until, window_days=3, cache=cache)
            assert _dicts(cached) == _dicts(run(eng, NO_SETTINGS, until, window_days=3))
            # after the first step, a step scans at most its one new whole day
            assert cache.stats.scanned - before <= (3 if step == 0 else 1)
        assert cache.stats.memory > 0
        # a new process (fresh memory) reads the days from disk and scans nothing
        again = ScanCache(tmp_path / "cache")
        until = MIDNIGHT + timedelta(days=4)
        assert _dicts(run(eng, NO_SETTINGS, until, window_days=3, cache=again)) == _dicts(
            run(eng, NO_SETTINGS, until, 3)
        )
        assert again.stats.scanned == 0 and again.stats.disk == 3
    finally:
        eng.close()


def test_changed_day_is_rescanned(tmp_path: Path) -> None:
    data = rows()
    eng = _store(tmp_path / "s", [r for r in data if r["account_id"] != "acc-fuzz"])
    cache = ScanCache(tmp_path / "cache")
    until = MIDNIGHT + timedelta(days=3)
    try:
        first = run(eng, NO_SETTINGS, until, window_days=3, cache=cache)
        assert "acc-fuzz" not in {f.entity_id for f in first if f.entity == "account"}
        # the fuzzing burst arrives late (re-ingested day-3 partition): its fingerprint changes
        eng.write_table("exchanges", table(data), partition_by=["day"])
        second = run(eng, NO_SETTINGS, until, window_days=3, cache=cache)
        assert "acc-fuzz" in {f.entity_id for f in second if f.entity == "account"}
        assert _dicts(second) == _dicts(run(eng, NO_SETTINGS, until, window_days=3))
    finally:
        eng.close()


def test_replay_step_does_not_depend_on_data_after_its_cutoff(tmp_path: Path) -> None:
    """Each step of a cached replay equals a fresh run on a store holding only the data before that
    step's cut-off; and the later data does change the last step (so the check can fail)."""
    eng = _store(tmp_path / "all", rows(), enriched=True)
    per_step: dict[datetime, list[Finding]] = {}

    def detect(engine: Engine, settings: Any, until: datetime, **kw: Any) -> list[Finding]:
        per_step[until] = run(engine, settings, until, window_days=28, cache=kw["jailbreak_cache"])
        return per_step[until]

    try:
        result = replay(eng, NO_SETTINGS, "daily", detect=detect, jailbreak=True)
    finally:
        eng.close()
    assert len(per_step) == 5 and len(result.step_seconds) == len(result.step_cpu_seconds) == 5
    flagged = {u: {f.entity_id for f in fs if f.entity == "account"} for u, fs in per_step.items()}
    ends = sorted(per_step)
    assert "acc-repeat" not in flagged[ends[-2]] and "acc-repeat" in flagged[ends[-1]]  # the 5th attempt
    assert "acc-fuzz" not in flagged[ends[1]] and "acc-fuzz" in flagged[ends[2]]
    for k, until in enumerate(ends):
        cut = _store(tmp_path / f"cut{k}", rows(upto=until))
        try:
            assert _dicts(per_step[until]) == _dicts(run(cut, NO_SETTINGS, until, window_days=28))
        finally:
            cut.close()
    # replay's first_flagged_at is the first step with the finding
    assert result.first_flagged[("jailbreak", "account", "acc-fuzz")] == ends[2]
    assert result.first_flagged[("jailbreak", "account", "acc-repeat")] == ends[-1]
