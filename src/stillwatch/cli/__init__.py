"""Command-line interface (Typer). One module per command group; see :mod:`stillwatch.cli.main`."""
