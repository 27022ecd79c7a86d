"""A strict validator of provider-logs-v1 (spec sections 1-4 and 6) used by the simulator tests."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Any

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ISO2 = re.compile(r"^[A-Z]{2}$")
LABELS = {"benign", "relay", "subrouting", "subsidiary", "distillation", "ban_evasion", "jailbreak"}
ENTITIES = {"account", "api_key", "exchange", "cluster"}


def _ts(value: Any) -> bool:
    if not isinstance(value, str) or not RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return False
    return True


def exchange_problems(rec: dict[str, Any]) -> list[str]:
    """Problems of one exchanges line (empty when valid)."""
    p: list[str] = []
    if not _ts(rec.get("ts")):
        p.append("ts")
    for key in ("request_id", "account_id", "api_key_id"):
        if not isinstance(rec.get(key), str) or not rec[key]:
            p.append(key)
    if not _ip(rec.get("client_ip")):
        p.append("client_ip")
    if "forwarded_for" in rec and not all(_ip(x.strip()) for x in str(rec["forwarded_for"]).split(",")):
        p.append("forwarded_for")
    if "tls_ja4" in rec and not isinstance(rec["tls_ja4"], str):
        p.append("tls_ja4")
    http = rec.get("http")
    if not isinstance(http, dict) or not isinstance(http.get("method"), str) or not isinstance(http.get("path"), str):
        return [*p, "http"]
    headers = http.get("headers", {})
    if not isinstance(headers, dict) or any(k != k.lower() or not isinstance(v, str) for k, v in headers.items()):
        p.append("http.headers")
    if {"x-api-key", "authorization"} & set(headers):
        p.append("secret header logged")
    order = http.get("header_order")
    if order is not None and (not isinstance(order, list) or set(order) != set(headers)):
        p.append("http.header_order")
    req = rec.get("request")
    if not isinstance(req, dict) or not isinstance(req.get("model"), str) or not isinstance(req.get("messages"), list):
        p.append("request")
    elif http["path"].startswith("/v1/messages"):
        if not isinstance(req.get("max_tokens"), int):
            p.append("request.max_tokens")
        roles = [m.get("role") for m in req["messages"]]
        if not roles or roles[0] != "user" or any(r not in ("user", "assistant") for r in roles):
            p.append("request.messages roles")
    resp = rec.get("response")
    if not isinstance(resp, dict) or not isinstance(resp.get("status"), int) or not 100 <= resp["status"] <= 599:
        return [*p, "response.status"]
    usage = resp.get("usage")
    if usage is not None and not all(
        isinstance(usage.get(k), int) and usage[k] >= 0 for k in ("input_tokens", "output_tokens")
    ):
        p.append("response.usage")
    if "latency_ms" in resp and not isinstance(resp["latency_ms"], (int, float)):
        p.append("response.latency_ms")
    for key in ("stop_reason", "text", "error_type"):
        if key in resp and not isinstance(resp[key], str):
            p.append(f"response.{key}")
    return p


def account_problems(rec: dict[str, Any]) -> list[str]:
    """Problems of one accounts line."""
    p = []
    if not isinstance(rec.get("account_id"), str):
        p.append("account_id")
    if not _ts(rec.get("created_at")):
        p.append("created_at")
    for key in ("declared_country", "billing_country", "phone_country", "parent_country"):
        if key in rec and not (isinstance(rec[key], str) and ISO2.match(rec[key])):
            p.append(key)
    if "signup_ip" in rec and not _ip(rec["signup_ip"]):
        p.append("signup_ip")
    return p


def enforcement_problems(rec: dict[str, Any]) -> list[str]:
    """Problems of one enforcement line."""
    p = []
    if not isinstance(rec.get("account_id"), str):
        p.append("account_id")
    if not _ts(rec.get("ts")):
        p.append("ts")
    if rec.get("action") not in ("warn", "throttle", "suspend", "ban"):
        p.append("action")
    if not isinstance(rec.get("reason"), str):
        p.append("reason")
    return p


def report_problems(rec: dict[str, Any]) -> list[str]:
    """Problems of one reports line."""
    p = []
    for key in ("report_id", "title"):
        if not isinstance(rec.get(key), str):
            p.append(key)
    if not _ts(rec.get("received_at")):
        p.append("received_at")
    if rec.get("source") not in ("bug_bounty", "partner", "public", "internal"):
        p.append("source")
    prompt = rec.get("prompt")
    if not (isinstance(prompt, str) or (isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt))):
        p.append("prompt")
    return p


def label_problems(rec: dict[str, Any]) -> list[str]:
    """Problems of one labels line (spec section 6)."""
    p = []
    if rec.get("entity") not in ENTITIES:
        p.append("entity")
    if not isinstance(rec.get("id"), str):
        p.append("id")
    if rec.get("label") not in LABELS:
        p.append("label")
    if not isinstance(rec.get("group"), str):
        p.append("group")
    if "campaign_id" not in rec:
        p.append("campaign_id")
    if not _ts(rec.get("active_from")):
        p.append("active_from")
    if rec.get("label") == "subrouting" and rec.get("entity") in ("account", "api_key"):
        share = rec.get("restricted_share")
        if not isinstance(share, (int, float)) or not 0 <= share <= 1:
            p.append("restricted_share")
    return p
