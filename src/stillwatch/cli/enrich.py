"""``stillwatch enrich`` and ``stillwatch features``: build the enriched and feature tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from stillwatch.exceptions import ConfigError


def _parse_until(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"--until {value!r} is not an ISO date or timestamp", hint="e.g. 2026-01-31T00:00Z") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


UntilOpt = Annotated[str | None, typer.Option("--until", help="Ignore data at or after this UTC instant.")]
FullOpt = Annotated[bool, typer.Option("--full", help="Recompute every day, not only changed ones.")]


def enrich_cmd(ctx: typer.Context, until: UntilOpt = None, full: FullOpt = False) -> None:
    """Enrich exchanges: network, client fingerprint, relay indicators, per-text features."""
    from stillwatch.engine import get_engine
    from stillwatch.enrich.pipeline import enrich

    settings = ctx.obj.settings
    with get_engine(settings) as engine:
        result = enrich(engine, settings, _parse_until(until), full=full)
    typer.echo(
        f"enriched {result.exchanges} exchanges over {len(result.days)} day(s), "
        f"{result.new_texts} new distinct texts, {result.seconds:.1f}s"
    )


def features_cmd(
    ctx: typer.Context,
    until: UntilOpt = None,
    full: FullOpt = False,
    window_days: Annotated[int, typer.Option("--window-days", min=1, max=366, help="account_window length.")] = 28,
) -> None:
    """Build feature tables: key_day, account_day, egress_day, account_window and profiles."""
    from stillwatch.engine import get_engine
    from stillwatch.features.pipeline import build_features

    settings = ctx.obj.settings
    with get_engine(settings) as engine:
        result = build_features(engine, settings, _parse_until(until), window_days=window_days, full=full)
    typer.echo(
        f"features: {len(result.days)} day(s) recomputed, {result.accounts} accounts in window "
        f"{result.window_start} .. {result.window_end}, {result.seconds:.1f}s"
    )


def register(app: typer.Typer) -> None:
    """Add the enrich and features commands."""
    app.command("enrich")(enrich_cmd)
    app.command("features")(features_cmd)
