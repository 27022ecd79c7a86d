"""Benchmark: enrichment + feature tables throughput on a generated set (DuckDB).

Reports, in one run over the same Parquet store:

* end-to-end throughput of ``enrich`` and ``build_features`` (exchanges/s);
* the feature-table step against a bare DuckDB group-by over the same ``exchanges_enriched``
  Parquet (ratio = bare seconds / feature seconds; the floor asked for is >= 1/3);
* text-enrichment throughput per distinct text (the per-text batch function alone);
* peak resident memory of the process.

Usage:
    .venv/bin/python benchmarks/bench_features.py --rows 100000 --accounts 2000 --days 7
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from stillwatch.config import Settings
from stillwatch.engine import get_engine
from stillwatch.enrich.pipeline import enrich
from stillwatch.enrich.sample import generate
from stillwatch.enrich.texts import text_batch_fn
from stillwatch.features.pipeline import build_features


def _bare_groupby(tables: Path) -> float:
    """Seconds for a plain DuckDB account-day group-by over the enriched Parquet."""
    con = duckdb.connect()
    glob = str(tables / "exchanges_enriched" / "**" / "*.parquet")
    start = time.perf_counter()
    con.execute(
        f"""SELECT account_id, day, count(*), count(DISTINCT client_ip), count(DISTINCT first_user_hash),
                   avg(latency_ms), sum(input_tokens), avg(CASE WHEN ip_kind = 'hosting' THEN 1 ELSE 0 END)
            FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY account_id, day"""
    ).fetchall()
    return time.perf_counter() - start


def _distinct_texts(n: int) -> pa.RecordBatch:
    base = generate(max(n, 50), accounts=50, days=1, bad_input=False)
    texts = [f"{t[0]} (variant {i})" for i, t in enumerate(base.column("user_texts").to_pylist()) if t][:n]
    hashes = [f"{i:016x}" for i in range(len(texts))]
    return pa.RecordBatch.from_arrays([pa.array(hashes), pa.array(texts)], names=["text_hash", "text"])


def main() -> None:
    """Run the benchmark and print a Markdown-ready summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--texts", type=int, default=2_000, help="distinct texts for the text-throughput step")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="sw-bench-"))
    settings = Settings(data_dir=data_dir)
    t0 = time.perf_counter()
    table = generate(args.rows, accounts=args.accounts, days=args.days)
    gen_s = time.perf_counter() - t0
    with get_engine(settings, "duckdb") as engine:
        engine.write_table("exchanges", table, partition_by=["day"])
        t0 = time.perf_counter()
        er = enrich(engine, settings)
        enrich_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        fr = build_features(engine, settings)
        feat_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = enrich(engine, settings)
        noop_s = time.perf_counter() - t0
    bare_s = _bare_groupby(data_dir / "tables")

    batch = _distinct_texts(args.texts)
    fn = text_batch_fn()
    fn(batch.slice(0, 10))  # load indexes and the language model once
    t0 = time.perf_counter()
    fn(batch)
    text_s = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    n = er.exchanges
    print(f"rows generated              {args.rows} ({args.accounts} accounts, {args.days} days) in {gen_s:.1f}s")
    print(
        f"enrich                      {enrich_s:.1f}s  {n / enrich_s:,.0f} exchanges/s  ({er.new_texts} distinct texts)"
    )
    print(f"build_features              {feat_s:.1f}s  {n / feat_s:,.0f} exchanges/s  ({fr.accounts} accounts)")
    print(f"end-to-end                  {enrich_s + feat_s:.1f}s  {n / (enrich_s + feat_s):,.0f} exchanges/s")
    print(f"re-run with no new data     {noop_s:.2f}s ({len(again.days)} days recomputed)")
    print(f"bare DuckDB group-by        {bare_s:.2f}s")
    print(f"ratio bare/features         {bare_s / feat_s:.3f}  (floor asked: >= 0.333)")
    print(f"text enrichment             {batch.num_rows / text_s:,.0f} distinct texts/s ({batch.num_rows} texts)")
    print(f"peak RSS                    {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
