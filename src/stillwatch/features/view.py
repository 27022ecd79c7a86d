"""The per-exchange feature view: ``exchanges_enriched`` joined with the ``texts`` features.

Per-text features are looked up by hash for the first user turn (``u_*``) and the system
prompt (``s_*``); the view adds derived per-exchange flags used by every grain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from stillwatch.enrich.text import CAPABILITIES

if TYPE_CHECKING:
    from stillwatch.engine import Engine

_TEXT_COLS = (
    "script", "lang", "has_cot_cue", "template_id", "lsh_band0", "bench_name", "jb_source", "zero_width",
    "cn_mainland_artifact", *(f"cap_{c}" for c in CAPABILITIES),
)  # fmt: skip


def _texts(engine: Engine, prefix: str) -> ir.Table:
    texts = engine.table("texts")
    return texts.select(texts.text_hash.name(f"{prefix}hash_key"), *[texts[c].name(f"{prefix}{c}") for c in _TEXT_COLS])


def utc_literal(until: datetime) -> ir.Scalar:
    """A UTC timestamp literal comparable with ``ts`` on both engines."""
    until = until.replace(tzinfo=UTC) if until.tzinfo is None else until.astimezone(UTC)
    return ibis.literal(until, type="timestamp('UTC')")


def exchange_view(engine: Engine, until: datetime | None = None, days: list[str] | None = None) -> ir.Table:
    """Enriched exchanges with per-text features and derived flags.

    Args:
        engine: The engine.
        until: Keep only exchanges strictly before this instant.
        days: Keep only these UTC days (``YYYY-MM-DD``).

    Returns:
        One row per exchange.
    """
    t = engine.table("exchanges_enriched")
    if days is not None:
        t = t.filter(t.day.cast("string").isin(days))
    if until is not None:
        t = t.filter(t.ts < utc_literal(until))
    if engine.has_table("texts"):
        u = _texts(engine, "u_")
        s = _texts(engine, "s_")
        t = t.left_join(u, t.first_user_hash == u.u_hash_key).drop("u_hash_key")
        t = t.left_join(s, t.sys_hash == s.s_hash_key).drop("s_hash_key")
    else:  # no text at all yet: typed nulls keep the schema identical
        for prefix in ("u_", "s_"):
            t = t.mutate(
                **{
                    f"{prefix}{c}": ibis.null().cast(
                        "boolean" if c.startswith(("has_", "cap_", "zero", "cn_")) else "string"
                    )
                    for c in _TEXT_COLS
                }
            )
    either = {c: (t[f"u_{c}"].fill_null(False) | t[f"s_{c}"].fill_null(False)) for c in ("has_cot_cue",)}
    caps = {f"any_cap_{c}": (t[f"u_cap_{c}"].fill_null(False) | t[f"s_cap_{c}"].fill_null(False)) for c in CAPABILITIES}
    return t.mutate(
        cot=either["has_cot_cue"],
        **caps,
        hour=t.ts.hour().cast("int32"),
        how=(t.ts.day_of_week.index().cast("int32") * 24 + t.ts.hour().cast("int32")),
        minute_ts=t.ts.truncate("m"),
        is_error=(t.response_status.fill_null(0) >= 400),
    )
