"""Per-exchange batch function: network, client and indicator enrichment of canonical rows.

:func:`exchange_batch_fn` returns a pure Arrow-batch function, so the very same code runs on
DuckDB (Arrow stream) and Spark (``mapInArrow``) through :meth:`Engine.map_batches`. It never
raises on bad values: unparseable IPs, malformed headers and odd bodies get defined values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from stillwatch.engine import BatchFn
from stillwatch.enrich import client, network
from stillwatch.enrich.templates import text_hash

UNKNOWN = "unknown"
_STR = pa.string()
_LIST = pa.list_(pa.string())

#: Input columns the batch function reads from ``exchanges``.
INPUT_COLUMNS: tuple[str, ...] = (
    "request_id", "ts", "day", "account_id", "api_key_id", "client_ip", "forwarded_for", "tls_ja4",
    "api_format", "user_agent", "anthropic_beta", "stainless", "header_order_hash", "model",
    "system_text", "user_texts", "message_count", "user_turns", "assistant_turns", "tool_names",
    "max_tokens", "thinking_type", "thinking_budget", "metadata_user_id", "response_status",
    "latency_ms", "input_tokens", "output_tokens", "stream",
)  # fmt: skip

_PASS: tuple[tuple[str, pa.DataType], ...] = (
    ("request_id", _STR), ("ts", pa.timestamp("us", tz="UTC")), ("day", pa.date32()),
    ("account_id", _STR), ("api_key_id", _STR), ("model", _STR), ("api_format", _STR),
    ("response_status", pa.int32()), ("latency_ms", pa.float64()), ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()), ("stream", pa.bool_()), ("max_tokens", pa.int64()),
    ("thinking_type", _STR), ("thinking_budget", pa.int64()), ("message_count", pa.int32()),
    ("user_turns", pa.int32()), ("assistant_turns", pa.int32()), ("header_order_hash", _STR),
)  # fmt: skip
_DERIVED: tuple[tuple[str, pa.DataType], ...] = (
    ("client_ip", _STR), ("ip_version", pa.int32()), ("ip_country", _STR), ("ip_asn_name", _STR),
    ("ip_asn_key", _STR), ("ip_kind", _STR), ("ip_prefix", _STR), ("ip_restricted", pa.bool_()),
    ("xff_ip", _STR), ("xff_country", _STR), ("xff_kind", _STR), ("xff_restricted", pa.bool_()),
    ("ja4", _STR), ("ua_family", _STR), ("ua_version", _STR), ("sdk_lang", _STR), ("sdk_version", _STR),
    ("sdk_os", _STR), ("sdk_arch", _STR), ("sdk_runtime_version", _STR), ("beta_set", _STR),
    ("beta_count", pa.int32()), ("md_device_id", _STR), ("md_session_id", _STR), ("sys_hash", _STR),
    ("first_user_hash", _STR), ("last_user_hash", _STR), ("tool_count", pa.int32()), ("tools_hash", _STR),
    ("is_followup", pa.bool_()), ("max_tokens_default", pa.bool_()), ("agent_shaped", pa.bool_()),
    ("relay_indicator_ids", _LIST), ("relay_families", _LIST), ("relay_strong_hit", pa.bool_()),
    ("relay_hit", pa.bool_()),
)  # fmt: skip

#: Schema of ``exchanges_enriched`` (``day`` becomes the partition directory).
ENRICHED_SCHEMA: pa.Schema = pa.schema([pa.field(n, t) for n, t in (*_PASS, *_DERIVED)])

_DEFAULT_MAX_TOKENS = frozenset({4096, 8192})


def _s(value: Any, limit: int = 512) -> str | None:
    """A string field trimmed to ``limit`` (None stays None, non-strings are stringified)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:limit]


_HIT_CACHE: dict[tuple[Any, ...], list[client.Indicator]] = {}
_HIT_CACHE_MAX = 100_000


def _cached_hits(fields: dict[str, Any]) -> list[client.Indicator]:
    """Indicator matches memoised on the fields they read (repeated templates cost nothing)."""
    key = tuple(tuple(v) if isinstance(v, list) else v for v in fields.values())
    hits = _HIT_CACHE.get(key)
    if hits is None:
        if len(_HIT_CACHE) >= _HIT_CACHE_MAX:
            _HIT_CACHE.clear()
        hits = _HIT_CACHE[key] = client.match_indicators(fields)
    return hits


def _enrich_row(row: dict[str, Any], restricted: frozenset[str]) -> dict[str, Any]:
    ip = network.lookup(_s(row.get("client_ip"), 128))
    xff = network.parse_forwarded_for(_s(row.get("forwarded_for"), 2048))
    ua = _s(row.get("user_agent"))
    family, version = client.parse_user_agent(ua)
    sdk = client.parse_stainless(_s(row.get("stainless")))
    beta = _s(row.get("anthropic_beta"), 2048)
    device, session = client.parse_metadata_user_id(_s(row.get("metadata_user_id"), 4096))
    system_text = row.get("system_text") if isinstance(row.get("system_text"), str) else None
    users = [u for u in (row.get("user_texts") or []) if isinstance(u, str)]
    tools = [t for t in (row.get("tool_names") or []) if isinstance(t, str)]
    first_user = users[0] if users else None
    last_user = users[-1] if len(users) > 1 else None
    max_tokens = row.get("max_tokens")
    agent = client.agent_shaped(system_text, tools, row.get("metadata_user_id"))
    fields = {
        "user_agent": ua or None,
        "anthropic_beta": beta,
        "stainless": _s(row.get("stainless")),
        "metadata_user_id": _s(row.get("metadata_user_id"), 4096),
        "system_text": system_text,
        "first_user_text": first_user,
        "user_texts": users,
        "tool_names": tools,
        "max_tokens": max_tokens,
        "thinking_budget": row.get("thinking_budget"),
        "all_text": "\n".join([system_text or "", *users])[:200_000],
        "agent_shaped": agent,
    }
    hits = _cached_hits(fields)
    user_turns = row.get("user_turns") or len(users)
    return {
        "client_ip": ip.ip if ip.version else _s(row.get("client_ip"), 128),
        "ip_version": ip.version,
        "ip_country": ip.country,
        "ip_asn_name": ip.asn_name,
        "ip_asn_key": ip.asn_key,
        "ip_kind": ip.kind,
        "ip_prefix": ip.prefix,
        "ip_restricted": ip.country in restricted,
        "xff_ip": xff.ip if xff else None,
        "xff_country": xff.country if xff else None,
        "xff_kind": xff.kind if xff else None,
        "xff_restricted": bool(xff and xff.country in restricted),
        "ja4": _s(row.get("tls_ja4"), 128) or UNKNOWN,
        "ua_family": family,
        "ua_version": version,
        "sdk_lang": sdk["lang"],
        "sdk_version": sdk["version"],
        "sdk_os": sdk["os"],
        "sdk_arch": sdk["arch"],
        "sdk_runtime_version": sdk["runtime_version"],
        "beta_set": client.beta_set(beta),
        "beta_count": len(client.beta_set(beta).split(",")) if beta and beta.strip(", ") else 0,
        "md_device_id": device,
        "md_session_id": session,
        "sys_hash": text_hash(system_text),
        "first_user_hash": text_hash(first_user),
        "last_user_hash": text_hash(last_user),
        "tool_count": len(tools),
        "tools_hash": hashlib.blake2b("\x1f".join(sorted(tools)).encode(), digest_size=8).hexdigest()
        if tools
        else None,
        "is_followup": bool((row.get("assistant_turns") or 0) > 0 or user_turns > 1),
        "max_tokens_default": max_tokens in _DEFAULT_MAX_TOKENS,
        "agent_shaped": agent,
        "relay_indicator_ids": sorted({h.id for h in hits}),
        "relay_families": sorted({h.family for h in hits}),
        "relay_strong_hit": any(h.strength == "strong" for h in hits),
        "relay_hit": bool(hits),
    }


def exchange_batch_fn(restricted_regions: Sequence[str]) -> BatchFn:
    """Build the per-exchange batch function.

    Args:
        restricted_regions: ``settings.restricted_regions`` (never hard-coded here).

    Returns:
        A function mapping a batch with :data:`INPUT_COLUMNS` to a batch with
        :data:`ENRICHED_SCHEMA`.
    """
    restricted = frozenset(r.upper() for r in restricted_regions)

    def fn(batch: pa.RecordBatch) -> pa.RecordBatch:
        cols = {name: batch.column(name).to_pylist() for name in batch.schema.names}
        n = batch.num_rows
        derived: dict[str, list[Any]] = {name: [] for name, _ in _DERIVED}
        for i in range(n):
            row = {k: v[i] for k, v in cols.items()}
            try:
                out = _enrich_row(row, restricted)
            except Exception:  # noqa: BLE001 - a malformed row never stops the run
                out = _unknown_row()
            for name in derived:
                derived[name].append(out[name])
        arrays = []
        for name, typ in _PASS:
            col = batch.column(name)
            arrays.append(col if col.type == typ else col.cast(typ))
        arrays.extend(pa.array(derived[name], type=typ) for name, typ in _DERIVED)
        return pa.RecordBatch.from_arrays(arrays, schema=ENRICHED_SCHEMA)

    return fn


def _unknown_row() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, typ in _DERIVED:
        if pa.types.is_string(typ):
            out[name] = UNKNOWN
        elif pa.types.is_boolean(typ):
            out[name] = False
        elif pa.types.is_list(typ):
            out[name] = []
        else:
            out[name] = 0
    for name in ("sys_hash", "first_user_hash", "last_user_hash", "tools_hash", "xff_ip", "xff_country", "xff_kind"):
        out[name] = None
    return out
