"""Ingest benchmark: stillwatch ingest vs a bare DuckDB read_json → Parquet of the same file.

Both run as child processes in the same run, alternating, so the ratio is measured under the
same machine conditions. Reports rows/s, the ratio (stillwatch / bare; floor ≥ 0.5) and the peak
RSS of each (stillwatch's includes its worker processes).

    python benchmarks/bench_ingest.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BARE = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET memory_limit='2GB'")
con.execute(f"COPY (SELECT * FROM read_json('{sys.argv[1]}', format='newline_delimited', "
            f"maximum_object_size=104857600)) TO '{sys.argv[2]}' (FORMAT parquet)")
"""


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Run a command; return (wall seconds, peak RSS MiB of its largest process, CPU seconds user+sys)."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    rss_kb, user, system = proc.stderr.strip().splitlines()[-1].split()
    return wall, int(rss_kb) / 1024, float(user) + float(system)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="reuse/keep the generated file here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sw-bench-ingest-"))
    src = args.keep or work / f"exchanges-{args.rows}.jsonl.gz"
    if not src.exists():
        subprocess.run([sys.executable, str(HERE / "make_exchanges.py"), "--rows", str(args.rows), "--out", str(src)],
                       check=True)
    results = []
    for i in range(args.repeat):
        out = work / f"bare-{i}.parquet"
        load_before = os.getloadavg()[0]
        bare_s, bare_mb, bare_cpu = _timed([sys.executable, "-c", BARE, str(src), str(out)])
        store = work / f"store-{i}"
        env = {**os.environ, "STILLWATCH_DATA_DIR": str(store)}
        sw_s, sw_mb, sw_cpu = _timed([sys.executable, "-m", "stillwatch", "ingest", str(src)], env=env)
        results.append({"rows": args.rows, "bare_s": round(bare_s, 2), "stillwatch_s": round(sw_s, 2),
                        "bare_rows_per_s": round(args.rows / bare_s), "stillwatch_rows_per_s": round(args.rows / sw_s),
                        "ratio": round(bare_s / sw_s, 3), "bare_peak_rss_mib": round(bare_mb),
                        "stillwatch_peak_rss_mib": round(sw_mb), "file_mib": round(src.stat().st_size / 2**20),
                        "bare_cpu_s": round(bare_cpu, 1), "stillwatch_cpu_s": round(sw_cpu, 1),
                        "cpu_ratio": round(bare_cpu / sw_cpu, 3),
                        "load_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)]})
        shutil.rmtree(store, ignore_errors=True)
        out.unlink(missing_ok=True)
    print(json.dumps(results, indent=2))
    if args.keep is None or not args.keep.is_relative_to(work):
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
