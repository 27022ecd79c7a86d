"""Per-exchange batch function: network, client and indicator enrichment of canonical rows.

The batch function works column-wise (once per distinct value); :func:`enrich_row` is the
one-row reference it must agree with.

:func:`exchange_batch_fn` returns a pure Arrow-batch function, so the very same code runs on
DuckDB (Arrow stream) and Spark (``mapInArrow``) through :meth:`Engine.map_batches`. It never
raises on bad values: unparseable IPs, malformed headers and odd bodies get defined values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stillwatch.engine import BatchFn
from stillwatch.enrich import client, network
from stillwatch.enrich.batchmatch import FieldValues, match_batch, summarise
from stillwatch.enrich.listcols import Turns, as_array, as_strings, contains_each
from stillwatch.enrich.templates import text_hash

UNKNOWN = "unknown"
#: Version of the per-exchange derivation; a change re-enriches every day of a store once.
#: 2: a relay-moved system prompt in user turn 1 is not the conversation (first_user_hash, …).
ENRICH_VERSION = "2"
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


def enrich_row(row: dict[str, Any], restricted: frozenset[str]) -> dict[str, Any]:
    """Derived fields of one exchange (the reference semantics of :func:`exchange_batch_fn`).

    Args:
        row: One row of :data:`INPUT_COLUMNS` as Python values.
        restricted: Restricted region codes, upper case.

    Returns:
        Every :data:`_DERIVED` field.
    """
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
    moved = client.moved_system_turn(users)  # a relay moved the system prompt into turn 1
    conversation = users[1:] if moved else users
    last_user = conversation[-1] if len(conversation) > 1 else None
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
    hits = client.match_indicators(fields)
    user_turns = (row.get("user_turns") or len(users)) - moved
    assistant_turns = (row.get("assistant_turns") or 0) - moved  # and its synthetic acknowledgement
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
        "first_user_hash": text_hash(conversation[0] if conversation else None),
        "last_user_hash": text_hash(last_user),
        "tool_count": len(tools),
        "tools_hash": hashlib.blake2b("\x1f".join(sorted(tools)).encode(), digest_size=8).hexdigest()
        if tools
        else None,
        "is_followup": bool(assistant_turns > 0 or user_turns > 1),
        "max_tokens_default": max_tokens in _DEFAULT_MAX_TOKENS,
        "agent_shaped": agent,
        "relay_indicator_ids": sorted({h.id for h in hits}),
        "relay_families": sorted({h.family for h in hits}),
        "relay_strong_hit": any(h.strength == "strong" for h in hits),
        "relay_hit": bool(hits),
    }


def exchange_batch_fn(restricted_regions: Sequence[str]) -> BatchFn:
    """Build the per-exchange batch function.

    Column-wise: every field derived from one input column (IP, forwarded-for, user agent,
    SDK tuple, beta set, metadata id, system prompt, …) is computed once per distinct value in
    the batch and spread to the rows with Arrow ``take``; relay indicators are matched with
    :func:`stillwatch.enrich.batchmatch.match_batch`. The rows equal :func:`enrich_row` applied
    row by row (a test asserts it).

    Args:
        restricted_regions: ``settings.restricted_regions`` (never hard-coded here).

    Returns:
        A function mapping a batch with :data:`INPUT_COLUMNS` to a batch with
        :data:`ENRICHED_SCHEMA`.
    """
    restricted = frozenset(r.upper() for r in restricted_regions)
    client.load_indicators()  # loaded now, so forked batch workers share them
    network.lookup("1.1.1.1")  # loads the offline IP database

    def fn(batch: pa.RecordBatch) -> pa.RecordBatch:
        try:
            derived = _derive(batch, restricted)
        except Exception:  # noqa: BLE001 - defensive: fall back to row by row, never stop the run
            derived = _derive_rowwise(batch, restricted)
        arrays = []
        for name, typ in _PASS:
            col = batch.column(name)
            arrays.append(col if col.type == typ else col.cast(typ))
        arrays.extend(derived[name] for name, _ in _DERIVED)
        return pa.RecordBatch.from_arrays(arrays, schema=ENRICHED_SCHEMA)

    return fn


def _encode(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[Any]]:
    """Dictionary-encode a column: per-row codes and the distinct values (None included)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_null(col.type):
        return np.zeros(len(col), dtype=np.int64), [None]
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    enc = pc.dictionary_encode(col, null_encoding="encode")
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary.to_pylist()


def _spread(codes: np.ndarray, values: list[Any], typ: pa.DataType) -> pa.Array:
    return pa.array(values, type=typ).take(codes)


def _ints(col: pa.Array | pa.ChunkedArray, n: int) -> np.ndarray:
    """An integer column as int64 with nulls as 0."""
    arr = as_array(col)
    if pa.types.is_null(arr.type):
        return np.zeros(n, np.int64)
    return np.asarray(pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _strings(values: list[Any] | None) -> list[str]:
    """The string items of a list column value (nulls dropped)."""
    if not values:
        return []
    if None not in values:  # the usual case: a string list column without null items
        return values
    return [v for v in values if isinstance(v, str)]


class _Interner:
    """Row values to codes into a list of distinct values (for values built in Python)."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.values: list[Any] = []

    def code(self, value: Any) -> int:
        k = self.index.get(value)
        if k is None:
            k = self.index[value] = len(self.values)
            self.values.append(value)
        return k


def _derive(batch: pa.RecordBatch, restricted: frozenset[str]) -> dict[str, pa.Array]:
    """Every derived column of :data:`_DERIVED` for one batch (column-wise)."""
    n = batch.num_rows
    out: dict[str, pa.Array] = {}
    col = batch.column

    codes, vals = _encode(col("client_ip"))
    ips = [network.lookup(_s(v, 128)) for v in vals]
    out["client_ip"] = _spread(codes, [i.ip if i.version else _s(v, 128) for i, v in zip(ips, vals, strict=True)], _STR)
    for name, attr, typ in (
        ("ip_version", "version", pa.int32()), ("ip_country", "country", _STR), ("ip_asn_name", "asn_name", _STR),
        ("ip_asn_key", "asn_key", _STR), ("ip_kind", "kind", _STR), ("ip_prefix", "prefix", _STR),
    ):  # fmt: skip
        out[name] = _spread(codes, [getattr(i, attr) for i in ips], typ)
    out["ip_restricted"] = _spread(codes, [i.country in restricted for i in ips], pa.bool_())

    codes, vals = _encode(col("forwarded_for"))
    xffs = [network.parse_forwarded_for(_s(v, 2048)) for v in vals]
    out["xff_ip"] = _spread(codes, [x.ip if x else None for x in xffs], _STR)
    out["xff_country"] = _spread(codes, [x.country if x else None for x in xffs], _STR)
    out["xff_kind"] = _spread(codes, [x.kind if x else None for x in xffs], _STR)
    out["xff_restricted"] = _spread(codes, [bool(x and x.country in restricted) for x in xffs], pa.bool_())

    codes, vals = _encode(col("tls_ja4"))
    out["ja4"] = _spread(codes, [_s(v, 128) or UNKNOWN for v in vals], _STR)

    ua_codes, vals = _encode(col("user_agent"))
    ua_trim = [_s(v) for v in vals]
    parsed = [client.parse_user_agent(v) for v in ua_trim]
    out["ua_family"] = _spread(ua_codes, [p[0] for p in parsed], _STR)
    out["ua_version"] = _spread(ua_codes, [p[1] for p in parsed], _STR)

    st_codes, vals = _encode(col("stainless"))
    st_trim = [_s(v) for v in vals]
    sdks = [client.parse_stainless(v) for v in st_trim]
    for name, key in (("sdk_lang", "lang"), ("sdk_version", "version"), ("sdk_os", "os"), ("sdk_arch", "arch"),
                      ("sdk_runtime_version", "runtime_version")):  # fmt: skip
        out[name] = _spread(st_codes, [d[key] for d in sdks], _STR)

    beta_codes, vals = _encode(col("anthropic_beta"))
    betas = [_s(v, 2048) for v in vals]
    out["beta_set"] = _spread(beta_codes, [client.beta_set(b) for b in betas], _STR)
    counts = [len(client.beta_set(b).split(",")) if b and b.strip(", ") else 0 for b in betas]
    out["beta_count"] = _spread(beta_codes, counts, pa.int32())

    md_codes, vals = _encode(col("metadata_user_id"))
    md_trim = [_s(v, 4096) for v in vals]
    ids = [client.parse_metadata_user_id(v) for v in md_trim]
    out["md_device_id"] = _spread(md_codes, [d for d, _ in ids], _STR)
    out["md_session_id"] = _spread(md_codes, [s for _, s in ids], _STR)
    md_agent = np.array([client.agent_shaped(None, None, v) for v in vals], dtype=bool)[md_codes]

    sys_codes, sys_vals = _encode(col("system_text"))
    sys_vals = [v if isinstance(v, str) else None for v in sys_vals]
    out["sys_hash"] = _spread(sys_codes, [text_hash(v) for v in sys_vals], _STR)
    sys_agent = np.array([client.agent_shaped(v, None, None) for v in sys_vals], dtype=bool)[sys_codes]

    turns = Turns.of(col("user_texts"), client.moved_system_prefixes())
    first_codes, first_vals = _encode(turns.first)
    if turns.moved.any():
        open_codes, open_vals = _encode(turns.opening)
        out["first_user_hash"] = _spread(open_codes, [text_hash(v) for v in open_vals], _STR)
    else:
        out["first_user_hash"] = _spread(first_codes, [text_hash(v) for v in first_vals], _STR)
    last_codes, last_vals = _encode(turns.last)
    out["last_user_hash"] = _spread(last_codes, [text_hash(v) for v in last_vals], _STR)
    # a relay-moved system prompt is one synthetic user turn and one synthetic assistant reply
    assistant = _ints(col("assistant_turns"), n) - turns.moved
    declared = _ints(col("user_turns"), n)
    user_turns = np.where(declared != 0, declared, turns.count) - turns.moved
    out["is_followup"] = pa.array((assistant > 0) | (user_turns > 1))

    tools_i = _Interner()
    tool_codes = np.fromiter((tools_i.code(tuple(_strings(t))) for t in col("tool_names").to_pylist()), np.int64, n)
    out["tool_count"] = _spread(tool_codes, [len(t) for t in tools_i.values], pa.int32())
    tools_hashes = [
        hashlib.blake2b("\x1f".join(sorted(t)).encode(), digest_size=8).hexdigest() if t else None
        for t in tools_i.values
    ]
    out["tools_hash"] = _spread(tool_codes, tools_hashes, _STR)
    tool_agent = np.array([client.agent_shaped(None, list(t), None) for t in tools_i.values], dtype=bool)[tool_codes]

    mt_codes, mt_vals = _encode(col("max_tokens"))
    out["max_tokens_default"] = _spread(mt_codes, [v in _DEFAULT_MAX_TOKENS for v in mt_vals], pa.bool_())
    agent = sys_agent | tool_agent | md_agent
    out["agent_shaped"] = pa.array(agent, type=pa.bool_())

    tb_codes, tb_vals = _encode(col("thinking_budget"))
    users_arr = as_array(col("user_texts"))
    users_memo: dict[int, list[str]] = {}

    def users_row(i: int) -> list[str]:  # built only for the rows a row-level condition reaches
        got = users_memo.get(i)
        if got is None:
            got = users_memo[i] = _strings(users_arr[i].as_py())
        return got

    def all_text(i: int) -> str:
        return "\n".join([sys_vals[sys_codes[i]] or "", *users_row(i)])[:200_000]

    sys_arr = as_strings(col("system_text"))

    def all_text_may_contain(chars: str) -> np.ndarray:
        out = np.ones(n, dtype=bool)
        for ch in set(chars):
            out &= contains_each(sys_arr, ch) | turns.any_contains(ch)
        return out

    fields = {
        "user_agent": FieldValues(ua_codes, [v or None for v in ua_trim]),
        "anthropic_beta": FieldValues(beta_codes, betas),
        "stainless": FieldValues(st_codes, st_trim),
        "metadata_user_id": FieldValues(md_codes, md_trim),
        "system_text": FieldValues(sys_codes, sys_vals),
        "first_user_text": FieldValues(first_codes, first_vals),
        "user_texts": FieldValues(row=users_row, any_equals=turns.any_equals, may_contain=turns.any_contains),
        "tool_names": FieldValues(tool_codes, [list(t) for t in tools_i.values]),
        "max_tokens": FieldValues(mt_codes, mt_vals),
        "thinking_budget": FieldValues(tb_codes, tb_vals),
        "all_text": FieldValues(row=all_text, may_contain=all_text_may_contain),
        "agent_shaped": FieldValues(agent.astype(np.int64), [False, True]),
    }
    ind_ids, families, strong, hit = summarise(match_batch(fields, n))
    out["relay_indicator_ids"] = pa.array(ind_ids, type=_LIST)
    out["relay_families"] = pa.array(families, type=_LIST)
    out["relay_strong_hit"] = pa.array(strong, type=pa.bool_())
    out["relay_hit"] = pa.array(hit, type=pa.bool_())
    return out


def _derive_rowwise(batch: pa.RecordBatch, restricted: frozenset[str]) -> dict[str, pa.Array]:
    """:func:`enrich_row` on every row; a row that fails gets defined ``unknown`` values."""
    cols = {name: batch.column(name).to_pylist() for name in batch.schema.names}
    values: dict[str, list[Any]] = {name: [] for name, _ in _DERIVED}
    for i in range(batch.num_rows):
        try:
            row = enrich_row({k: v[i] for k, v in cols.items()}, restricted)
        except Exception:  # noqa: BLE001 - a malformed row never stops the run
            row = _unknown_row()
        for name in values:
            values[name].append(row[name])
    return {name: pa.array(values[name], type=typ) for name, typ in _DERIVED}


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
