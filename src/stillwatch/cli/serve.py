"""``stillwatch serve``: the API, the decision service and the console, with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def serve_cmd(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to bind [settings serve.host, default 127.0.0.1]; 0.0.0.0 exposes it to the network."
        ),
    ] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port [settings serve.port].")] = None,
) -> None:
    """Serve the REST API (/api/v1, docs at /docs); migrates the case store first."""
    import uvicorn

    from stillwatch.server import full_app

    settings = ctx.obj.settings
    app = full_app(settings)
    bind_host = host or settings.serve.host
    bind_port = port or settings.serve.port
    typer.echo(f"stillwatch API on http://{bind_host}:{bind_port}/docs", err=True)
    typer.echo(f"stillwatch console on http://{bind_host}:{bind_port}/console/ (log in with an API token)", err=True)
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="info", proxy_headers=False)


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command."""
    app.command("serve")(serve_cmd)
