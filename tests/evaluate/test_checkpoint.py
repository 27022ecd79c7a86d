"""Replay checkpoints: an interrupted replay resumes without re-running completed steps and gives
the same result as an uninterrupted one; a checkpoint of another store state is refused."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from stillwatch.config import load_settings
from stillwatch.detect.findings import Finding
from stillwatch.detect.jailbreak_account import run
from stillwatch.engine import Engine, get_engine
from stillwatch.evaluate.replay import replay
from stillwatch.exceptions import ConfigError
from tests.detect.jb_helpers import table
from tests.detect.test_jailbreak_cache import rows

NO_SETTINGS: Any = None


def _store(path: Path, data: list[dict[str, Any]]) -> Engine:
    eng = get_engine(load_settings(data_dir=path), "duckdb")
    eng.write_table("exchanges", table(data), partition_by=["day"])
    eng.write_table("exchanges_enriched", table(data).select(["request_id", "ts", "account_id"]))
    return eng


class Detect:
    """Jailbreak detection that records its calls and can fail at one step (an interruption)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[datetime] = []
        self.fail_at = fail_at

    def __call__(self, engine: Engine, settings: Any, until: datetime, **kw: Any) -> list[Finding]:
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise KeyboardInterrupt
        self.calls.append(until)
        return run(engine, settings, until, window_days=28)


def _summary(found: list[Finding]) -> list[tuple[str, str, str, Any]]:
    return sorted((f.kind, f.entity, f.entity_id, f.first_flagged_at) for f in found)


def test_interrupted_replay_resumes_with_the_same_result(tmp_path: Path) -> None:
    eng = _store(tmp_path / "s", rows())
    try:
        whole = Detect()
        expected = replay(eng, NO_SETTINGS, "daily", detect=whole, jailbreak=False)
        ckpt = tmp_path / "replay.ckpt.jsonl"
        broken = Detect(fail_at=3)
        with pytest.raises(KeyboardInterrupt):
            replay(eng, NO_SETTINGS, "daily", detect=broken, checkpoint=ckpt, jailbreak=False)
        assert len(ckpt.read_bytes().splitlines()) == 1 + 3  # header + three completed steps
        again = Detect()
        got = replay(eng, NO_SETTINGS, "daily", detect=again, checkpoint=ckpt, jailbreak=False)
        assert again.calls == whole.calls[3:]  # completed steps are not run again
        assert got.first_flagged == expected.first_flagged
        assert _summary(got.findings) == _summary(expected.findings)
        assert len(got.step_seconds) == len(expected.step_seconds)
        # a finished checkpoint re-runs only the last step (its findings are the result)
        last = Detect()
        done = replay(eng, NO_SETTINGS, "daily", detect=last, checkpoint=ckpt, jailbreak=False)
        assert last.calls == whole.calls[-1:] and _summary(done.findings) == _summary(expected.findings)
        # other options are another replay
        with pytest.raises(ConfigError):
            replay(eng, NO_SETTINGS, "daily", detect=Detect(), checkpoint=ckpt, jailbreak=False, link=True)
    finally:
        eng.close()


def test_checkpoint_of_another_store_state_is_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "replay.ckpt.jsonl"
    eng = _store(tmp_path / "s", rows())
    try:
        replay(eng, NO_SETTINGS, "daily", detect=Detect(), checkpoint=ckpt, jailbreak=False)
        eng.write_table("exchanges", table(rows()[:-1]), partition_by=["day"])  # data changed
        with pytest.raises(ConfigError):
            replay(eng, NO_SETTINGS, "daily", detect=Detect(), checkpoint=ckpt, jailbreak=False)
    finally:
        eng.close()


def test_replay_until_stops_early_and_reuses_the_full_replays_checkpoint(tmp_path: Path) -> None:
    eng = _store(tmp_path / "s", rows())
    try:
        whole = Detect()
        ckpt = tmp_path / "replay.ckpt.jsonl"
        full = replay(eng, NO_SETTINGS, "daily", detect=whole, checkpoint=ckpt, jailbreak=False)
        assert len(whole.calls) >= 3
        stop = whole.calls[1]  # the second step's end
        short = Detect()
        got = replay(eng, NO_SETTINGS, "daily", until=stop, detect=short, checkpoint=ckpt, jailbreak=False)
        assert got.steps == whole.calls[:2]
        assert short.calls == [stop]  # the first step comes from the full replay's checkpoint
        # what was first flagged by the second step keeps its time; nothing later is known
        early = {k: t for k, t in full.first_flagged.items() if t <= stop}
        assert got.first_flagged == early
        # an instant between two step ends is the last step; one before the data is refused
        mid = whole.calls[0] + (whole.calls[1] - whole.calls[0]) / 2
        assert replay(eng, NO_SETTINGS, "daily", until=mid, detect=Detect(), jailbreak=False).steps == [
            whole.calls[0],
            mid,
        ]
        with pytest.raises(ConfigError):
            replay(eng, NO_SETTINGS, "daily", until=datetime(2000, 1, 1), detect=Detect(), jailbreak=False)
    finally:
        eng.close()
