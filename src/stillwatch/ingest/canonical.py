"""Map one provider-logs-v1 record onto a canonical exchange row, collecting every problem.

Anthropic Messages and OpenAI Chat Completions bodies are read alike. The request body is kept
exactly as received in ``raw_request``; body fields that carry a wrong type give a null canonical
value (the client sent it, the provider saw it) rather than a rejected row. Top-level fields that
break the spec's rules (missing, wrong type, timestamp without offset, unparseable IP) make the
row a quarantine row, with every problem listed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from datetime import UTC, datetime
from typing import Any

import orjson

from stillwatch.schema.exchange import EXCHANGE_SCHEMA_VERSION

_TOP_KNOWN = frozenset(
    {"ts", "request_id", "account_id", "api_key_id", "client_ip", "forwarded_for", "tls_ja4", "http",
     "request", "response"}
)
_HTTP_KNOWN = frozenset({"method", "path", "headers", "header_order"})
_RESPONSE_KNOWN = frozenset({"status", "latency_ms", "usage", "stop_reason", "text", "error_type"})
_BODY_KNOWN = frozenset(
    {"model", "system", "messages", "tools", "max_tokens", "max_completion_tokens", "temperature", "top_p",
     "stream", "thinking", "metadata", "user", "reasoning_effort"}
)
_STAINLESS = ("lang", "package-version", "os", "arch", "runtime", "runtime-version")

MAX_TEXT_CHARS = 1_000_000  # per text field; longer text is cut and the cut is recorded in extra


class RowProblems(list[str]):
    """Problems found in one row, as ``code:detail`` strings."""

    def add(self, code: str, detail: str = "") -> None:
        """Record a problem."""
        self.append(f"{code}:{detail}" if detail else code)


def parse_ts(value: Any, problems: RowProblems, field: str = "ts") -> datetime | None:
    """Parse an RFC 3339 timestamp that carries an offset; return it in UTC."""
    if value is None:
        problems.add("missing_field", field)
        return None
    if not isinstance(value, str):
        problems.add("wrong_type", f"{field} must be an RFC 3339 string")
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        problems.add("bad_timestamp", f"{field}={value[:40]!r}")
        return None
    if parsed.tzinfo is None:
        problems.add("timestamp_without_offset", f"{field}={value[:40]!r}")
        return None
    return parsed.astimezone(UTC)


def normalise_ip(value: Any, problems: RowProblems, field: str = "client_ip") -> str | None:
    """Return the canonical text form of an IPv4/IPv6 address, or record a problem."""
    if value is None:
        problems.add("missing_field", field)
        return None
    if not isinstance(value, str):
        problems.add("wrong_type", f"{field} must be a string")
        return None
    text = value.strip().strip("[]")
    try:  # fast path: the C parser accepts exactly the dotted-quad form, which is already canonical
        socket.inet_pton(socket.AF_INET, text)
        return text
    except OSError:
        pass
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        problems.add("invalid_ip", f"{field}={value[:60]!r}")
        return None


def _req_str(rec: dict[str, Any], key: str, problems: RowProblems, label: str | None = None) -> str | None:
    value = rec.get(key)
    name = label or key
    if value is None or value == "":
        problems.add("missing_field", name)
        return None
    if not isinstance(value, str):
        problems.add("wrong_type", f"{name} must be a string")
        return None
    return value


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty dict (for lenient reads of nested fields)."""
    return value if isinstance(value, dict) else {}


def arr(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, float) and value.is_integer() and -(2.0**63) <= value < 2.0**63:
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _cut(text: str, field: str, cuts: dict[str, int]) -> str:
    if len(text) > MAX_TEXT_CHARS:
        cuts[field] = len(text)
        return text[:MAX_TEXT_CHARS]
    return text


def content_text(content: Any) -> str:
    """Text of a message ``content`` (a string, or a list of Anthropic/OpenAI content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    parts.append(block["text"])
                elif block.get("type") == "tool_result":
                    parts.append(content_text(block.get("content")))
        return "\n".join(p for p in parts if p)
    return ""


def header_order_hash(names: list[str]) -> str:
    """A short stable hash of header names in order (lower-cased)."""
    joined = "\n".join(n.lower() for n in names).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(joined, digest_size=8).hexdigest()


def _body_fields(body: dict[str, Any], path: str, cuts: dict[str, int]) -> dict[str, Any]:
    """Canonical fields from an Anthropic Messages or OpenAI Chat Completions body."""
    messages = arr(body.get("messages"))  # a non-list (e.g. ``1``) is no messages, never an error
    is_openai = "chat/completions" in path or (
        "system" not in body and any(isinstance(m, dict) and m.get("role") == "system" for m in messages)
    )
    system_parts: list[str] = []
    if not is_openai:
        system_parts.append(content_text(body.get("system")))
    user_texts: list[str] = []
    n_user = n_assistant = n_msgs = 0
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        role = msg.get("role")
        if role in ("system", "developer"):
            system_parts.append(content_text(msg.get("content")))
            continue
        n_msgs += 1
        if role == "user":
            n_user += 1
            user_texts.append(_cut(content_text(msg.get("content")), "user_texts", cuts))
        elif role == "assistant":
            n_assistant += 1
    tools = arr(body.get("tools"))
    tool_names: list[str] = []
    for tool in tools:
        if isinstance(tool, dict):
            name = tool.get("name")
            if name is None and isinstance(tool.get("function"), dict):
                name = tool["function"].get("name")
            if isinstance(name, str):
                tool_names.append(name)
    thinking = obj(body.get("thinking"))
    thinking_type = _opt_str(thinking.get("type")) or _opt_str(body.get("reasoning_effort"))
    metadata = obj(body.get("metadata"))
    user_id = metadata.get("user_id", body.get("user"))
    if user_id is not None and not isinstance(user_id, str):
        user_id = orjson.dumps(user_id).decode()
    max_tokens = _int(body.get("max_tokens"))
    if max_tokens is None:
        max_tokens = _int(body.get("max_completion_tokens"))
    system_text = "\n".join(p for p in system_parts if p)
    return {
        "api_format": "openai" if is_openai else "anthropic",
        "model": _opt_str(body.get("model")),
        "system_text": _cut(system_text, "system_text", cuts) if system_text else None,
        "user_texts": user_texts,
        "message_count": n_msgs,
        "user_turns": n_user,
        "assistant_turns": n_assistant,
        "tool_names": tool_names,
        "max_tokens": max_tokens,
        "temperature": _float(body.get("temperature")),
        "top_p": _float(body.get("top_p")),
        "stream": body.get("stream") if isinstance(body.get("stream"), bool) else None,
        "thinking_type": thinking_type,
        "thinking_budget": _int(thinking.get("budget_tokens")),
        "metadata_user_id": user_id,
    }


def to_canonical(rec: Any) -> tuple[dict[str, Any] | None, RowProblems]:
    """Map a provider-logs-v1 exchange record onto a canonical row.

    Args:
        rec: The parsed JSON object of one line.

    Returns:
        ``(row, problems)``: ``row`` is None when any rule is broken (the row goes to quarantine
        with every problem listed). ``raw_request``, ``source_*`` are filled in by the caller.
    """
    problems = RowProblems()
    if not isinstance(rec, dict):
        problems.add("not_an_object", type(rec).__name__)
        return None, problems
    ts = parse_ts(rec.get("ts"), problems)
    request_id = _req_str(rec, "request_id", problems)
    account_id = _req_str(rec, "account_id", problems)
    api_key_id = _req_str(rec, "api_key_id", problems)
    client_ip = normalise_ip(rec.get("client_ip"), problems)
    http = rec.get("http")
    if not isinstance(http, dict):
        problems.add("missing_field" if http is None else "wrong_type", "http")
        http = {}
    method = _req_str(http, "method", problems, "http.method")
    path = _req_str(http, "path", problems, "http.path")
    body = rec.get("request")
    if not isinstance(body, dict):
        problems.add("missing_field" if body is None else "wrong_type", "request")
        body = {}
    response = rec.get("response")
    if not isinstance(response, dict):
        problems.add("missing_field" if response is None else "wrong_type", "response")
        response = {}
    status = response.get("status")
    if status is None:
        problems.add("missing_field", "response.status")
    elif _int(status) is None or not 100 <= int(status) <= 599:
        problems.add("wrong_type", "response.status must be an HTTP status integer")
    headers_raw = http.get("headers")
    if headers_raw is not None and not isinstance(headers_raw, dict):
        problems.add("wrong_type", "http.headers must be an object")
    if problems:
        return None, problems

    headers = {str(k).lower(): v for k, v in (headers_raw or {}).items() if isinstance(v, str)}
    order = http.get("header_order")
    if isinstance(order, list) and all(isinstance(n, str) for n in order):
        names = [n.lower() for n in order]
    else:
        names = sorted(headers)
    stainless_parts = [headers.get(f"x-stainless-{k}") for k in _STAINLESS]
    stainless = "|".join(p or "" for p in stainless_parts) if any(stainless_parts) else None
    usage = obj(response.get("usage"))
    cuts: dict[str, int] = {}
    body_fields = _body_fields(body, path or "", cuts)
    reply = response.get("text")
    reply_text = _cut(reply, "response_text", cuts) if isinstance(reply, str) else None
    extra: dict[str, Any] = {k: v for k, v in rec.items() if k not in _TOP_KNOWN}
    extra.update({f"http.{k}": v for k, v in http.items() if k not in _HTTP_KNOWN})
    extra.update({f"response.{k}": v for k, v in response.items() if k not in _RESPONSE_KNOWN})
    extra.update({f"request.{k}": v for k, v in body.items() if k not in _BODY_KNOWN})
    if cuts:
        extra["_truncated_chars"] = cuts
    row: dict[str, Any] = {
        "request_id": request_id,
        "ts": ts,
        "day": ts.date() if ts else None,
        "account_id": account_id,
        "api_key_id": api_key_id,
        "client_ip": client_ip,
        "forwarded_for": _opt_str(rec.get("forwarded_for")),
        "tls_ja4": _opt_str(rec.get("tls_ja4")),
        "http_method": method,
        "http_path": path,
        "user_agent": headers.get("user-agent"),
        "anthropic_beta": headers.get("anthropic-beta"),
        "anthropic_version": headers.get("anthropic-version"),
        "stainless": stainless,
        "header_names": names,
        "header_order_hash": header_order_hash(names) if names else None,
        **body_fields,
        "response_status": _int(status),
        "latency_ms": _float(response.get("latency_ms")),
        "input_tokens": _int(usage.get("input_tokens")),
        "output_tokens": _int(usage.get("output_tokens")),
        "stop_reason": _opt_str(response.get("stop_reason")),
        "error_type": _opt_str(response.get("error_type")),
        "response_text": reply_text,
        "extra": orjson.dumps(extra, default=str).decode() if extra else None,
        "schema_version": EXCHANGE_SCHEMA_VERSION,
    }
    return row, problems


def utc_now() -> datetime:
    """Current UTC time (one place, so tests can patch it)."""
    return datetime.now(UTC)
