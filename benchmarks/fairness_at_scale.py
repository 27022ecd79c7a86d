"""Fairness at scale: false-positive rate per benign group with enough accounts to bound it.

Issue-5 fairness floor: the false-positive rate on legitimate Chinese-writing customers is no worse
than on all benign accounts, and enterprise gateways and benchmark researchers stay at ≤ 0.5 %.
With no false positive, the 95 % Wilson upper bound is below 0.5 % only from n ≥ 765 accounts,
while the ``small`` set has 91 gateways and 32 researchers. This script simulates a benign-heavy
set on a *fresh* seed (never seed 7, whose labels are the evaluation set of the detectors, nor
seed 1, their tuning set) where gateways and researchers get a larger share of the exchange
budget (``stillwatch simulate --share``), with abuse populations alongside so the detectors'
baselines and pools see a mix, then runs detection at a few cut-offs and scores every benign group.

Steps (each is skipped when its output exists; ``--force`` re-runs detection only):

1. ``stillwatch simulate --seed 11 --start 2026-02-12 --days 7 --share ...`` → ``<dir>/sim<seed>``
   (the window crosses the 02-14 make-up working Saturday and the first days of the Spring
   Festival holiday, when Chinese-writing customers change their hours);
2. ``stillwatch --data-dir <dir>/store<seed> ingest ...`` and ``enrich``;
3. ``run_detection(until=cut-off, write=False, link=..., jailbreak=...)`` at the end of the given
   days (the jailbreak day scans are cached in the store, so later cut-offs reuse them), each
   scored with :func:`stillwatch.evaluate.evaluate_findings` over the accounts that have at
   least one exchange before the cut-off (a benign account with no traffic cannot be flagged and
   is not counted; ``eval`` counts every labelled benign account).

The result (``<dir>/fairness<seed>.json``) has, per cut-off, every benign group's accounts,
flagged accounts, FPR and Wilson interval, the flagged accounts with their finding kinds and
top evidence, precision/recall per abuse kind (a sanity check that the detectors still fire),
wall and CPU seconds and the load average; and the accounts flagged at *any* cut-off per group.

Run (≈ 2 M exchanges; see docs/evaluation.md for the measured time): ``make fairness`` or
``.venv/bin/python benchmarks/fairness_at_scale.py --dir /work/stores/fair``. ``--budget
POPULATION=N`` changes a population's exchange budget (the scale becomes the sum of the budgets);
session 7 used it for 1,310 gateways and 1,305 researchers on seed 17 within the 2 M at which the
simulator switches to 120-staff gateways (docs/evaluation.md, "Session 7: fairness at scale").
The diagnostic ``--thin-baseline`` changes what the detectors' baselines see, never a threshold.
(Session 7's ``--ignore-lone-pair-egress`` what-if is now the detectors' own rule,
``detect.pools.lone_pair_egress``, and the option is gone.) Not part of the test suite or of
``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

#: Exchange budget per population (``--share`` weights, normalised over :data:`SCALE`, which is
#: kept below the 2 M at which the simulator switches to 120-person gateways). With a 7-day window the sizing
#: formulas of ``stillwatch.simulate.engine.build_actors`` give ≈ 860 gateways (≈ 249 exchanges
#: each), ≈ 860 researchers (one benchmark sweep each), ≈ 20,000 ``benign_en`` and ≈ 6,000
#: ``benign_zh_legit`` accounts, 6 relays, hydra clusters, 3 sub-routing platforms, subsidiaries,
#: ban evaders and a few jailbreakers.
BUDGET: dict[str, int] = {
    "benign_en": 412_000,
    "benign_zh_legit": 104_000,
    "enterprise_gateway": 214_000,
    "researcher_benchmark": 946_000,
    "relay": 120_000,
    "subrouting": 30_000,
    "subsidiary": 20_000,
    "distillation": 120_000,
    "ban_evasion": 6_800,
    "jailbreak": 1_100,
}
SCALE = 1_975_000
#: The simulator sizes enterprise gateways with 40 staff below this ``--scale`` and 120 above it.
STAFF_SWITCH = 2_000_000
START = date(2026, 2, 12)
DAYS = 7
FLOOR = 0.005  # enterprise gateways and researchers


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("stillwatch")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "stillwatch"]


def _run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    c0, w0 = _cpu(), time.time()
    subprocess.run(cmd, check=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  {time.time() - w0:.1f} s wall, {_cpu() - c0:.1f} s CPU, load {load}", flush=True)


def _cpu() -> float:
    """CPU seconds of this process and of its finished (forked) workers."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def budgets(overrides: list[str] | None) -> tuple[dict[str, int], int]:
    """The exchange budget per population, with ``NAME=N`` overrides, and the ``--scale`` to pass.

    Without overrides the scale is :data:`SCALE`; with them it is the sum of the budgets, so each
    population's budget is its weight. The simulator's population sizes follow from the budget
    (``stillwatch.simulate.engine.build_actors``: a researcher per ≈ 1,100, a 40-staff gateway per
    ≈ 249 for 7 days), so more gateways and researchers within :data:`STAFF_SWITCH` means less of
    everything else.

    Raises:
        ValueError: an unknown population or a budget that is not a positive integer.
    """
    budget = dict(BUDGET)
    for item in overrides or []:
        name, _, value = item.partition("=")
        if name not in BUDGET or not value.isdigit() or int(value) <= 0:
            raise ValueError(f"--budget {item!r}: expected POPULATION=N with one of {', '.join(BUDGET)}")
        budget[name] = int(value)
    return budget, (sum(budget.values()) if overrides else SCALE)


def simulate(sim: Path, seed: int, start: date, days: int, budget: dict[str, int] | None = None,
             scale: int = SCALE) -> None:  # fmt: skip
    """Simulate the set (skipped when ``labels.jsonl`` exists)."""
    if (sim / "labels.jsonl").exists():
        return
    if scale >= STAFF_SWITCH:
        print(f"note: scale {scale:,} >= {STAFF_SWITCH:,}: the simulator builds 120-staff gateways", flush=True)
    cmd = [*_cli(), "simulate", "--out", str(sim), "--seed", str(seed), "--start", start.isoformat(),
           "--days", str(days), "--scale", str(scale), "--quiet"]  # fmt: skip
    for name, weight in (budget or BUDGET).items():
        cmd += ["--population", name, "--share", f"{name}={weight}"]
    _run(cmd)


def ingest_enrich(sim: Path, store: Path) -> None:
    """Ingest and enrich (skipped when the marker of a completed run exists)."""
    marker = store / ".fairness_enriched"
    if marker.exists():
        return
    files = [str(sim / n) for n in ("accounts.jsonl", "enforcement.jsonl", "exchanges.jsonl.gz")]
    _run([*_cli(), "--data-dir", str(store), "ingest", *files])
    _run([*_cli(), "--data-dir", str(store), "enrich"])
    marker.write_text(datetime.now(UTC).isoformat() + "\n")


def _flag_detail(findings: list[Any], ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Per flagged benign account: kind, detector, score and the three strongest evidence items."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in findings:
        if f.shadow:
            continue
        targets = [f.entity_id] if f.entity == "account" else list(f.accounts) if f.entity != "exchange" else []
        for a in set(targets) & ids:
            ev = sorted(f.evidence, key=lambda e: -float(e.strength or 0))[:3]
            out[a].append({"kind": f.kind, "entity": f.entity, "detector": f.detector.get("name"),
                           "score": round(float(f.score), 3),
                           "evidence": [[e.feature, str(e.value)[:120], e.family] for e in ev]})  # fmt: skip
    return dict(out)


def thin_baselines(labels: list[dict[str, Any]], fractions: dict[str, float]) -> str:
    """Diagnostic only: fit every detector's baselines without most accounts of some groups.

    This set over-represents gateways and researchers (≈ 10 % each of the accounts with ≥ 30
    exchanges, the reference of the relay and distillation baselines, against ≈ 0.5–1.5 % in the
    ``small`` sets), so they help define "normal" and their FPR may be optimistic. Keeping only a
    ``fraction`` of each named group in the frames passed to ``Detector.fit`` (a fixed hash of the
    account id picks them) gives baselines of the natural mix; every account is still scored. The
    labels choose which rows the *baselines* see, never a threshold: a what-if on the mix.

    Returns:
        A tag for the result (``group=fraction,...``).
    """
    import hashlib

    from stillwatch.detect import base

    groups = {str(lab["id"]): str(lab.get("group")) for lab in labels if lab["entity"] == "account"}

    def kept(account: str) -> bool:
        frac = fractions.get(groups.get(account, ""), 1.0)
        return int(hashlib.sha256(account.encode()).hexdigest()[:8], 16) < frac * 0xFFFFFFFF

    drop = {a for a, g in groups.items() if g in fractions and not kept(a)}
    original = base.Detector.fit

    def fit(self: Any, X: Any, y: Any = None) -> Any:  # noqa: N803
        if "entity_id" in X.columns:
            rest = X[~X["entity_id"].astype(str).isin(drop)]
            X = rest if len(rest) else X  # noqa: N806
        return original(self, X, y)

    base.Detector.fit = fit  # type: ignore[method-assign]
    return ",".join(f"{g}={f}" for g, f in sorted(fractions.items()))


def score_cutoff(engine: Any, settings: Any, labels: list[dict[str, Any]], until: datetime,
                 link: bool, jailbreak: bool, baseline: str = "",
                 previous: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Run detection at ``until`` and score it over the accounts active before ``until``.

    With ``previous`` (an earlier result of the same cut-off and options) the findings saved by
    that run (``findings-<tag>.jsonl`` next to the store) are scored again with the current
    evaluation rule, without running detection; its time and load figures are kept.
    """
    from stillwatch.detect.findings import read_jsonl
    from stillwatch.detect.jailbreak_cache import ScanCache
    from stillwatch.detect.runner import run_detection
    from stillwatch.evaluate import account_stats, evaluate_findings

    variant = "-thin" if "=" in baseline else ""
    tag = f"{until:%Y%m%dT%H}{'-link' if link else ''}{'-jb' if jailbreak else ''}{variant}"
    saved = Path(settings.data_dir).parent / f"findings-{tag}.jsonl"
    if previous is not None:
        found = read_jsonl(saved)
        timing = {k: previous[k] for k in ("wall_s", "cpu_s", "loadavg_before", "loadavg_after")}
        timing["rescored"] = datetime.now(UTC).isoformat(timespec="seconds")
    else:
        load0 = os.getloadavg()
        c0, w0 = _cpu(), time.time()
        cache = ScanCache.in_store(settings.data_dir) if jailbreak else None
        found = run_detection(
            engine, settings, until, write=False, link=link, jailbreak=jailbreak, jailbreak_cache=cache
        )
        timing = {"wall_s": round(time.time() - w0, 1), "cpu_s": round(_cpu() - c0, 1),
                  "loadavg_before": [round(x, 2) for x in load0],
                  "loadavg_after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
        with open(saved, "w") as fh:
            for f in found:
                fh.write(json.dumps(f.to_dict(), default=str) + "\n")
    per_account, first = account_stats(engine, until)
    labs = [lab for lab in labels if lab["entity"] != "account" or per_account.get(str(lab["id"]), 0) > 0]
    ev = evaluate_findings(found, labs, per_account, first)
    flagged = {a for g, v in ev["benign_groups"].items() if g != "all_benign" for a in v["flagged_ids"]}
    labelled: dict[str, int] = defaultdict(int)
    for lab in labels:
        if lab["entity"] == "account" and lab["label"] == "benign":
            labelled[str(lab.get("group"))] += 1
    return {
        "until": until.isoformat(),
        "link": link,
        "jailbreak": jailbreak,
        "baseline": baseline or "all accounts",
        **timing,
        "findings": len(found),
        "benign_labelled": dict(labelled),
        "benign_groups": ev["benign_groups"],
        "flagged_detail": _flag_detail(found, flagged),
        "kinds": {
            k: {x: v[x] for x in ("positives", "flagged", "precision", "recall")} for k, v in ev["kinds"].items()
        },
    }


def _table(result: dict[str, Any]) -> str:
    """Markdown table: one row per benign group and cut-off."""
    from stillwatch.evaluate import wilson

    rows = ["| cut-off | run | group | accounts | flagged | FPR | 95 % Wilson interval |",
            "|---|---|---|---:|---:|---:|---|"]  # fmt: skip
    for cut in result["cutoffs"]:
        run = "+".join(["detect", *(["link"] if cut["link"] else []), *(["jailbreak"] if cut["jailbreak"] else [])])
        if cut.get("baseline", "all accounts") != "all accounts":
            run += f" (what-if: {cut['baseline']})"
        for g, v in cut["benign_groups"].items():
            rows.append(f"| {cut['until'][:16]} | {run} | {g} | {v['accounts']:,} | {v['flagged']} | {v['fpr']:.3%} | "
                        f"[{v['fpr_low']:.3%}, {v['fpr_high']:.3%}] |")  # fmt: skip
    for g, v in result.get("ever_flagged", {}).items():
        lo, hi = wilson(len(v["ids"]), v["accounts"])
        rows.append(f"| any cut-off | any run (all-account baselines) | {g} | {v['accounts']:,} | {len(v['ids'])} | "
                    f"{len(v['ids']) / max(1, v['accounts']):.3%} | [{lo:.3%}, {hi:.3%}] |")  # fmt: skip
    return "\n".join(rows)


def _saved_cutoffs(path: Path) -> dict[tuple[str, bool, bool, str], dict[str, Any]]:
    """Cut-offs already in the result file, by (until, link, jailbreak, baseline)."""
    cuts = json.loads(path.read_text()).get("cutoffs", []) if path.exists() else []
    return {(c["until"], c["link"], c["jailbreak"], c.get("baseline", "all accounts")): c for c in cuts}


def main() -> int:
    """Simulate, ingest, enrich and score the cut-offs; print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/work/stores/fair", help="working folder (simulated set, store, result)")
    parser.add_argument("--seed", type=int, default=11, help="a fresh seed (not 1 or 7)")
    parser.add_argument("--start", default=START.isoformat())
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument(
        "--budget",
        action="append",
        metavar="POPULATION=N",
        help="exchange budget of a population instead of BUDGET's (the scale becomes the sum; see budgets())",
    )
    parser.add_argument("--cutoffs", default="1,3,7", help="cut-offs: ends of these days of the window (UTC)")
    parser.add_argument("--link", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--jailbreak", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--thin-baseline",
        action="append",
        metavar="GROUP=FRACTION",
        help="diagnostic: fit baselines on this fraction of a group's accounts (see thin_baselines)",
    )
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="score the saved findings of cut-offs already run again (current evaluation rule)",
    )
    parser.add_argument("--force", action="store_true", help="re-run cut-offs already in the result file")
    args = parser.parse_args()
    if args.seed in (1, 7):
        parser.error("seed 1 tunes and seed 7 evaluates the detectors; use a fresh seed")
    from stillwatch.config import load_settings
    from stillwatch.engine import get_engine
    from stillwatch.evaluate import read_labels

    root = Path(args.dir)
    sim, store = root / f"sim{args.seed}", root / f"store{args.seed}"
    start = date.fromisoformat(args.start)
    try:
        budget, scale = budgets(args.budget)
    except ValueError as exc:
        parser.error(str(exc))
    simulate(sim, args.seed, start, args.days, budget, scale)
    ingest_enrich(sim, store)
    out_path = root / f"fairness{args.seed}.json"
    result: dict[str, Any] = json.loads(out_path.read_text()) if out_path.exists() else {}
    result.update(seed=args.seed, start=start.isoformat(), days=args.days, budget=budget, scale=scale,
                  simulation=json.loads((sim / "simulation.json").read_text())["by_group"])  # fmt: skip
    done = _saved_cutoffs(out_path)
    labels = read_labels(sim / "labels.jsonl")
    baseline = ""
    if args.thin_baseline:
        thin = {g: float(f) for g, _, f in (x.partition("=") for x in args.thin_baseline)}
        baseline = thin_baselines(labels, thin)
    settings = load_settings(data_dir=str(store))
    t0 = datetime(start.year, start.month, start.day, tzinfo=UTC)
    with get_engine(settings, "duckdb") as engine:
        for day in (int(x) for x in args.cutoffs.split(",")):
            until = t0 + timedelta(days=day)
            key = (until.isoformat(), args.link, args.jailbreak, baseline or "all accounts")
            if key in done and not (args.force or args.rescore):
                continue
            print(f"cut-off {until.isoformat()} (link={args.link}, jailbreak={args.jailbreak}, "
                  f"baseline={baseline or 'all accounts'})", flush=True)  # fmt: skip
            prev = done.get(key) if args.rescore else None
            done[key] = score_cutoff(engine, settings, labels, until, args.link, args.jailbreak, baseline, prev)
            done = {**_saved_cutoffs(out_path), **done}  # another run may have added cut-offs meanwhile
            result["cutoffs"] = sorted(
                done.values(), key=lambda c: (c["until"], c["link"], c["jailbreak"], c["baseline"])
            )
            out_path.write_text(json.dumps(result, indent=1, sort_keys=True, default=str))
            g = done[key]["benign_groups"]
            print(" ".join(f"{k} {v['flagged']}/{v['accounts']}" for k, v in g.items()),
                  f"| {done[key]['cpu_s']} s CPU, {done[key]['wall_s']} s wall", flush=True)  # fmt: skip
    result["cutoffs"] = sorted(_saved_cutoffs(out_path).values(), key=lambda c: (c["until"], c["link"], c["jailbreak"],
                                                                                c.get("baseline", "")))  # fmt: skip
    ever: dict[str, dict[str, Any]] = {}
    for cut in result.get("cutoffs", []):
        if cut.get("baseline", "all accounts") != "all accounts":
            continue  # the thinned-baseline runs are diagnostics
        for g, v in cut["benign_groups"].items():
            e = ever.setdefault(g, {"accounts": 0, "ids": set()})
            e["accounts"] = max(e["accounts"], v["accounts"])
            e["ids"] |= set(v["flagged_ids"])
    result["ever_flagged"] = {g: {"accounts": v["accounts"], "ids": sorted(v["ids"])} for g, v in ever.items()}
    out_path.write_text(json.dumps(result, indent=1, sort_keys=True, default=str))
    print(_table(result))
    from stillwatch.evaluate import wilson

    groups = result["ever_flagged"]
    for g in ("enterprise_gateway", "researcher_benchmark"):
        if g in groups:
            hi = wilson(len(groups[g]["ids"]), groups[g]["accounts"])[1]
            print(f"{g}: Wilson upper bound {hi:.3%} at any cut-off -> floor {FLOOR:.1%} shown: {hi <= FLOOR}")
    for cut in result.get("cutoffs", []):
        g = cut["benign_groups"]
        if "benign_zh_legit" in g:
            ok = g["benign_zh_legit"]["fpr"] <= g["all_benign"]["fpr"]
            print(f"{cut['until'][:16]}: benign_zh_legit FPR <= all benign: {ok}")
    print(f"-> {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
