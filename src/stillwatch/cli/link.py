"""``stillwatch link``: link accounts into clusters, write clusters.jsonl and findings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer

from stillwatch.exceptions import ConfigError


def _parse_until(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--until {value!r} is not an RFC 3339 time", hint="e.g. 2026-02-10T00:00:00Z") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def link_cmd(
    ctx: typer.Context,
    until: Annotated[str | None, typer.Option("--until", help="Use only data before this time (RFC 3339).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write clusters.jsonl here.")] = None,
    findings: Annotated[
        Path | None, typer.Option("--findings", help="Write cluster and ban-evasion findings (JSON Lines) here.")
    ] = None,
) -> None:
    """Link accounts (records + behaviour) into clusters; write the links and clusters tables."""
    from stillwatch.engine import get_engine
    from stillwatch.link import ban_evasion_findings, cluster_findings, clusters_jsonl, link_accounts

    settings = ctx.obj.settings
    with get_engine(settings) as engine:
        result = link_accounts(engine, settings, until=_parse_until(until))
    n_clusters = len(result.clusters_members())
    if out is not None:
        clusters_jsonl(result, out)
    found = cluster_findings(result) + ban_evasion_findings(result)
    if findings is not None:
        with open(findings, "wb") as fh:
            for f in found:
                fh.write(orjson.dumps(f, default=str) + b"\n")
    typer.echo(
        f"linked {len(result.accounts):,} accounts: {len(result.record_edges):,} record and "
        f"{len(result.behaviour_edges):,} behavioural links, {n_clusters:,} clusters, {len(found):,} findings"
        + (f"; clusters written to {out}" if out else "")
    )


def register(app: typer.Typer) -> None:
    """Add the link command."""
    app.command("link")(link_cmd)
