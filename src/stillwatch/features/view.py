"""The per-exchange feature view: ``exchanges_enriched`` joined with the ``texts`` features.

Per-text features are looked up by hash for the first user turn (``u_*``) and the system
prompt (``s_*``); the view adds derived per-exchange flags used by every grain.

The features stage asks for the *narrow* view (:data:`FEATURE_COLUMNS` only, the text look-ups
reduced to the columns the aggregates read); detectors get the full view by default.
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
    "cn_mainland_artifact", "depth", *(f"cap_{c}" for c in CAPABILITIES),
)  # fmt: skip
_FLAG_COLS = ("has_cot_cue", "zero_width", "cn_mainland_artifact", *(f"cap_{c}" for c in CAPABILITIES))
#: Per-text columns of the first user turn the feature tables read (narrow view).
_NARROW_U = ("script", "lang", "template_id", "bench_name", "jb_source", "depth", *_FLAG_COLS)
#: Per-text columns of the system prompt the feature tables read (narrow view).
_NARROW_S = _FLAG_COLS

#: ``exchanges_enriched`` columns the feature tables read (narrow view).
BASE_COLUMNS: tuple[str, ...] = (
    "ts", "day", "account_id", "api_key_id", "model", "response_status", "latency_ms", "input_tokens",
    "output_tokens", "stream", "max_tokens", "header_order_hash", "client_ip", "ip_country", "ip_asn_name",
    "ip_asn_key", "ip_kind", "ip_prefix", "ip_restricted", "xff_ip", "xff_restricted", "ja4", "ua_family",
    "md_device_id", "md_session_id", "sys_hash", "first_user_hash", "is_followup", "max_tokens_default",
    "agent_shaped", "relay_families", "relay_strong_hit", "relay_hit",
)  # fmt: skip


def _bool_or_str(col: str) -> str:
    return "boolean" if col.startswith(("has_", "cap_", "zero", "cn_")) else "string"


def _texts(engine: Engine, prefix: str, cols: tuple[str, ...]) -> ir.Table:
    texts = engine.table("texts")

    def col(c: str) -> ir.Value:  # a store enriched before ``depth`` existed: every text is deep
        return texts[c] if c in texts.columns else ibis.null().cast(_bool_or_str(c))

    return texts.select(texts.text_hash.name(f"{prefix}hash_key"), *[col(c).name(f"{prefix}{c}") for c in cols])


def utc_literal(until: datetime) -> ir.Scalar:
    """A UTC timestamp literal comparable with ``ts`` on both engines."""
    until = until.replace(tzinfo=UTC) if until.tzinfo is None else until.astimezone(UTC)
    return ibis.literal(until, type="timestamp('UTC')")


def exchange_view(
    engine: Engine, until: datetime | None = None, days: list[str] | None = None, *, narrow: bool = False
) -> ir.Table:
    """Enriched exchanges with per-text features and derived flags.

    Args:
        engine: The engine.
        until: Keep only exchanges strictly before this instant.
        days: Keep only these UTC days (``YYYY-MM-DD``).
        narrow: Keep only the columns the feature tables read (:data:`BASE_COLUMNS`, the text
            look-ups they use and the derived flags); the default keeps every column.

    Returns:
        One row per exchange. Derived columns: ``cot``, ``any_cap_<tag>``, ``any_zero_width``,
        ``any_cn_mainland_artifact`` (system prompt or first user turn; null counts as false),
        ``u_deep`` (the first user turn, if any, has the expensive text features: it was not
        sampled out, see ``text_sample_rate``), ``hour``, ``how`` (hour of week), ``minute_ts``
        and ``is_error``.
    """
    t = engine.table("exchanges_enriched")
    if days is not None:
        t = t.filter(t.day.cast("string").isin(days))
    if until is not None:
        t = t.filter(t.ts < utc_literal(until))
    u_cols, s_cols = (_NARROW_U, _NARROW_S) if narrow else (_TEXT_COLS, _TEXT_COLS)
    if narrow:
        t = t.select(*BASE_COLUMNS)
    if engine.has_table("texts"):
        u = _texts(engine, "u_", u_cols)
        s = _texts(engine, "s_", s_cols)
        t = t.left_join(u, t.first_user_hash == u.u_hash_key).drop("u_hash_key")
        t = t.left_join(s, t.sys_hash == s.s_hash_key).drop("s_hash_key")
    else:  # no text at all yet: typed nulls keep the schema identical
        nulls = {f"u_{c}": ibis.null().cast(_bool_or_str(c)) for c in u_cols}
        nulls.update({f"s_{c}": ibis.null().cast(_bool_or_str(c)) for c in s_cols})
        t = t.mutate(**nulls)

    def either(col: str) -> ir.BooleanValue:
        return t[f"u_{col}"].fill_null(False) | t[f"s_{col}"].fill_null(False)

    out = t.mutate(
        cot=either("has_cot_cue"),
        **{f"any_cap_{c}": either(f"cap_{c}") for c in CAPABILITIES},
        any_zero_width=either("zero_width"),
        any_cn_mainland_artifact=either("cn_mainland_artifact"),
        u_deep=t.u_depth.isnull() | (t.u_depth != "light"),
        hour=t.ts.hour().cast("int32"),
        how=(t.ts.day_of_week.index().cast("int32") * 24 + t.ts.hour().cast("int32")),
        minute_ts=t.ts.truncate("m"),
        is_error=(t.response_status.fill_null(0) >= 400),
    )
    if narrow:  # the flags are folded into the derived columns above
        out = out.drop(*[f"{p}{c}" for p in ("u_", "s_") for c in _FLAG_COLS])
    return out
