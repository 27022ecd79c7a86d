"""``stillwatch simulate``: write simulated provider logs with ground-truth labels."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stillwatch.exceptions import ConfigError

console = Console(stderr=True)


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--start {value!r} is not a date", hint="use YYYY-MM-DD") from None


def _parse_shares(values: list[str] | None) -> dict[str, float]:
    """``NAME=WEIGHT`` options as a dict (names and weights are checked by the simulator).

    Raises:
        ConfigError: a value is not ``NAME=<number>``.
    """
    out: dict[str, float] = {}
    for value in values or []:
        name, _sep, weight = value.partition("=")
        try:
            out[name.strip()] = float(weight)
        except ValueError:
            raise ConfigError(
                f"--share {value!r} is not NAME=WEIGHT", hint="e.g. --share enterprise_gateway=0.2"
            ) from None
    return out


def simulate_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed; fully determines the output.")] = 1,
    scale: Annotated[
        str, typer.Option("--scale", help="demo, small, medium, large, or a number of exchanges.")
    ] = "demo",
    corpora: Annotated[
        Path | None, typer.Option("--corpora", help="Full corpora folder (read at run time); default: packed copy.")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="First UTC day, YYYY-MM-DD.")] = None,
    days: Annotated[int | None, typer.Option("--days", help="Window length in days.")] = None,
    population: Annotated[
        list[str] | None, typer.Option("--population", help="Simulate only these populations (repeatable).")
    ] = None,
    share: Annotated[
        list[str] | None,
        typer.Option(
            "--share",
            help="NAME=WEIGHT: this population's weight of the exchange budget instead of its default share "
            "(repeatable; weights are normalised).",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Rendering processes (default: up to 2); output is the same.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Simulate provider logs (exchanges, accounts, enforcement, reports) with ground-truth labels."""
    from stillwatch.simulate import simulate

    settings = ctx.obj.settings
    first_day = _parse_date(start)
    shares = _parse_shares(share)
    with Progress(
        TextColumn("[bold]simulate[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    ) as progress:
        task = progress.add_task("exchanges", total=None)

        def tick(done: int, expected: int) -> None:
            progress.update(task, completed=done, total=max(done, expected))

        summary = simulate(
            out,
            seed=seed,
            scale=scale,
            corpora=corpora,
            start=first_day,
            days=days,
            populations=population,
            shares=shares,
            restricted_regions=settings.restricted_regions,
            progress=tick,
            workers=workers if workers is not None else min(2, os.cpu_count() or 1),
        )
    table = Table(
        title=f"simulated {summary.exchanges:,} exchanges in {summary.seconds:.1f} s "
        f"({summary.rate:,.0f}/s) -> {summary.out_dir}",
        show_header=True,
    )
    table.add_column("group")
    table.add_column("exchanges", justify="right")
    for group, n in summary.by_group.items():
        table.add_row(group, f"{n:,}")
    table.add_row(
        "[bold]accounts / labels / enforcement / reports[/]",
        f"{summary.accounts:,} / {summary.labels:,} / {summary.enforcement:,} / {summary.reports:,}",
    )
    if not quiet:
        console.print(table)
    typer.echo(f"wrote {summary.exchanges} exchanges to {summary.out_dir}")


def register(app: typer.Typer) -> None:
    """Add the simulate command."""
    app.command("simulate")(simulate_cmd)
