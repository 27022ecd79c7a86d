"""One simulated exchange: the planned request (:class:`Req`) and its rendering to provider-logs-v1.

Actors plan light :class:`Req` objects per day; the writer renders them lazily, in time order,
so memory stays bounded by one day of plans.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from stillwatch.simulate.clients import Client

#: (user text, reply text or None, user tokens, reply tokens)
Turn = tuple[str, str | None, int, int]


@dataclass(slots=True)
class Req:
    """A planned request.

    Attributes:
        ts: Arrival time, epoch milliseconds.
        account_id: Customer organisation.
        key_id: API key id.
        ip: TCP peer address.
        client: Client stack (headers, path, dialect).
        model: Requested model.
        turns: The conversation so far; the last turn's user text is the new message.
        system: System prompt text, if any.
        max_tokens: ``max_tokens`` sent, or None to omit (OpenAI dialect).
        temperature: Sampling temperature, or None.
        stream: Streaming flag.
        tools: Tool names offered, or None.
        thinking: Thinking budget tokens, or None.
        user_id: ``metadata.user_id`` (Anthropic) / ``user`` (OpenAI), or None.
        xff: ``X-Forwarded-For`` value, or None.
        extra_headers: Per-request headers added after the client's static ones.
        status: HTTP status to log.
        transform: A relay family's rewrite of (req, body, headers), applied at render time.
        exchange_label: ``(label, group, campaign_id)`` when this exchange is labelled on its own.
        keep_text: Whether the provider keeps ``response.text`` for this exchange.
    """

    ts: int
    account_id: str
    key_id: str
    ip: str
    client: Client
    model: str
    turns: list[Turn]
    system: str | None = None
    max_tokens: int | None = 1024
    temperature: float | None = None
    stream: bool = False
    tools: list[str] | None = None
    thinking: int | None = None
    user_id: str | None = None
    xff: str | None = None
    extra_headers: dict[str, str] | None = None
    status: int = 200
    transform: Callable[[Req, dict[str, Any], dict[str, str]], tuple[dict[str, Any], dict[str, str]]] | None = None
    exchange_label: tuple[str, str, str | None] | None = None
    keep_text: bool = True
    meta: dict[str, Any] | None = None


_FRAGMENTS: dict[int, tuple[Client, orjson.Fragment, orjson.Fragment]] = {}


def _static_headers(client: Client) -> tuple[orjson.Fragment, orjson.Fragment]:
    """Pre-serialised headers and header order of a client's static header set."""
    hit = _FRAGMENTS.get(id(client))
    if hit is None or hit[0] is not client:
        hit = (
            client,
            orjson.Fragment(orjson.dumps(client.headers)),
            orjson.Fragment(orjson.dumps(list(client.headers))),
        )
        _FRAGMENTS[id(client)] = hit
    return hit[1], hit[2]


ERRORS = {429: "rate_limit_error", 529: "overloaded_error", 500: "api_error", 400: "invalid_request_error"}


_MINUTES: dict[int, str] = {}


def iso_ms(ts: int) -> str:
    """RFC 3339 UTC timestamp with milliseconds and ``Z``."""
    minute, rest = divmod(ts, 60_000)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        if len(_MINUTES) > 200_000:
            _MINUTES.clear()
        prefix = _MINUTES[minute] = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
    sec, ms = divmod(rest, 1000)
    return f"{prefix}{sec:02d}.{ms:03d}Z"


def _tool_defs(names: list[str]) -> list[dict[str, Any]]:
    return [{"name": n, "input_schema": {"type": "object", "properties": {}}} for n in names]


def build_body(req: Req) -> dict[str, Any]:
    """The request body in the client's dialect."""
    msgs: list[dict[str, Any]] = []
    for i, (user, reply, _ut, _rt) in enumerate(req.turns):
        msgs.append({"role": "user", "content": user})
        if i < len(req.turns) - 1:
            msgs.append({"role": "assistant", "content": reply or "..."})
    trace = req.meta.get("trace") if req.meta else None
    if trace and req.client.fmt != "openai":
        for tool_id, name, tool_input, result in trace:
            msgs.append(
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}],
                }
            )
            msgs.append(
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": result}]}
            )
    body: dict[str, Any] = {"model": req.model}
    if req.client.fmt == "openai":
        if req.system:
            msgs.insert(0, {"role": "system", "content": req.system})
        body["messages"] = msgs
        if req.max_tokens is not None:
            body["max_tokens"] = req.max_tokens
        if req.user_id:
            body["user"] = req.user_id
    else:
        body["max_tokens"] = req.max_tokens or 4096
        if req.system:
            body["system"] = req.system
        body["messages"] = msgs
        if req.user_id:
            body["metadata"] = {"user_id": req.user_id}
        if req.thinking:
            body["thinking"] = {"type": "enabled", "budget_tokens": req.thinking}
    if req.tools:
        body["tools"] = _tool_defs(req.tools)
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.stream:
        body["stream"] = True
    return body


def render(req: Req, rng: random.Random, request_id: str | None) -> dict[str, Any]:
    """Render a planned request and its response as a provider-logs-v1 exchange.

    With ``request_id=None`` the id is left out (the writer prepends it in output order).
    """
    body = build_body(req)
    headers = req.client.headers
    if req.extra_headers:
        headers = {**headers, **req.extra_headers}
    if req.transform is not None:
        body, headers = req.transform(req, body, headers)
    in_tok = sum(t[2] + t[3] for t in req.turns) - req.turns[-1][3] + (len(req.system) // 4 if req.system else 0) + 8
    if req.tools:
        in_tok += 60 * len(req.tools)
    if req.meta and "trace" in req.meta:
        in_tok += sum(len(step[3]) // 4 + 20 for step in req.meta["trace"])
    last = req.turns[-1]
    out: dict[str, Any] = {} if request_id is None else {"request_id": request_id}
    out.update(
        {
            "ts": iso_ms(req.ts),
            "account_id": req.account_id,
            "api_key_id": req.key_id,
            "client_ip": req.ip,
        }
    )
    if req.xff:
        out["forwarded_for"] = req.xff
    out["tls_ja4"] = req.client.ja4 if "_ja4" not in body else body.pop("_ja4")
    path = body.pop("_path", req.client.path)
    if headers is req.client.headers:
        frag_h, frag_o = _static_headers(req.client)
        out["http"] = {"method": "POST", "path": path, "headers": frag_h, "header_order": frag_o}
    else:
        out["http"] = {"method": "POST", "path": path, "headers": headers, "header_order": list(headers)}
    out["request"] = body
    if req.status != 200:
        out["response"] = {
            "status": req.status,
            "latency_ms": round(rng.uniform(40, 900), 1),
            "error_type": ERRORS.get(req.status, "api_error"),
        }
        return out
    max_out = int(body.get("max_tokens") or 4096)
    out_tok = last[3] if last[1] is not None else int(rng.lognormvariate(5.5, 0.9)) + 5
    stop = "end_turn"
    if out_tok > max_out:
        out_tok, stop = max_out, "max_tokens"
    elif req.tools and rng.random() < 0.45:
        stop = "tool_use"
    latency = 300 + out_tok * rng.uniform(9, 22) + in_tok * 0.02
    resp: dict[str, Any] = {
        "status": 200,
        "latency_ms": round(latency, 1),
        "usage": {"input_tokens": in_tok, "output_tokens": out_tok},
        "stop_reason": stop,
    }
    if req.keep_text and last[1] is not None:
        text = last[1]
        if stop == "max_tokens":
            text = text[: max_out * 4]
        resp["text"] = text
    out["response"] = resp
    return out
