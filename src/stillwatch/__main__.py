"""``python -m stillwatch`` runs the CLI."""

from stillwatch.cli.main import entrypoint

entrypoint()
