"""``make demo``: simulate a demo data set, run the whole pipeline, open cases, print a summary,
then serve the API (and console) on 127.0.0.1 until Ctrl-C.

    python -m stillwatch.demo --out ./stillwatch-demo --serve 1
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from stillwatch.config import Settings, load_settings
from stillwatch.exceptions import StillwatchError

console = Console()
DEMO_SEED = 1


def _simulate(settings: Settings, out: Path, scale: str) -> Path:
    from stillwatch.simulate import simulate

    target = out / "input"
    if (target / "labels.jsonl").exists():
        console.print(f"reusing simulated data in {target}", highlight=False)
        return target
    console.print(f"simulating the [bold]{scale}[/] data set (seed {DEMO_SEED}) into {target} …", highlight=False)
    simulate(target, seed=DEMO_SEED, scale=scale, restricted_regions=settings.restricted_regions)
    return target


def _evaluate(findings_path: Path, labels: Path) -> None:
    """Score the one-shot findings against the simulator's labels (no replay: see ``stillwatch eval``)."""
    from stillwatch.detect.findings import read_jsonl
    from stillwatch.evaluate import evaluate_findings, read_labels
    from stillwatch.evaluate.report import print_report

    console.print("\n[bold]evaluation against the simulator's labels[/] (single run over the whole window; "
                  "`stillwatch eval` replays day by day for time to detect)", highlight=False)
    print_report(evaluate_findings(read_jsonl(findings_path), read_labels(labels)), console)


def _demo_token(settings: Settings) -> str:
    from stillwatch.cases.auth import create_user, issue_token
    from stillwatch.cases.db import open_store
    from stillwatch.exceptions import ConflictError
    from stillwatch.security.permissions import SYSTEM

    store = open_store(settings.case_store_url)
    try:
        with store.session() as session:
            try:
                create_user(session, "demo", "admin", SYSTEM)
            except ConflictError:
                pass
            return issue_token(session, "demo", SYSTEM, name="make demo")
    finally:
        store.dispose()


def _summary(settings: Settings, result: Any, cases: Any) -> None:
    from stillwatch.store.status import store_status

    status = store_status(settings)
    table = Table(title="stillwatch demo", show_header=False)
    table.add_row("exchanges stored", f"{status['exchanges']:,}")
    table.add_row("accounts", f"{status['accounts']:,}")
    table.add_row("quarantined rows", f"{status['quarantined']:,}")
    table.add_row("time range", f"{status['first_ts']} → {status['last_ts']}")
    kinds = Counter(f["kind"] for f in result.findings)
    table.add_row("findings", ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) or "none")
    table.add_row("clusters", f"{len(result.clusters)} ({sum(len(c['accounts']) for c in result.clusters)} accounts)")
    if cases is not None:
        table.add_row("cases opened", f"{len(cases.opened)} (shadow findings recorded: {cases.shadow})")
    table.add_row("stage seconds", ", ".join(f"{k} {v}" for k, v in result.seconds.items()))
    table.add_row("findings file", str(result.findings_path))
    console.print(table)


def _serve(settings: Settings, token: str) -> None:
    import uvicorn

    from stillwatch.server import full_app

    host, port = settings.serve.host, settings.serve.port
    app = full_app(settings)
    console.print(
        f"\nconsole on [bold]http://{host}:{port}/console/[/] — log in by pasting the demo token\n"
        f"demo login: user [bold]demo[/] (admin), token: [bold]{token}[/]\n"
        f"API on http://{host}:{port}/api/v1 (docs at http://{host}:{port}/docs), "
        f"e.g. curl -H 'Authorization: Bearer {token}' http://{host}:{port}/api/v1/cases\n"
        "Ctrl-C stops it.",
        highlight=False,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit code."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("./stillwatch-demo"))
    ap.add_argument("--scale", default="demo")
    ap.add_argument("--serve", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        from stillwatch.cases.intake import open_cases_from_findings
        from stillwatch.pipeline import run_pipeline

        settings = load_settings(data_dir=args.out / "store")
        start = time.perf_counter()
        inputs = _simulate(settings, args.out, args.scale)
        result = run_pipeline(settings, [inputs], out_dir=args.out,
                              step=lambda s: console.print(f"… {s}", highlight=False))
        assert result.findings_path is not None
        cases = open_cases_from_findings(settings, result.findings_path, result.clusters_path)
        _summary(settings, result, cases)
        _evaluate(result.findings_path, inputs / "labels.jsonl")
        console.print(f"demo pipeline finished in {time.perf_counter() - start:.0f} s", highlight=False)
        if args.serve:
            _serve(settings, _demo_token(settings))
    except StillwatchError as exc:
        console.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
