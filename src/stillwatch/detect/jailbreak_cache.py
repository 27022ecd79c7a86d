"""Per-day cache of the jailbreak exchange scan, so a daily replay scores each exchange once.

:func:`stillwatch.detect.jailbreak_account.scan` scores every exchange of a window with the
exchange detector and keeps the candidates plus exchange counts per account and per end user.
All of that depends only on the exchange and the detector, so it is computed per UTC day and
reused:

* a whole UTC day inside the window is looked up in memory, then on disk, and scanned only when
  neither has it; the result is the same frame the window scan would have produced for that day;
* a partial day at an edge of the window (a ``12h`` or ``6h`` step, or an ``until`` that is not a
  midnight) is scanned directly and not cached.

A day's entry is keyed by the ``day=`` partition fingerprint of ``exchanges`` (file names, sizes
and modification times, :func:`stillwatch.enrich.state.partition_fingerprints`) and by a detector
key (model artifact hash and version, feature version, detector parameters, candidate threshold,
known-template index), so new or re-ingested data or another model is never served from the
cache. A day's scan reads only ``day <= ts < day + 1``; a window never includes a day at or after
its ``until`` (no look-ahead).

On disk: ``<directory>/<detector key>/<day>-<fingerprint>.parquet`` (candidates) and
``....counts.parquet`` (exchanges per account and per end user), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from stillwatch.detect.jailbreak import JailbreakDetector
    from stillwatch.engine import Engine

log = logging.getLogger(__name__)
#: Bump when the cached frame's content or layout changes.
CACHE_VERSION = "1"
Counts = tuple[dict[str, int], dict[tuple[str, str], int]]


@dataclass
class DayScan:
    """The scan of one day: candidate rows, exchanges per account and per ``(account, end user)``."""

    candidates: pd.DataFrame
    totals: dict[str, int]
    user_totals: dict[tuple[str, str], int]


@dataclass
class CacheStats:
    """Where the days of the scans came from."""

    memory: int = 0
    disk: int = 0
    scanned: int = 0
    partial: int = 0
    seconds_scanning: float = 0.0
    days: list[str] = field(default_factory=list)


def detector_key(det: JailbreakDetector, candidate_score: float) -> str:
    """What the cached scores depend on besides the exchange: model, features, parameters, templates."""
    from stillwatch.detect.jailbreak_features import FEATURES_VERSION
    from stillwatch.enrich.benchmarks import jailbreak_index

    index = jailbreak_index()
    idx = hashlib.blake2b(index.sigs.tobytes(), digest_size=8).hexdigest() if len(index) else "empty"
    manifest = det.model_.manifest
    parts = {
        "cache": CACHE_VERSION,
        "model": det.model,
        "model_version": det.model_version_,
        "artifact": (manifest.get("artifact") or {}).get("sha256"),
        "features": FEATURES_VERSION,
        "params": det.get_params(),
        "detector_version": det.version,
        "offset": round(float(det.offset_), 9),
        "candidate_score": candidate_score,
        "template_index": [index.version, len(index), idx],
    }
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=10).hexdigest()


def whole_days(lo: datetime, hi: datetime) -> tuple[list[date], list[tuple[datetime, datetime]]]:
    """Split ``[lo, hi)`` into whole UTC days and the partial pieces at its edges.

    Returns:
        The whole days, and the ``(from, to)`` edge intervals (empty intervals left out).
    """
    lo, hi = lo.astimezone(UTC), hi.astimezone(UTC)
    first = datetime(lo.year, lo.month, lo.day, tzinfo=UTC)
    if first < lo:
        first += timedelta(days=1)
    last = datetime(hi.year, hi.month, hi.day, tzinfo=UTC)
    if first >= last:
        return [], [(lo, hi)] if lo < hi else []
    days = [(first + timedelta(days=i)).date() for i in range((last - first).days)]
    edges = [(a, b) for a, b in ((lo, first), (last, hi)) if a < b]
    return days, edges


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class ScanCache:
    """Day scans kept in memory (for the life of the object) and, optionally, on disk.

    Args:
        directory: Folder for the on-disk cache (``None``: memory only).
        memory: Keep day scans in memory.
    """

    def __init__(self, directory: Path | str | None = None, *, memory: bool = True) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.memory = memory
        self._mem: dict[tuple[str, str, str], DayScan] = {}
        self.stats = CacheStats()

    @classmethod
    def in_store(cls, data_dir: Path | str) -> ScanCache:
        """A cache under ``<data_dir>/cache/jailbreak_scan``."""
        return cls(Path(data_dir) / "cache" / "jailbreak_scan")

    # ----------------------------------------------------------------- lookup
    def day(self, engine: Engine, day: date, key: str, fingerprints: dict[str, str], scan_fn: Any) -> DayScan:
        """The scan of ``day``: from memory, disk, or ``scan_fn(from, to)`` (then stored).

        Args:
            engine: The engine (for the fallback fingerprint of an unpartitioned table).
            day: The UTC day.
            key: :func:`detector_key` of the detector.
            fingerprints: ``day=`` partition fingerprints of ``exchanges``.
            scan_fn: ``(from, to) -> DayScan`` scanning ``from <= ts < to``.
        """
        fp = fingerprints.get(day.isoformat()) or ("none" if fingerprints else _table_fingerprint(engine))
        mkey = (key, day.isoformat(), fp)
        self.stats.days.append(day.isoformat())
        if self.memory and mkey in self._mem:
            self.stats.memory += 1
            return self._mem[mkey]
        got = self._read(key, day, fp)
        if got is not None:
            self.stats.disk += 1
        else:
            import time

            t0 = time.perf_counter()
            got = scan_fn(_day_start(day), _day_start(day) + timedelta(days=1))
            self.stats.seconds_scanning += time.perf_counter() - t0
            self.stats.scanned += 1
            self._write(key, day, fp, got)
        if self.memory:
            self._mem[mkey] = got
        return got

    # ----------------------------------------------------------------- disk
    def _paths(self, key: str, day: date, fp: str) -> tuple[Path, Path] | None:
        if self.directory is None:
            return None
        base = self.directory / key / f"{day.isoformat()}-{fp}"
        return base.with_suffix(".parquet"), base.with_suffix(".counts.parquet")

    def _read(self, key: str, day: date, fp: str) -> DayScan | None:
        paths = self._paths(key, day, fp)
        if paths is None or not (paths[0].is_file() and paths[1].is_file()):
            return None
        try:
            cands = pq.read_table(paths[0]).to_pandas()
            counts = pq.read_table(paths[1]).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            log.warning("jailbreak scan cache %s unreadable, rescanning: %s", paths[0], exc)
            return None
        totals: dict[str, int] = {}
        users: dict[tuple[str, str], int] = {}
        for acc, user, n in zip(counts["account_id"], counts["end_user"], counts["n"], strict=True):
            if user is None or pd.isna(user):
                totals[str(acc)] = int(n)
            else:
                users[(str(acc), str(user))] = int(n)
        return DayScan(cands, totals, users)

    def _write(self, key: str, day: date, fp: str, scan: DayScan) -> None:
        paths = self._paths(key, day, fp)
        if paths is None:
            return
        rows: list[tuple[str, str | None, int]] = [(a, None, n) for a, n in sorted(scan.totals.items())]
        rows += [(a, u, n) for (a, u), n in sorted(scan.user_totals.items())]
        counts = pa.table(
            {
                "account_id": pa.array([r[0] for r in rows], pa.string()),
                "end_user": pa.array([r[1] for r in rows], pa.string()),
                "n": pa.array([r[2] for r in rows], pa.int64()),
            }
        )
        try:
            paths[0].parent.mkdir(parents=True, exist_ok=True)
            for path, tab in (
                (paths[1], counts),
                (paths[0], pa.Table.from_pandas(scan.candidates, preserve_index=False)),
            ):
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                pq.write_table(tab, tmp)
                os.replace(tmp, path)
        except (OSError, pa.ArrowException) as exc:  # a read-only store still gets the memory cache
            log.warning("cannot write the jailbreak scan cache under %s: %s", paths[0].parent, exc)


def _table_fingerprint(engine: Engine) -> str:
    """Fingerprint of the whole ``exchanges`` table (when it has no ``day=`` partitions)."""
    path = engine.table_path("exchanges")
    h = hashlib.blake2b(digest_size=8)
    for f in sorted(path.rglob("*.parquet")) if path.is_dir() else []:
        st = f.stat()
        h.update(f"{f.relative_to(path)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return "t" + h.hexdigest()


def merge(parts: list[DayScan], columns: list[str]) -> DayScan:
    """Concatenate day scans (in order) into one window scan."""
    frames = [p.candidates for p in parts if len(p.candidates)]
    cands = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    totals: dict[str, int] = {}
    users: dict[tuple[str, str], int] = {}
    for p in parts:
        for a, n in p.totals.items():
            totals[a] = totals.get(a, 0) + n
        for k, n in p.user_totals.items():
            users[k] = users.get(k, 0) + n
    return DayScan(cands, totals, users)
