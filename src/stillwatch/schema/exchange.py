"""The canonical exchange: one typed row per request and its response.

Every input format (provider-logs-v1 JSONL/Parquet/CSV, OpenTelemetry GenAI spans, LiteLLM spend
logs) maps onto this one table. Anthropic Messages and OpenAI Chat Completions bodies are read
alike. The raw request is kept for evidence (compressed by Parquet's zstd column compression);
fields the schema does not know go to ``extra`` (a JSON object as text) so nothing in the input is
lost.

Bump :data:`EXCHANGE_SCHEMA_VERSION` on any change of columns or meaning.

Versions:
    1: ``raw_request`` held each request zstd-compressed on its own.
    2: ``raw_request`` holds the bytes as received; the Parquet column is zstd-compressed as a
       whole (about half the size of version 1 and a third of its compression CPU). Read it
       with :func:`raw_request_bytes`, which understands both.
"""

from __future__ import annotations

import pyarrow as pa

EXCHANGE_SCHEMA_VERSION = 2

_STR = pa.string()
_LIST_STR = pa.list_(pa.string())

#: (name, type, description) of every canonical column, in order.
EXCHANGE_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("request_id", _STR, "unique per exchange; the key for de-duplication"),
    ("ts", pa.timestamp("us", tz="UTC"), "arrival time at the gateway, UTC"),
    ("day", pa.date32(), "UTC day of ts; the partition key"),
    ("account_id", _STR, "customer organisation"),
    ("api_key_id", _STR, "key used (never the secret)"),
    ("client_ip", _STR, "TCP peer as seen by the gateway, normalised text form"),
    ("forwarded_for", _STR, "X-Forwarded-For as received"),
    ("tls_ja4", _STR, "JA4 fingerprint of the TLS ClientHello"),
    ("http_method", _STR, "HTTP method"),
    ("http_path", _STR, "HTTP path (query string kept)"),
    ("api_format", _STR, "anthropic | openai | other: the body dialect"),
    ("user_agent", _STR, "User-Agent header"),
    ("anthropic_beta", _STR, "anthropic-beta header, as received"),
    ("anthropic_version", _STR, "anthropic-version header"),
    ("stainless", _STR, "x-stainless-* tuple: lang|package-version|os|arch|runtime|runtime-version"),
    ("header_names", _LIST_STR, "header names in arrival order (or sorted if order unknown)"),
    ("header_order_hash", _STR, "16-hex hash of the ordered header names"),
    ("model", _STR, "requested model"),
    ("system_text", _STR, "system prompt text (all system blocks joined)"),
    ("user_texts", _LIST_STR, "text of every user turn, in order"),
    ("message_count", pa.int32(), "number of messages (system excluded)"),
    ("user_turns", pa.int32(), "number of user messages"),
    ("assistant_turns", pa.int32(), "number of assistant messages"),
    ("tool_names", _LIST_STR, "names of the tools offered"),
    ("max_tokens", pa.int64(), "max_tokens / max_completion_tokens"),
    ("temperature", pa.float64(), "sampling temperature"),
    ("top_p", pa.float64(), "nucleus sampling parameter"),
    ("stream", pa.bool_(), "streaming requested"),
    ("thinking_type", _STR, "thinking.type (enabled/disabled/adaptive) or reasoning_effort"),
    ("thinking_budget", pa.int64(), "thinking.budget_tokens"),
    ("metadata_user_id", _STR, "metadata.user_id (Anthropic) or user (OpenAI)"),
    ("response_status", pa.int32(), "HTTP status"),
    ("latency_ms", pa.float64(), "time to last byte"),
    ("input_tokens", pa.int64(), "billed input tokens"),
    ("output_tokens", pa.int64(), "billed output tokens"),
    ("stop_reason", _STR, "stop/finish reason"),
    ("error_type", _STR, "error type, if any"),
    ("response_text", _STR, "the model's reply text, where kept"),
    ("raw_request", pa.binary(), "JSON of the original record as received (v1: zstd-compressed per row)"),
    ("extra", _STR, "JSON object of fields the schema does not know"),
    ("source_format", _STR, "reader that produced the row"),
    ("source_file", _STR, "file the row came from"),
    ("source_line", pa.int64(), "1-based line (or row) number in that file"),
    ("schema_version", pa.int16(), "canonical schema version"),
)

EXCHANGE_SCHEMA: pa.Schema = pa.schema([pa.field(n, t) for n, t, _ in EXCHANGE_COLUMNS])
EXCHANGE_COLUMN_DOCS: dict[str, str] = {n: d for n, _, d in EXCHANGE_COLUMNS}
REQUIRED_COLUMNS: frozenset[str] = frozenset(
    {"request_id", "ts", "account_id", "api_key_id", "client_ip", "http_method", "http_path", "response_status"}
)


def raw_request_bytes(value: bytes | None, schema_version: int) -> bytes | None:
    """The original record of one exchange from its stored ``raw_request``, for any schema version.

    Args:
        value: The stored ``raw_request`` (``None`` when raw requests were not kept).
        schema_version: The row's ``schema_version``.

    Returns:
        The record's bytes as received, or ``None``.
    """
    if value is None:
        return None
    if schema_version <= 1:
        import zstandard  # only rows written by schema version 1 need it

        return zstandard.ZstdDecompressor().decompress(value)
    return value
