"""Benchmark: one detection step (``run_detection``, no writes) on an enriched store.

Prints the CPU time of the step (this process and its forked workers), the part spent in the
sub-routing origin features (mixture + bootstrap), and the number of findings; ``--out`` writes the findings and every
account's share estimate as sorted JSON, so two code versions can be compared byte for byte.

Run: ``/usr/bin/time -v .venv/bin/python benchmarks/bench_detect.py /work/stores/detect/s1 --out /tmp/f.json``
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import UTC, datetime
from typing import Any

from stillwatch.config import load_settings
from stillwatch.detect import runner
from stillwatch.engine import get_engine


def _cpu() -> float:
    """CPU seconds of this process and of its finished (forked) workers."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    """Run one detection step and report its CPU time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="data directory (ingested and enriched)")
    parser.add_argument("--until", help="ISO time (UTC); default: end of the last day with data")
    parser.add_argument("--out", help="write findings and share estimates here (sorted JSON)")
    args = parser.parse_args()
    captured: dict[str, Any] = {}
    original = runner.subrouting.add_origin_features

    def timed(*a: Any, **k: Any) -> Any:
        t0 = _cpu()
        frame = original(*a, **k)
        captured["origin_cpu"] = _cpu() - t0
        cols = ["account_id", "restricted_share", "share_low", "share_high", "share_identifiable"]
        captured["estimates"] = {r[0]: [r[1], r[2], r[3], bool(r[4])] for r in frame[cols].itertuples(index=False)}
        return frame

    runner.subrouting.add_origin_features = timed
    settings = load_settings(data_dir=args.store)
    until = datetime.fromisoformat(args.until).replace(tzinfo=UTC) if args.until else None
    t0, w0 = _cpu(), time.time()
    with get_engine(settings, "duckdb") as engine:
        found = runner.run_detection(engine, settings, until, write=False)
    cpu, wall = _cpu() - t0, time.time() - w0
    print(
        f"findings {len(found)}  cpu {cpu:.1f} s  wall {wall:.1f} s  origin features cpu {captured['origin_cpu']:.1f} s"
    )
    if args.out:
        rows = sorted((f.to_dict() for f in found), key=lambda d: (d["kind"], d["entity"], d["entity_id"]))
        with open(args.out, "w") as fh:
            json.dump({"findings": rows, "estimates": dict(sorted(captured["estimates"].items()))}, fh,
                      sort_keys=True, default=str, indent=0)  # fmt: skip


if __name__ == "__main__":
    main()
