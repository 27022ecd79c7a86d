"""``stillwatch detect`` and ``stillwatch eval``: run the detectors; replay and evaluate them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from stillwatch.exceptions import ConfigError

console = Console(stderr=True)


def _parse_until(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"--until {value!r} is not an ISO date or timestamp", hint="e.g. 2026-02-20T00:00Z") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def detect_cmd(
    ctx: typer.Context,
    until: Annotated[str | None, typer.Option("--until", help="Use only exchanges before this UTC instant.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="findings.jsonl [<data-dir>/findings.jsonl].")] = None,
    clusters: Annotated[Path | None, typer.Option("--clusters", help="clusters.jsonl from `stillwatch link`.")] = None,
    link: Annotated[bool, typer.Option("--link/--no-link", help="Run linking (ban evasion).")] = False,
    jailbreak: Annotated[bool, typer.Option("--jailbreak/--no-jailbreak", help="Run the jailbreak detectors.")] = False,
    window_days: Annotated[int, typer.Option("--window-days", min=1, max=366, help="Trailing window length.")] = 28,
    scan_cache: Annotated[
        bool, typer.Option("--scan-cache/--no-scan-cache", help="Reuse/keep per-day jailbreak scores in the store.")
    ] = False,
) -> None:
    """Run relay, sub-routing, subsidiary and distillation detectors; write the findings."""
    from stillwatch.detect.runner import run_detection
    from stillwatch.engine import get_engine

    settings = ctx.obj.settings
    cache = _scan_cache(settings) if scan_cache else None
    with get_engine(settings) as engine:
        found = run_detection(
            engine,
            settings,
            _parse_until(until),
            out=out,
            clusters=clusters,
            link=link,
            jailbreak=jailbreak,
            window_days=window_days,
            jailbreak_cache=cache,
        )
    by = Counter(f"{f.kind}/{f.entity}" for f in found)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(by.items())) or "none"
    typer.echo(f"{len(found)} findings ({summary}) -> {out or Path(settings.data_dir) / 'findings.jsonl'}")


def eval_cmd(
    ctx: typer.Context,
    labels: Annotated[Path, typer.Option("--labels", exists=True, dir_okay=False, help="labels.jsonl (simulated).")],
    replay: Annotated[str, typer.Option("--replay", help="Replay step: daily, 12h or 6h.")] = "daily",
    until: Annotated[
        str | None, typer.Option("--until", help="Last replay step (UTC); score what was active before it.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the evaluation as JSON here.")] = None,
    findings_out: Annotated[Path | None, typer.Option("--findings", help="Write final findings here.")] = None,
    clusters: Annotated[Path | None, typer.Option("--clusters", help="clusters.jsonl from `stillwatch link`.")] = None,
    link: Annotated[bool, typer.Option("--link/--no-link", help="Run account linking at every step.")] = False,
    jailbreak: Annotated[bool, typer.Option("--jailbreak/--no-jailbreak", help="Run jailbreak detectors.")] = False,
    scan_cache: Annotated[
        bool,
        typer.Option("--scan-cache/--no-scan-cache", help="Keep per-day jailbreak scores in the store for later runs."),
    ] = True,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", dir_okay=False, help="Record completed steps here; a rerun resumes from it."),
    ] = None,
) -> None:
    """Replay detection step by step and print precision, recall, time to detect and false positives.

    With ``--jailbreak`` each whole day's exchange scores are computed once and reused by the
    later steps (in memory, and in ``<data-dir>/cache/jailbreak_scan`` unless ``--no-scan-cache``).
    With ``--checkpoint`` an interrupted replay, run again with the same options, continues from
    the last completed step. With ``--until`` the replay stops there (its steps are the full
    replay's, so either run's checkpoint serves the other) and only accounts and labelled
    exchanges active before it are scored.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from stillwatch.detect.findings import write_jsonl
    from stillwatch.engine import get_engine
    from stillwatch.evaluate import evaluate
    from stillwatch.evaluate.report import print_report, write_json

    settings = ctx.obj.settings
    stop = _parse_until(until)
    with (
        get_engine(settings) as engine,
        Progress(
            TextColumn("[bold]replay[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar,
    ):
        task = bar.add_task("steps", total=None)

        def tick(done: int, total: int, _until: datetime) -> None:
            bar.update(task, completed=done, total=total)

        cache = _scan_cache(settings) if scan_cache else None
        result = evaluate(engine, settings, labels, replay, until=stop, progress=tick, clusters=clusters, link=link,
                          jailbreak=jailbreak, jailbreak_cache=cache, checkpoint=checkpoint)  # fmt: skip
    found = result.pop("_findings")
    print_report(result, Console())
    if json_out:
        write_json(result, json_out)
    if findings_out:
        write_jsonl(found, findings_out)


def _scan_cache(settings: Any) -> Any:
    from stillwatch.detect.jailbreak_cache import ScanCache

    return ScanCache.in_store(settings.data_dir)


def register(app: typer.Typer) -> None:
    """Add the detect and eval commands."""
    app.command("detect")(detect_cmd)
    app.command("eval")(eval_cmd)
