"""OpenTelemetry GenAI spans (OTLP/JSON) → provider-logs-v1 records.

Reads an ``ExportTraceServiceRequest`` document (``{"resourceSpans": [...]}``), either one JSON
document per file or one per line, and maps each span carrying ``gen_ai.*`` attributes (semantic
conventions for generative-AI client/server spans) onto the provider-logs-v1 exchange shape, so
the ordinary canonical mapping and validation apply. Account and key come from the attributes a
gateway sets (``account.id``/``enduser.id``, ``api_key.id``); without them the span is
quarantined with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from stillwatch.ingest.readers import RAW_KEEP_BYTES, RawItem, iter_lines, open_maybe_gzip, parse_json_line

ACCOUNT_KEYS = ("account.id", "gen_ai.account.id", "enduser.id", "user.id")
KEY_KEYS = ("api_key.id", "gen_ai.api_key.id", "enduser.api_key.id")
IP_KEYS = ("client.address", "http.client_ip", "net.peer.ip", "source.address")


def any_value(value: Any) -> Any:
    """Decode an OTLP/JSON ``AnyValue``."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return None
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items: Any) -> dict[str, Any]:
    """Decode an OTLP attribute list into a dict."""
    out: dict[str, Any] = {}
    if isinstance(items, list):
        for kv in items:
            if isinstance(kv, dict) and isinstance(kv.get("key"), str):
                out[kv["key"]] = any_value(kv.get("value"))
    return out


def _json_attr(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


def _messages(value: Any) -> list[dict[str, Any]]:
    """``gen_ai.input.messages`` (role + parts) → Messages-style list."""
    out = []
    for msg in _json_attr(value) or []:
        if not isinstance(msg, dict):
            continue
        parts = msg.get("parts")
        if isinstance(parts, list):
            texts = [str(p.get("content", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text"]
            text = "\n".join(texts)
        else:
            text = msg.get("content", "")
        out.append({"role": msg.get("role", "user"), "content": text})
    return out


def _nanos_to_rfc3339(value: Any) -> str | None:
    try:
        nanos = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(nanos / 1e9, tz=UTC).isoformat()


def _first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if attrs.get(key) not in (None, ""):
            return attrs[key]
    return None


def span_to_record(span: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """Map one GenAI span onto a provider-logs-v1 exchange record."""
    attrs = {**resource, **attributes(span.get("attributes"))}
    provider = str(attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system") or "")
    path = attrs.get("url.path") or attrs.get("http.route") or (
        "/v1/messages" if provider == "anthropic" else "/v1/chat/completions"
    )
    headers = {k[len("http.request.header."):]: (v[0] if isinstance(v, list) and v else v)
               for k, v in attrs.items() if k.startswith("http.request.header.")}
    if attrs.get("user_agent.original"):
        headers.setdefault("user-agent", attrs["user_agent.original"])
    messages = _messages(attrs.get("gen_ai.input.messages"))
    system = _json_attr(attrs.get("gen_ai.system_instructions"))
    if isinstance(system, list):
        system = "\n".join(str(p.get("content", "")) for p in system if isinstance(p, dict))
    body: dict[str, Any] = {"model": attrs.get("gen_ai.request.model"), "messages": messages}
    if system:
        if provider == "anthropic":
            body["system"] = system
        else:
            body["messages"] = [{"role": "system", "content": system}, *messages]
    for src, dst in (("gen_ai.request.max_tokens", "max_tokens"), ("gen_ai.request.temperature", "temperature"),
                     ("gen_ai.request.top_p", "top_p"), ("gen_ai.request.stream", "stream")):
        if attrs.get(src) is not None:
            body[dst] = attrs[src]
    tools = _json_attr(attrs.get("gen_ai.tool.definitions"))
    if isinstance(tools, list):
        body["tools"] = tools
    finish = attrs.get("gen_ai.response.finish_reasons")
    output = _messages(attrs.get("gen_ai.output.messages"))
    status_code = attrs.get("http.response.status_code")
    if status_code is None:
        status_code = 500 if (span.get("status") or {}).get("code") in (2, "STATUS_CODE_ERROR") else 200
    start, end = span.get("startTimeUnixNano"), span.get("endTimeUnixNano")
    latency = None
    try:
        latency = (int(str(end)) - int(str(start))) / 1e6
    except (TypeError, ValueError):
        pass
    request_id = attrs.get("gen_ai.response.id") or (
        f"{span.get('traceId', '')}{span.get('spanId', '')}" or None
    )
    return {
        "ts": _nanos_to_rfc3339(start),
        "request_id": request_id,
        "account_id": _first(attrs, ACCOUNT_KEYS),
        "api_key_id": _first(attrs, KEY_KEYS),
        "client_ip": _first(attrs, IP_KEYS),
        "forwarded_for": headers.get("x-forwarded-for"),
        "tls_ja4": attrs.get("tls.client.ja4"),
        "http": {"method": attrs.get("http.request.method", "POST"), "path": path, "headers": headers},
        "request": body,
        "response": {
            "status": status_code,
            "latency_ms": latency,
            "usage": {"input_tokens": attrs.get("gen_ai.usage.input_tokens"),
                      "output_tokens": attrs.get("gen_ai.usage.output_tokens")},
            "stop_reason": finish[0] if isinstance(finish, list) and finish else finish,
            "text": "\n".join(m["content"] for m in output) if output else None,
            "error_type": attrs.get("error.type"),
        },
        "otel": {"trace_id": span.get("traceId"), "span_id": span.get("spanId"), "name": span.get("name"),
                 "operation": attrs.get("gen_ai.operation.name"), "provider": provider or None},
    }


def _spans(doc: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    if not isinstance(doc, dict):
        return
    for rs in doc.get("resourceSpans") or []:
        if not isinstance(rs, dict):
            continue
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            for span in (ss or {}).get("spans") or []:
                if isinstance(span, dict):
                    yield span, resource


NOT_OTLP = "not an OTLP/JSON trace export (no resourceSpans list)"


def _is_export(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("resourceSpans"), list)


def read_otel(path: Path, max_line_bytes: int) -> Iterator[RawItem]:
    """Read OTLP/JSON trace exports; each GenAI span becomes one item (numbered in file order)."""
    with open_maybe_gzip(path) as fh:
        data = fh.read(max_line_bytes + 1)
    docs: list[Any]
    number = 0
    try:
        docs = [orjson.loads(data)] if len(data) <= max_line_bytes else []
    except orjson.JSONDecodeError:
        docs = []
    if docs and not _is_export(docs[0]):
        yield RawItem(1, data[:RAW_KEEP_BYTES], error=f"not_otlp:{NOT_OTLP}", raw_truncated=len(data) > RAW_KEEP_BYTES)
        return
    if not docs:  # one document per line
        with open_maybe_gzip(path) as fh:
            for item in iter_lines(fh, max_line_bytes):
                if item.error is None and not item.raw.strip():
                    continue
                parse_json_line(item)
                if item.error is None and not _is_export(item.obj):
                    item.error = f"not_otlp:{NOT_OTLP}"
                if item.error is not None:
                    yield item
                    continue
                docs.append(item.obj)
    for doc in docs:
        for span, resource in _spans(doc):
            number += 1
            attrs = attributes(span.get("attributes"))
            if not any(k.startswith("gen_ai.") for k in attrs):
                continue  # not a GenAI span (HTTP server span, DB span...): not an exchange
            yield RawItem(number, orjson.dumps(span), obj=span_to_record(span, resource))
