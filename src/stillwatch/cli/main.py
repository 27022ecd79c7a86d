"""The ``stillwatch`` command: root group, shared options, error handling.

Each command group lives in its own module under :mod:`stillwatch.cli` and exposes
``register(app)``; :data:`COMMAND_MODULES` lists them in the order of the pipeline.
User mistakes (any :class:`~stillwatch.exceptions.StillwatchError`) print one clear line with the
next step and exit 2; they never show a traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from stillwatch import __version__
from stillwatch.config import Settings, load_settings
from stillwatch.exceptions import StillwatchError

#: Command-group modules, in pipeline order. Each has ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "stillwatch.cli.ingest",
    "stillwatch.cli.enrich",
    "stillwatch.cli.status",
    "stillwatch.cli.simulate",
    "stillwatch.cli.detect",
    "stillwatch.cli.link",
    "stillwatch.cli.run",
    "stillwatch.cli.cases",
    "stillwatch.cli.serve",
    "stillwatch.cli.export",
    "stillwatch.cli.rules",
)

err_console = Console(stderr=True)

app = typer.Typer(
    name="stillwatch",
    help="See who is really behind your model API traffic.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class State:
    """Options shared by every command, resolved lazily into :class:`Settings`."""

    def __init__(self) -> None:
        self.config: Path | None = None
        self.data_dir: Path | None = None
        self.engine: str | None = None
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The validated settings (raises ConfigError listing every problem)."""
        if self._settings is None:
            self._settings = load_settings(self.config, data_dir=self.data_dir, engine=self.engine)
        return self._settings


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stillwatch {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Store directory [env STILLWATCH_DATA_DIR].")
    ] = None,
    engine: Annotated[str | None, typer.Option("--engine", help="duckdb (default) or spark.")] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """stillwatch: ingest, enrich, detect, link, cases, serve."""
    state = State()
    state.config, state.data_dir, state.engine = config, data_dir, engine
    ctx.obj = state


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI, turning stillwatch errors into one line on stderr and exit code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except StillwatchError as exc:
        err_console.print(f"[bold red]error:[/] {escape(exc.one_line())}", highlight=False, soft_wrap=True)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())
