"""``stillwatch ingest``: load log files into the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from stillwatch.ingest.pipeline import IngestSummary

console = Console()


def print_summary(summary: IngestSummary) -> None:
    """Print the per-file table and the totals (loaded, quarantined by reason, duplicates)."""
    table = Table(title="ingest", show_lines=False)
    for col in ("file", "format", "table", "status", "loaded", "quarantined", "duplicates"):
        table.add_column(col, overflow="fold")
    for f in summary.files:
        status = f"{f.status}: {f.error}" if f.error else f.status
        table.add_row(escape(f.path), f.format, f.table, escape(status),
                      str(f.loaded), str(f.quarantined), str(f.duplicates))
    console.print(table)
    for note in summary.recovered:
        console.print(f"[yellow]recovered:[/] {escape(note)}", highlight=False)
    console.print(f"loaded {summary.loaded:,} rows, quarantined {summary.quarantined:,}, "
                  f"skipped {summary.duplicates:,} duplicates", highlight=False)
    for reason, n in summary.reasons().most_common():
        console.print(f"  quarantined {n:,} × {escape(reason)}", highlight=False)


def ingest_cmd(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to ingest.")],
    table: Annotated[str | None, typer.Option(help="Force the table: exchanges, accounts, enforcement, reports.")]
    = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Force the format: jsonl, csv, parquet, otel, litellm.")]
    = None,
) -> None:
    """Ingest provider logs (JSONL/.gz, CSV, Parquet, OTel GenAI spans, LiteLLM logs) and records."""
    settings = ctx.obj.settings
    with Progress(TextColumn("[bold]ingest"), BarColumn(), TextColumn("{task.completed:,} items"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("ingest", total=None)
        from stillwatch.ingest.pipeline import ingest  # pyarrow, DuckDB: imported when ingest runs

        summary = ingest(settings, paths, table=table, fmt=fmt, progress=lambda n: bar.advance(task, n))
    print_summary(summary)
    if any(f.status == "failed" for f in summary.files):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ingest command."""
    app.command("ingest")(ingest_cmd)
