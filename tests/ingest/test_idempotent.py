"""Idempotent ingest, and a consistent store after kill -9 at any point of a commit."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stillwatch.config import Settings
from stillwatch.ingest.pipeline import ingest
from stillwatch.store.catalog import Catalog
from tests.ingest.conftest import stored, write_jsonl
from tests.ingest.samples import exchange


def test_reingest_same_file_and_renamed_copy(settings: Settings, data_dir: Path) -> None:
    path = write_jsonl(data_dir / "a.jsonl", [exchange(i) for i in range(50)] + [b"junk"])
    first = ingest(settings, [path])
    assert (first.loaded, first.quarantined) == (50, 1)
    again = ingest(settings, [path])
    assert again.files[0].status == "already_ingested" and again.loaded == 0
    copy = data_dir / "renamed.jsonl"
    shutil.copy(path, copy)
    renamed = ingest(settings, [copy])
    assert renamed.files[0].status == "already_ingested"
    # the same rows inside a different file: every row recognised by request_id
    other = write_jsonl(data_dir / "b.jsonl", [exchange(i) for i in range(45, 55)])
    overlap = ingest(settings, [other])
    assert (overlap.loaded, overlap.duplicates) == (5, 5)
    assert len(stored(settings)) == 55
    assert len(stored(settings, "quarantine")) == 1


def _run_ingest(settings: Settings, path: Path, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "STILLWATCH_DATA_DIR": str(settings.data_dir)}
    if crash_at:
        env["STILLWATCH_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "stillwatch", "ingest", str(path)], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("crash_at", ["before_ready", "mid_publish", "before_catalog", "before_cleanup"])
def test_kill_9_at_each_commit_step_then_complete(settings: Settings, data_dir: Path, crash_at: str) -> None:
    recs = [exchange(i) for i in range(300)]
    recs[150]["ts"] = "2026-03-01T00:00:00Z"  # a second day partition, so publish moves several files
    path = write_jsonl(data_dir / "c.jsonl", recs + [b"junk"])
    crashed = _run_ingest(settings, path, crash_at)
    assert crashed.returncode == -signal.SIGKILL
    # whatever state the kill left, the next run completes it exactly once
    done = ingest(settings, [path])
    assert done.files[0].status in ("loaded", "already_ingested")
    rows = stored(settings)
    assert len(rows) == 300 and len({r["request_id"] for r in rows}) == 300
    assert len(stored(settings, "quarantine")) == 1
    assert not any((Path(settings.data_dir) / "_staging").iterdir())
    with Catalog(Path(settings.data_dir) / "catalog.duckdb") as cat:
        assert cat.key_count("exchanges") == 300 and len(cat.files()) == 1


def test_real_kill_9_mid_read(settings: Settings, data_dir: Path) -> None:
    path = write_jsonl(data_dir / "big.jsonl", [exchange(i) for i in range(60_000)], gz=True)
    env = {**os.environ, "STILLWATCH_DATA_DIR": str(settings.data_dir), "STILLWATCH_INGEST__BATCH_ROWS": "2000"}
    proc = subprocess.Popen([sys.executable, "-m", "stillwatch", "ingest", str(path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = Path(settings.data_dir) / "_staging"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until rows are being staged
        if any(staging.glob("*/run-*/keys/*.parquet")) or any(staging.glob("*/rows.parquet")):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert stored(settings) == [] or len(stored(settings)) == 60_000  # never a partial file set
    summary = ingest(settings, [path])
    assert len(stored(settings)) == 60_000
    assert summary.files[0].status in ("loaded", "already_ingested")


def test_worker_pool_gives_the_same_store(settings: Settings, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    from stillwatch.config import load_settings
    from stillwatch.ingest import pipeline

    recs = [exchange(i) for i in range(9_000)] + [b"junk", exchange(3)]
    path = write_jsonl(data_dir / "pool.jsonl", recs)
    single = load_settings(data_dir=tmp_path / "single", ingest={"workers": 1})
    one = ingest(single, [path])
    monkeypatch.setattr(pipeline, "POOL_MIN_BYTES", 1)  # force the process pool for this small file
    pooled = load_settings(data_dir=tmp_path / "pooled", ingest={"workers": 2})
    two = ingest(pooled, [path])
    assert (one.loaded, one.quarantined, one.duplicates) == (two.loaded, two.quarantined, two.duplicates)
    assert (two.loaded, two.quarantined, two.duplicates) == (9_000, 1, 1)
    key = sorted((r["request_id"], r["source_line"]) for r in stored(single))
    assert key == sorted((r["request_id"], r["source_line"]) for r in stored(pooled))
