"""``stillwatch status``: what the store holds."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stillwatch.store.status import store_status

console = Console()


def status_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show counts of exchanges, accounts and quarantined rows, and the time range."""
    status = store_status(ctx.obj.settings)
    if as_json:
        typer.echo(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(title=f"stillwatch store {escape(status['data_dir'])}", show_header=False)
    for key, value in status.items():
        table.add_row(key, escape(str(value)))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the status command."""
    app.command("status")(status_cmd)
