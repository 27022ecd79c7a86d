"""Benchmark: enrichment + feature tables throughput (DuckDB), on a generated set or a real store.

Reports, in one run over the same Parquet store:

* ``enrich`` and ``build_features`` wall and CPU time (process CPU: all threads, plus the forked
  batch workers of ``enrich``), throughput;
* the feature-table step against a bare DuckDB group-by over the same ``exchanges_enriched``
  Parquet in the same run (ratio = bare seconds / feature seconds; the floor asked for is >= 1/3),
  and against DuckDB computing the same shared aggregates of the three grains directly;
* text-enrichment throughput per distinct text (the per-text batch function alone, warm);
* peak resident memory of the process and the load average (the machine is shared).

Usage:
    .venv/bin/python benchmarks/bench_features.py --rows 200000 --accounts 4000 --days 7
    .venv/bin/python benchmarks/bench_features.py --store /path/to/ingested/store   # its exchanges
    .venv/bin/python benchmarks/bench_features.py --simulate small   # simulate (seed 1), ingest, run

``--store`` hard-links the store's ``exchanges`` Parquet into a temporary store (the original is
never written) and, for the text step, takes distinct texts from those exchanges.

``--fresh-texts`` (with ``--store``) copies the exchanges instead, appending `` #<number>`` from the
request id to each exchange's last user turn: every exchange then brings one new text, as real
traffic does (a new question on every request, the earlier turns repeating), where the simulator
draws from fixed corpora. The number is masked by the template id, so templates stay shared.
``--text-sample-rate`` sets ``text_sample_rate`` for the run; ``--max-days`` keeps the first days.
``--keep DIR`` runs in ``DIR`` (new or empty) instead of a temporary store and leaves it there, so a
detection step can run on the enriched store afterwards without enriching it a second time.
``--no-same-work`` skips the same-work SQL baseline (≈ 0.8 of the feature step's CPU again: at 10M
rows that is minutes of a shared machine). A line on stderr marks the end of ``enrich``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from stillwatch.config import Settings
from stillwatch.engine import Engine, get_engine
from stillwatch.enrich.pipeline import enrich
from stillwatch.enrich.sample import generate
from stillwatch.enrich.texts import extract_texts, text_batch_fn
from stillwatch.features.activity import activity_specs
from stillwatch.features.pipeline import build_features
from stillwatch.features.view import exchange_view


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _bare_groupby(tables: Path) -> tuple[float, float]:
    """Wall and CPU seconds of a plain DuckDB account-day group-by over the enriched Parquet."""
    con = duckdb.connect()
    glob = str(tables / "exchanges_enriched" / "**" / "*.parquet")
    w0, c0 = _clock()
    con.execute(
        f"""SELECT account_id, day, count(*), count(DISTINCT client_ip), count(DISTINCT first_user_hash),
                   avg(latency_ms), sum(input_tokens), avg(CASE WHEN ip_kind = 'hosting' THEN 1 ELSE 0 END)
            FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY account_id, day"""
    ).fetchall()
    w1, c1 = _clock()
    return w1 - w0, c1 - c0


def _same_work(engine: Engine) -> tuple[float, float]:
    """Wall and CPU seconds of DuckDB computing the shared aggregates of the three grains straight
    from the exchanges: one SQL statement per grain (compiled from the same definitions), no
    materialised view, no roll-up, no sub-queries, nothing written.

    A second baseline next to the 8-aggregate one: it prices the feature definitions themselves,
    so the ratio against it shows what the stage's structure costs or saves.
    """
    view = exchange_view(engine, narrow=True)
    direct = {s.name: s.direct for s in activity_specs()}
    sqls = [
        str(engine.con.compile(view.group_by(keys).aggregate(**{n: f(view) for n, f in direct.items()})))
        for keys in (["api_key_id", "day"], ["account_id", "day"], ["account_id"])
    ]
    engine.con._run_pre_execute_hooks(view)
    w0, c0 = _clock()
    for sql in sqls:
        engine.con.raw_sql(sql).fetchall()
    w1, c1 = _clock()
    return w1 - w0, c1 - c0


def _simulated_store(scale: str) -> tuple[Path, Path]:
    """Simulate ``scale`` with seed 1 and ingest it (the stillwatch CLI); returns (scratch, store)."""
    scratch = Path(tempfile.mkdtemp(prefix=f"sw-bench-{scale}-"))
    cli = str(Path(sys.executable).with_name("stillwatch"))
    logs, store = scratch / "logs", scratch / "store"
    for cmd in (
        [cli, "simulate", "--out", str(logs), "--scale", scale, "--seed", "1", "--quiet"],
        [cli, "--data-dir", str(store), "ingest", str(logs / "exchanges.jsonl.gz")],
    ):
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return scratch, store


def _children_cpu() -> float:
    """CPU seconds of finished worker processes (the forked batch workers)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _generated_texts(n: int) -> pa.RecordBatch:
    base = generate(max(n, 50), accounts=50, days=1, bad_input=False)
    texts = [f"{t[0]} (variant {i})" for i, t in enumerate(base.column("user_texts").to_pylist()) if t][:n]
    hashes = [f"{i:016x}" for i in range(len(texts))]
    return pa.RecordBatch.from_arrays([pa.array(hashes), pa.array(texts)], names=["text_hash", "text"])


def _store_texts(exchanges: Path, n: int) -> pa.RecordBatch:
    """``n`` distinct real texts (system prompt, first and last user turn) from a store's exchanges."""
    con = duckdb.connect()
    glob = str(exchanges / "**" / "*.parquet")
    seen: dict[str, str] = {}
    reader = con.execute(
        f"SELECT system_text, user_texts FROM read_parquet('{glob}', hive_partitioning = true)"
    ).to_arrow_reader(50_000)
    for batch in reader:
        occ = extract_texts(batch)
        for h, t in zip(occ.column("text_hash").to_pylist(), occ.column("text").to_pylist(), strict=True):
            seen.setdefault(h, t)
        if len(seen) >= n:
            break
    items = list(seen.items())[:n]
    return pa.RecordBatch.from_arrays(
        [pa.array([h for h, _ in items]), pa.array([t for _, t in items])], names=["text_hash", "text"]
    )


def _copy_exchanges(src: Path, dst: Path, fresh: bool, max_days: int) -> str:
    """The store's exchanges into ``dst``: hard links, or rewritten with one new text per exchange."""
    days = sorted(p.name for p in src.glob("day=*"))
    if max_days:
        days = days[:max_days]
    if not fresh:
        for day in days:
            shutil.copytree(src / day, dst / day, copy_function=os.link)
        return f"store {src.parent.parent} ({len(days)} days)"
    con = duckdb.connect()
    for day in days:
        (dst / day).mkdir(parents=True)
        # the last user turn gets a number from the request id: a new distinct text per exchange
        con.execute(
            f"""COPY (SELECT * REPLACE (CASE WHEN len(user_texts) > 0 THEN
                        user_texts[1:len(user_texts) - 1] || [user_texts[len(user_texts)] || ' #'
                        || CAST(hash(request_id) % 1000000007 AS VARCHAR)] ELSE user_texts END AS user_texts)
                      FROM read_parquet('{src / day}/*.parquet'))
                TO '{dst / day}/part-0.parquet' (FORMAT parquet)"""
        )
    return f"store {src.parent.parent} ({len(days)} days), one new text per exchange"


def main() -> None:
    """Run the benchmark and print a Markdown-ready summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--texts", type=int, default=2_000, help="distinct texts for the text-throughput step")
    parser.add_argument("--store", type=Path, help="an ingested store whose exchanges to use instead of generating")
    parser.add_argument(
        "--simulate", choices=["demo", "small", "medium"], help="simulate this scale (seed 1) and ingest it first"
    )
    parser.add_argument("--fresh-texts", action="store_true", help="one new text per exchange (needs --store)")
    parser.add_argument("--text-sample-rate", type=float, default=1.0, help="text_sample_rate of the run")
    parser.add_argument("--max-days", type=int, default=0, help="only the first N days of --store (0 = all)")
    parser.add_argument("--keep", type=Path, help="run in this new or empty directory and keep it (not deleted)")
    parser.add_argument("--no-same-work", action="store_true", help="skip the same-work SQL baseline")
    args = parser.parse_args()
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: not empty")

    sim_dir = None
    if args.simulate and not args.store:
        sim_dir, args.store = _simulated_store(args.simulate)
    load_start = os.getloadavg()
    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="sw-bench-"))
    settings = Settings(data_dir=data_dir, text_sample_rate=args.text_sample_rate)
    w0, _ = _clock()
    with get_engine(settings, "duckdb") as engine:
        if args.store:
            (data_dir / "tables").mkdir(parents=True)
            exchanges = args.store / "tables" / "exchanges"
            source = _copy_exchanges(exchanges, data_dir / "tables" / "exchanges", args.fresh_texts, args.max_days)
        else:
            engine.write_table(
                "exchanges", generate(args.rows, accounts=args.accounts, days=args.days), partition_by=["day"]
            )
            source = f"generated {args.rows} rows ({args.accounts} accounts, {args.days} days)"
        prep_s = _clock()[0] - w0
        w0, c0 = _clock()
        k0 = _children_cpu()
        er = enrich(engine, settings)
        w1, c1 = _clock()
        workers_c = _children_cpu() - k0
        print(f"enrich done: {er.exchanges} exchanges, {w1 - w0:.1f}s", file=sys.stderr, flush=True)
        fr = build_features(engine, settings)
        w2, c2 = _clock()
        again = enrich(engine, settings)
        noop_s = _clock()[0] - w2
        same_w, same_c = (float("nan"), float("nan")) if args.no_same_work else _same_work(engine)
    bare_w, bare_c = _bare_groupby(data_dir / "tables")

    if args.store:
        batch = _store_texts(args.store / "tables" / "exchanges", args.texts)
    else:
        batch = _generated_texts(args.texts)
    fn = text_batch_fn()
    fn(batch.slice(0, 10))  # load the indexes and the language model once
    tw, tc = _clock()
    fn(batch)
    text_w, text_c = _clock()[0] - tw, _clock()[1] - tc
    light = text_batch_fn(1e-12)  # every text sampled out: the cheap features only
    light(batch.slice(0, 10))
    lw, lc = _clock()
    light(batch)
    light_w, light_c = _clock()[0] - lw, _clock()[1] - lc
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.keep is None:
        shutil.rmtree(data_dir, ignore_errors=True)
    if sim_dir is not None:
        shutil.rmtree(sim_dir, ignore_errors=True)

    n = er.exchanges
    enrich_w, enrich_c, feat_w, feat_c = w1 - w0, c1 - c0 + workers_c, w2 - w1, c2 - c1
    print(f"input                       {source}, prepared in {prep_s:.1f}s")
    print(f"enrich                      wall {enrich_w:.1f}s cpu {enrich_c:.1f}s  {n / enrich_w:,.0f} exch/s wall")
    print(
        f"                            {n} exchanges, {er.new_texts} distinct texts, "
        f"text_sample_rate {args.text_sample_rate:g}"
    )
    print(f"build_features              wall {feat_w:.1f}s cpu {feat_c:.1f}s  {n / feat_w:,.0f} exch/s wall")
    print(f"                            ({fr.accounts} accounts)")
    print(
        f"end-to-end                  wall {enrich_w + feat_w:.1f}s cpu {enrich_c + feat_c:.1f}s  "
        f"{n / (enrich_w + feat_w):,.0f} exch/s wall, {n / (enrich_c + feat_c):,.0f} exch per CPU-s"
    )
    print(f"re-run with no new data     {noop_s:.2f}s ({len(again.days)} days recomputed)")
    print(f"bare DuckDB group-by        wall {bare_w:.2f}s cpu {bare_c:.2f}s")
    print(f"ratio bare/features         wall {bare_w / feat_w:.3f}  cpu {bare_c / feat_c:.3f}  (floor asked: >= 0.333)")
    print(f"same-work SQL, 3 grains     wall {same_w:.2f}s cpu {same_c:.2f}s (shared aggregates only)")
    print(f"ratio same-work/features    wall {same_w / feat_w:.3f}  cpu {same_c / feat_c:.3f}")
    print(
        f"text enrichment, sample     {batch.num_rows / text_w:,.0f} distinct texts/s wall, "
        f"{batch.num_rows / text_c:,.0f} per CPU-s ({batch.num_rows} texts, one process)"
    )
    print(
        f"text, light (sampled out)   {batch.num_rows / light_w:,.0f} distinct texts/s wall, "
        f"{batch.num_rows / light_c:,.0f} per CPU-s (the same texts; {light_c / text_c:.0%} of the full CPU)"
    )
    if er.new_texts and workers_c > 0:
        print(
            f"text enrichment, the run    {er.new_texts / workers_c:,.0f} per CPU-s of the workers "
            f"({er.new_texts} texts, {workers_c:.1f} s; they run during the exchange phase)"
        )
    print(f"peak RSS                    {peak_mb:,.0f} MB")
    print(f"load average                start {load_start[0]:.1f}, end {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()
