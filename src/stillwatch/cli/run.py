"""``stillwatch run``: the main job — ingest (optional), enrich, features, link, detect."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

console = Console()


def run_cmd(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders to ingest first (optional).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Analyse only data before this instant (UTC if naive).")]
    = None,
    out: Annotated[Path | None, typer.Option(help="Folder for findings.jsonl and clusters.jsonl.")] = None,
) -> None:
    """Run the whole pipeline on the store and write findings.jsonl and clusters.jsonl."""
    from stillwatch.cli.ingest import print_summary
    from stillwatch.pipeline import run_pipeline

    result = run_pipeline(ctx.obj.settings, paths or [], until=until, out_dir=out,
                          step=lambda s: console.print(f"… {s}", highlight=False))
    if result.ingest is not None:
        print_summary(result.ingest)
    kinds = Counter(f.get("kind") for f in result.findings)
    by_kind = escape(", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())))
    console.print(f"{len(result.findings)} findings ({by_kind}), {len(result.clusters)} clusters → "
                  f"{escape(str(result.findings_path))}", highlight=False)
    console.print("stage seconds: " + ", ".join(f"{k} {v}" for k, v in result.seconds.items()), highlight=False)


def register(app: typer.Typer) -> None:
    """Add the run command."""
    app.command("run")(run_cmd)
