"""Benchmark: the per-request decision, in-process and over HTTP.

Reports, in one run:

* in-process latency of ``DecisionService.decide`` (memory state; optionally Redis): wall-clock
  p50/p99/p99.9 and per-decision thread CPU time (which excludes time the OS scheduler gave to
  other processes — on a shared 2-core machine the wall-clock tail is mostly preemption);
* over HTTP (uvicorn, one worker, loopback): for increasing client concurrency, the rate and p99
  of ``POST /api/v1/decide`` and of two no-op endpoints on the same app, interleaved: ``POST /noop``,
  an ordinary FastAPI route (decorator, ``Request`` parameter), and ``POST /noop-route``, a plain
  Starlette route like the decision routes themselves (the stricter baseline); the highest rate
  each sustains with p99 <= 10 ms, and the ratio decide/no-op against each. The load generator is
  ``wrk`` (C, one thread, closed loop: a fixed duration per step) when it is installed, else an
  httpx client (a fixed count per step; slower, so it takes a share of the CPU from the server).

Load is bounded: a fixed duration or count per step, each request with a timeout, loopback only.

Usage:
    .venv/bin/python benchmarks/bench_decide.py [--n 20000] [--http-n 1500] [--redis redis://127.0.0.1:56379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PROMPTS = [
    "Please write a Python function that merges two sorted lists.",
    "Summarise the following meeting notes in three bullet points: the team agreed to ship on Friday.",
    "请帮我写一个快速排序的 Python 函数，并解释它的时间复杂度。",
    "Translate to French: the weather is lovely today and we are going to the park.",
    "Solve step by step: a train leaves at 3pm travelling 60 km/h, another at 4pm at 80 km/h. When do they meet?",
    "Explain the difference between TCP and UDP for a beginner, with an example of each. " * 6,
    "hi",
]
UAS = ["anthropic/python 0.40.0", "claude-cli/2.1.3 (external, cli)", "Go-http-client/1.1", "OpenAI/Python 1.51.0"]


def _snapshot() -> Any:
    from stillwatch.decide.snapshot import build_snapshot

    enf = [{"target_type": "account", "target": f"acct-{i}", "action": "ban"} for i in range(0, 2000, 97)]
    enf += [{"target_type": "egress", "target": "203.0.113.0/24", "action": "suspend"}]
    findings = [
        {"kind": "relay", "entity": "account", "entity_id": f"acct-{i}", "score": 0.6 + (i % 4) / 10}
        for i in range(0, 2000, 13)
    ]
    clusters = {f"cl-{c}": [f"acct-{i}" for i in range(c * 10, c * 10 + 10)] for c in range(0, 200, 7)}
    return build_snapshot(enf, findings, clusters)


def make_requests(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """Varied gateway requests (2,000 accounts, 3,000 keys, 5,000 IPs, a few relay artifacts)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        acct = rng.randrange(2000)
        body = {
            "model": "claude-x",
            "max_tokens": rng.choice([1024, 4096, 1000]),
            "messages": [{"role": "user", "content": rng.choice(PROMPTS) + f" #{rng.randrange(50)}"}],
        }
        if rng.random() < 0.3:
            body["system"] = "You are a helpful assistant for an online shop. Answer briefly."
        out.append(
            {
                "account_id": f"acct-{acct}",
                "api_key_id": f"key-{acct}-{rng.randrange(2)}",
                "client_ip": f"{rng.choice([24, 73, 81, 84, 45])}.{rng.randrange(40)}.{rng.randrange(20)}.{i % 5 + 1}",
                "forwarded_for": "114.114.114.114" if rng.random() < 0.02 else None,
                "headers": {"user-agent": rng.choice(UAS), "anthropic-version": "2023-06-01"},
                "body": body,
                "request_id": f"r-{i}",
            }
        )
    return out


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def bench_inprocess(n: int, redis_url: str | None) -> dict[str, Any]:
    """In-process latency (wall and thread CPU), memory state or Redis."""
    from stillwatch.decide.online import FailoverState, MemoryState, RedisState, Windows
    from stillwatch.decide.policy import load_policy
    from stillwatch.decide.service import DecisionService
    from stillwatch.decide.snapshot import SnapshotProvider

    state: Any = MemoryState(Windows())
    if redis_url:
        state = FailoverState(RedisState.from_url(redis_url, Windows(), timeout_s=0.05), deadline_s=0.05, isolate=False)
    svc = DecisionService(load_policy(), snapshots=SnapshotProvider.static(_snapshot()), state=state)
    reqs = make_requests(n + 2000)
    for r in reqs[:2000]:
        svc.decide(r)
    wall: list[float] = []
    cpu: list[float] = []
    actions: dict[str, int] = {}
    for r in reqs[2000:]:
        t0, c0 = time.perf_counter(), time.thread_time()
        out = svc.decide(r)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
        actions[out.action] = actions.get(out.action, 0) + 1
    svc.close()
    ms = 1000.0
    return {
        "backend": "redis" if redis_url else "memory",
        "n": n,
        "wall_p50_ms": _pct(wall, 0.5) * ms,
        "wall_p99_ms": _pct(wall, 0.99) * ms,
        "wall_p999_ms": _pct(wall, 0.999) * ms,
        "cpu_p50_ms": _pct(cpu, 0.5) * ms,
        "cpu_p99_ms": _pct(cpu, 0.99) * ms,
        "actions": actions,
    }


SERVER = """
import sys
sys.path.insert(0, {src!r})
sys.path.insert(0, {root!r})
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from stillwatch.decide.http import mount
from stillwatch.decide.policy import load_policy
from stillwatch.decide.service import DecisionService
from stillwatch.decide.snapshot import SnapshotProvider
from benchmarks.bench_decide import _snapshot, make_requests
svc = DecisionService(load_policy(), snapshots=SnapshotProvider.static(_snapshot()))
for r in make_requests(2000, seed=7):
    svc.decide(r)
if {full_app!r}:  # the app `stillwatch serve` runs: REST API, SQLite case store, security middleware
    import tempfile
    from stillwatch.api.app import create_app
    from stillwatch.config import load_settings
    app = mount(create_app(load_settings(data_dir=tempfile.mkdtemp(prefix="sw-bench-app-"))), svc)
else:
    app = mount(FastAPI(), svc)

@app.post("/noop")
async def noop(request: Request) -> Response:
    await request.body()
    return Response(b'{{"action":"allow"}}', media_type="application/json")

async def noop_route(request: Request) -> Response:
    await request.body()
    return Response(b'{{"action":"allow"}}', media_type="application/json")

from starlette.routing import Route
app.router.routes.insert(0, Route("/noop-route", noop_route, methods=["POST"]))

uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False, loop="uvloop",
            http="httptools")
"""


async def _load(url: str, bodies: list[bytes], concurrency: int, timeout: float) -> tuple[float, list[float], int]:
    import httpx

    lat: list[float] = []
    errors = 0
    it = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            for body in it:
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, content=body, headers={"content-type": "application/json"})
                    if r.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                lat.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return len(bodies) / elapsed, lat, errors


WRK_LUA = """
local bodies = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", nil, {["content-type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end
"""


def _wrk(url: str, bodies_file: Path, concurrency: int, seconds: float) -> tuple[float, float, float, int]:
    """One closed-loop wrk step: (rate/s, p50 s, p99 s, errors)."""
    import json

    script = bodies_file.with_suffix(".lua")
    script.write_text(WRK_LUA)
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "--timeout", "5s", "-s", str(script),
                          url, "--", str(bodies_file)], capture_output=True, text=True, timeout=seconds + 30)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result for {url}: {out.stdout[-500:]} {out.stderr[-500:]}")
    r = json.loads(line[4:])
    return r["requests"] / (r["duration_us"] / 1e6), r["p50_us"] / 1e6, r["p99_us"] / 1e6, r["errors"]


def bench_http(n: int, levels: list[int], seconds: float = 8.0, full_app: bool = False) -> dict[str, Any]:
    """Rate and p99 of /api/v1/decide and /noop on one uvicorn worker, interleaved per level."""
    import httpx
    import orjson

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = SERVER.format(src=str(ROOT / "src"), root=str(ROOT), port=port, full_app=full_app)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ})
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                httpx.post(f"http://127.0.0.1:{port}/noop", content=b"{}", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        bodies = [orjson.dumps(r) for r in make_requests(max(n, 2000), seed=3)]
        use_wrk = shutil.which("wrk") is not None
        bodies_file = Path(tempfile.mkdtemp(prefix="sw-bench-decide-")) / "bodies.jsonl"
        bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
        rows = []
        for c in levels:
            row: dict[str, Any] = {"concurrency": c}
            for name, path in (("noop", "/noop"), ("noop_route", "/noop-route"), ("decide", "/api/v1/decide")):
                url = f"http://127.0.0.1:{port}{path}"
                if use_wrk:
                    _wrk(url, bodies_file, c, 1)  # warm-up
                    rate, p50, p99, errors = _wrk(url, bodies_file, c, seconds)
                else:
                    asyncio.run(_load(url, bodies[:200], c, 5.0))  # warm-up
                    rate, lat, errors = asyncio.run(_load(url, bodies[:n], c, 5.0))
                    p50, p99 = _pct(lat, 0.5), _pct(lat, 0.99)
                row[name] = {"rate": rate, "p50_ms": p50 * 1000, "p99_ms": p99 * 1000, "errors": errors}
            rows.append(row)
    finally:
        proc.terminate()
        proc.wait(10)
    names = ("noop", "noop_route", "decide")
    best = {}
    for name in names:
        ok = [r[name]["rate"] for r in rows if r[name]["p99_ms"] <= 10.0 and not r[name]["errors"]]
        best[name] = max(ok) if ok else None
    peak = {name: max(r[name]["rate"] for r in rows) for name in names}

    def ratio(base: str) -> float | None:
        return best["decide"] / best[base] if best["decide"] and best[base] else None

    return {"client": "wrk" if use_wrk else "httpx", "rows": rows, "best_rate_p99_le_10ms": best,
            "ratio": ratio("noop"), "ratio_route": ratio("noop_route"), "peak_rate": peak,
            "peak_ratio": peak["decide"] / peak["noop"],
            "peak_ratio_route": peak["decide"] / peak["noop_route"]}  # fmt: skip


def main() -> None:
    """Run and print a Markdown-ready report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000, help="in-process decisions")
    ap.add_argument("--http-n", type=int, default=1_500, help="HTTP requests per endpoint and level")
    ap.add_argument("--levels", default="1,2,4,8", help="client concurrency levels")
    ap.add_argument("--redis", default=None, help="also measure in-process with this Redis URL")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--full-app", action="store_true", help="serve the whole stillwatch app, not a bare FastAPI()")
    args = ap.parse_args()
    print(f"# bench_decide  (load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for url in [None, args.redis] if args.redis else [None]:
        r = bench_inprocess(args.n, url)
        print(
            f"in-process [{r['backend']}] n={r['n']}: wall p50 {r['wall_p50_ms']:.3f} ms,"
            f" p99 {r['wall_p99_ms']:.3f} ms, p99.9 {r['wall_p999_ms']:.3f} ms;"
            f" thread-CPU p50 {r['cpu_p50_ms']:.3f} ms, p99 {r['cpu_p99_ms']:.3f} ms;"
            f" actions {r['actions']}"
        )
    if not args.skip_http:
        h = bench_http(args.http_n, [int(x) for x in args.levels.split(",")], full_app=args.full_app)
        print(f"server app: {'create_app (as stillwatch serve)' if args.full_app else 'bare FastAPI()'} + mount")
        print(f"client: {h['client']}")
        print("| concurrency | no-op rate/s | no-op p99 ms | no-op route rate/s | no-op route p99 ms "
              "| decide rate/s | decide p50 ms | decide p99 ms |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for row in h["rows"]:
            n_, r_, d = row["noop"], row["noop_route"], row["decide"]
            print(f"| {row['concurrency']} | {n_['rate']:.0f} | {n_['p99_ms']:.2f} | {r_['rate']:.0f} | "
                  f"{r_['p99_ms']:.2f} | {d['rate']:.0f} | {d['p50_ms']:.2f} | {d['p99_ms']:.2f} |")  # fmt: skip
        b = h["best_rate_p99_le_10ms"]
        print(f"highest rate with p99 <= 10 ms: decide {b['decide']}, no-op {b['noop']}, "
              f"no-op route {b['noop_route']}; ratio vs no-op {h['ratio']}, "
              f"vs no-op route {h['ratio_route']}")  # fmt: skip
        pk = h["peak_rate"]
        print(f"peak rate: decide {pk['decide']:.0f}/s, no-op {pk['noop']:.0f}/s, "
              f"no-op route {pk['noop_route']:.0f}/s; "
              f"ratio {h['peak_ratio']:.2f} / {h['peak_ratio_route']:.2f}")  # fmt: skip
    print(f"(load average at end: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
