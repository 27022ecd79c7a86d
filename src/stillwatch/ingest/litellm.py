"""LiteLLM proxy logs → provider-logs-v1 records.

Accepts ``StandardLoggingPayload`` objects (what LiteLLM's logging callbacks receive as
``kwargs["standard_logging_object"]``) and ``SpendLogs`` rows (the proxy's spend-log table), one
JSON object per line or a JSON array. The account is the team (or organisation) of the key; the key
is the hashed key LiteLLM logs; the client IP is ``requester_ip_address``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from stillwatch.ingest.canonical import obj
from stillwatch.ingest.readers import RawItem, open_maybe_gzip, read_jsonl

_OPENAI_CALLS = {"completion", "acompletion", "text_completion", "atext_completion"}


def _ts(value: Any) -> Any:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC).isoformat()
    return value


def _reply_text(response: Any) -> str | None:
    if isinstance(response, dict):
        choices = response.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            msg = choices[0].get("message") or {}
            if isinstance(msg, dict) and isinstance(msg.get("content"), str):
                return str(msg["content"])
        content = response.get("content")
        if isinstance(content, list):
            return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return None


def _finish(response: Any) -> Any:
    if isinstance(response, dict):
        choices = response.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            return choices[0].get("finish_reason")
        return response.get("stop_reason")
    return None


def payload_to_record(p: dict[str, Any]) -> dict[str, Any]:
    """Map a StandardLoggingPayload or a SpendLogs row onto a provider-logs-v1 exchange record."""
    meta = obj(p.get("metadata"))
    messages = p.get("messages")
    if isinstance(messages, str):
        try:
            messages = orjson.loads(messages)
        except orjson.JSONDecodeError:
            messages = [{"role": "user", "content": messages}]
    params = obj(p.get("model_parameters"))
    proxy_req = obj(p.get("proxy_server_request"))
    body: dict[str, Any] = {"model": p.get("model_group") or p.get("model"), "messages": messages or []}
    body.update({k: v for k, v in params.items() if k in ("max_tokens", "temperature", "top_p", "stream", "tools",
                                                          "user", "metadata", "thinking")})
    if isinstance(proxy_req.get("body"), dict):
        body = {**proxy_req["body"], **{k: v for k, v in body.items() if v}}
    end_user = p.get("end_user") or meta.get("user_api_key_end_user_id")
    if end_user and "user" not in body:
        body["user"] = end_user
    call_type = str(p.get("call_type") or "")
    path = "/v1/messages" if "anthropic" in call_type else "/v1/chat/completions"
    headers: dict[str, Any] = {}
    user_agent = p.get("user_agent") or meta.get("user_agent")
    if user_agent:
        headers["user-agent"] = user_agent
    if isinstance(proxy_req.get("headers"), dict):
        headers.update({str(k).lower(): v for k, v in proxy_req["headers"].items()
                        if str(k).lower() not in ("authorization", "x-api-key")})
    status = p.get("status")
    error_info = obj(p.get("error_information"))
    if status in (None, "success"):
        code = 200
    else:
        try:
            code = int(error_info.get("error_code") or 500)
        except (TypeError, ValueError):
            code = 500
    response = p.get("response")
    if isinstance(response, str):
        try:
            response = orjson.loads(response)
        except orjson.JSONDecodeError:
            response = {"choices": [{"message": {"content": response}}]}
    start, end = p.get("startTime"), p.get("endTime")
    latency = None
    if isinstance(start, int | float) and isinstance(end, int | float):
        latency = (end - start) * 1000.0
    elif p.get("request_duration_ms") is not None:
        latency = p.get("request_duration_ms")
    return {
        "ts": _ts(start),
        "request_id": p.get("id") or p.get("request_id") or p.get("litellm_call_id"),
        "account_id": meta.get("user_api_key_team_id") or p.get("team_id") or meta.get("user_api_key_org_id")
        or p.get("organization_id") or meta.get("user_api_key_user_id") or p.get("user"),
        "api_key_id": meta.get("user_api_key_hash") or p.get("api_key"),
        "client_ip": p.get("requester_ip_address") or meta.get("requester_ip_address"),
        "http": {"method": "POST", "path": path, "headers": headers},
        "request": body,
        "response": {
            "status": code,
            "latency_ms": latency,
            "usage": {"input_tokens": p.get("prompt_tokens"), "output_tokens": p.get("completion_tokens")},
            "stop_reason": _finish(response),
            "text": _reply_text(response),
            "error_type": error_info.get("error_class") if error_info else None,
        },
        "litellm": {"call_type": call_type or None, "api_base": p.get("api_base"),
                    "custom_llm_provider": p.get("custom_llm_provider"), "response_cost":
                    p.get("response_cost", p.get("spend")), "session_id": p.get("session_id")},
    }


def read_litellm(path: Path, max_line_bytes: int) -> Iterator[RawItem]:
    """Read LiteLLM payloads: JSON Lines, or one JSON array of payloads."""
    with open_maybe_gzip(path) as fh:
        head = fh.read(64).lstrip()
    if head.startswith(b"["):
        with open_maybe_gzip(path) as fh:
            data = fh.read()
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            yield RawItem(1, data[:65536], error=f"invalid_json:{exc}", raw_truncated=len(data) > 65536)
            return
        for number, obj in enumerate(items if isinstance(items, list) else [], start=1):
            raw = orjson.dumps(obj)
            if isinstance(obj, dict):
                yield RawItem(number, raw, obj=payload_to_record(obj))
            else:
                yield RawItem(number, raw, error="not_an_object")
        return
    for item in read_jsonl(path, max_line_bytes):
        if item.error is None:
            item.obj = payload_to_record(item.obj) if isinstance(item.obj, dict) else item.obj
        yield item
