"""LiteLLM proxy guardrail that asks stillwatch before forwarding a request.

LiteLLM runs in its own virtual environment, so this file imports nothing from stillwatch: it
calls ``POST /api/v1/decide`` over HTTP (httpx, which LiteLLM ships) and maps the answer:

* ``allow`` — the request is forwarded (the decision is added to ``metadata.stillwatch``);
* ``throttle`` — HTTP 429 with ``Retry-After`` = ``ttl_s``;
* ``challenge`` — HTTP 403 (``STILLWATCH_CHALLENGE_STATUS`` to change), ``error.type`` ``challenge``;
* ``block`` — HTTP 403.

If stillwatch does not answer within ``STILLWATCH_DECIDE_TIMEOUT_S`` (default 0.25 s), the request
is forwarded (``STILLWATCH_FAIL_MODE=open``, default) or refused with 503 (``closed``).

Configuration (LiteLLM ``config.yaml``; copy this file next to it)::

    guardrails:
      - guardrail_name: stillwatch
        litellm_params:
          guardrail: litellm_hook.StillwatchGuardrail
          mode: pre_call
          default_on: true
          api_base: http://127.0.0.1:8765      # stillwatch serve (or STILLWATCH_DECIDE_URL)
          api_key: os.environ/STILLWATCH_DECIDE_TOKEN   # optional shared token

The account is the key's organisation or team in LiteLLM (``org_id``, ``team_id``), else the
header named by ``STILLWATCH_ACCOUNT_HEADER`` (only when set: a header is client-controlled, so
use it only behind an authenticating front), else the LiteLLM user id. The key is LiteLLM's hashed
key (never the secret).
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
from fastapi import HTTPException

try:  # pragma: no cover - only inside the LiteLLM environment
    from litellm.integrations.custom_guardrail import CustomGuardrail
except ImportError:  # importable (and unit-testable) without LiteLLM

    class CustomGuardrail:  # type: ignore[no-redef]
        """Stand-in base class when LiteLLM is not installed."""

        def __init__(self, **kwargs: Any) -> None:
            self.guardrail_name = kwargs.get("guardrail_name")


_SKIP_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "proxy-authorization", "api-key"})


def build_payload(user_api_key_dict: Any, data: dict[str, Any], account_header: str | None) -> dict[str, Any]:
    """The ``/api/v1/decide`` request for one LiteLLM request.

    Args:
        user_api_key_dict: LiteLLM's ``UserAPIKeyAuth`` (duck-typed).
        data: The request data LiteLLM passes to pre-call hooks.
        account_header: Header carrying the account id, or ``None``.

    Returns:
        The JSON body for stillwatch.
    """
    psr = data.get("proxy_server_request") or {}
    headers = {str(k).lower(): str(v)[:8192] for k, v in (psr.get("headers") or {}).items()}
    headers = {k: v for k, v in headers.items() if k not in _SKIP_HEADERS}
    meta = data.get("metadata") or data.get("litellm_metadata") or {}
    account = (
        getattr(user_api_key_dict, "org_id", None)
        or getattr(user_api_key_dict, "team_id", None)
        or (headers.get(account_header.lower()) if account_header else None)
        or getattr(user_api_key_dict, "user_id", None)
        or "unknown"
    )
    key = getattr(user_api_key_dict, "api_key", None) or getattr(user_api_key_dict, "token", None) or "unknown"
    body = {k: v for k, v in data.items() if k in ("model", "messages", "system", "tools", "max_tokens",
                                                  "max_completion_tokens", "temperature", "top_p", "stream",
                                                  "thinking", "metadata", "user", "reasoning_effort")}  # fmt: skip
    if isinstance(body.get("metadata"), dict):  # LiteLLM adds its own metadata; keep only the client's user id
        body["metadata"] = {k: v for k, v in body["metadata"].items() if k == "user_id"}
    else:
        body.pop("metadata", None)
    path = str(psr.get("url") or "/v1/chat/completions").split("//", 1)[-1]
    return {
        "account_id": str(account)[:256],
        "api_key_id": str(key)[:256],
        "client_ip": str(meta.get("requester_ip_address") or "")[:128] or None,
        "forwarded_for": headers.get("x-forwarded-for"),
        "headers": headers,
        "body": body,
        "method": str(psr.get("method") or "POST"),
        "path": ("/" + path.split("/", 1)[-1]) if "/" in path else "/v1/chat/completions",
        "request_id": str(data.get("litellm_call_id") or "")[:256] or None,
    }


class StillwatchGuardrail(CustomGuardrail):
    """Pre-call guardrail: one stillwatch decision per request before LiteLLM forwards it.

    Args:
        api_base: stillwatch base URL (default ``$STILLWATCH_DECIDE_URL`` or ``http://127.0.0.1:8765``).
        api_key: Shared token of the decision endpoint (default ``$STILLWATCH_DECIDE_TOKEN``).
        **kwargs: Passed to LiteLLM's ``CustomGuardrail`` (``guardrail_name``, ``event_hook``, ...).
    """

    def __init__(self, api_base: str | None = None, api_key: str | None = None, **kwargs: Any) -> None:
        self.base = (api_base or os.environ.get("STILLWATCH_DECIDE_URL") or "http://127.0.0.1:8765").rstrip("/")
        self.token = api_key or os.environ.get("STILLWATCH_DECIDE_TOKEN")
        self.timeout = float(os.environ.get("STILLWATCH_DECIDE_TIMEOUT_S", "0.25"))
        self.fail_closed = os.environ.get("STILLWATCH_FAIL_MODE", "open") == "closed"
        self.challenge_status = int(os.environ.get("STILLWATCH_CHALLENGE_STATUS", "403"))
        self.account_header = os.environ.get("STILLWATCH_ACCOUNT_HEADER") or None
        self._client: httpx.AsyncClient | None = None
        known = {"guardrail_name", "supported_event_hooks", "event_hook", "default_on", "mask_request_content",
                 "mask_response_content"}  # fmt: skip
        super().__init__(**{k: v for k, v in kwargs.items() if k in known})

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._client = httpx.AsyncClient(base_url=self.base, headers=headers, timeout=self.timeout)
        return self._client

    async def decide(self, user_api_key_dict: Any, data: dict[str, Any]) -> dict[str, Any] | None:
        """stillwatch's decision, or ``None`` when it did not answer in time."""
        payload = build_payload(user_api_key_dict, data, self.account_header)
        try:
            r = await self._http().post("/api/v1/decide", json=payload)
            r.raise_for_status()
            return dict(r.json())
        except (httpx.HTTPError, ValueError):
            return None

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        """LiteLLM pre-call hook: raise to refuse, return ``data`` to forward."""
        t0 = time.perf_counter()
        decision = await self.decide(user_api_key_dict, data)
        if decision is None:
            if self.fail_closed:
                raise HTTPException(status_code=503, detail={"error": "stillwatch decision unavailable"})
            return data
        action = decision.get("action", "allow")
        detail = {
            "error": f"request refused by stillwatch ({action})",
            "type": action,
            "reasons": decision.get("reasons", [])[:5],
            "policy_version": decision.get("policy_version"),
        }
        if action == "block":
            raise HTTPException(status_code=403, detail=detail)
        if action == "challenge":
            raise HTTPException(status_code=self.challenge_status, detail=detail)
        if action == "throttle":
            raise HTTPException(status_code=429, detail=detail, headers={"Retry-After": str(decision.get("ttl_s", 10))})
        meta = data.setdefault("metadata", {})
        if isinstance(meta, dict):
            meta["stillwatch"] = {"action": action, "score": decision.get("score"),
                                  "ms": round((time.perf_counter() - t0) * 1000, 2)}  # fmt: skip
        return data
