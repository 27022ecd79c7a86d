"""Run every benchmark with its default size and print the results (``make bench``).

Sizes can be lowered for a quick look: ``BENCH_ROWS=100000 BENCH_FEATURES_SCALE=demo make bench``
(the features benchmark simulates the ``small`` set, ~1M exchanges, by default).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    rows = os.environ.get("BENCH_ROWS", "1000000")
    plan = [["bench_ingest.py", "--rows", rows]]
    plan.append(["bench_features.py", "--simulate", os.environ.get("BENCH_FEATURES_SCALE", "small")])
    done = {"bench_ingest.py", "bench_features.py"}
    plan += [[p.name] for p in sorted(HERE.glob("bench_*.py")) if p.name not in done]
    failed = 0
    for cmd in plan:
        print(f"== {' '.join(cmd)}", flush=True)
        rc = subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]]).returncode
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
