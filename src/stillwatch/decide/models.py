"""Request and response models of the decision service (pydantic).

The per-request input is what a gateway has at request time; the body may be the request body as
received or a short summary of it (``summary``), so a gateway need not ship whole conversations.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["allow", "throttle", "challenge", "block"]


class BodySummary(BaseModel):
    """What the screen needs from a request body, for gateways that do not send the body."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    system_text: str | None = None
    user_texts: list[str] = Field(default_factory=list)
    tool_names: list[str] = Field(default_factory=list)
    max_tokens: int | None = None
    thinking_budget: int | None = None
    metadata_user_id: str | None = None
    message_count: int | None = None


class DecideRequest(BaseModel):
    """One request as the gateway sees it.

    Attributes:
        account_id: The customer organisation (required).
        api_key_id: The key id, never the secret (required).
        client_ip: TCP peer as seen by the gateway.
        forwarded_for: ``X-Forwarded-For`` as received.
        tls_ja4: JA4 fingerprint of the TLS ClientHello.
        headers: Request headers (lower-case names; secrets removed).
        header_order: Header names in the order received.
        body: The request body as received (Anthropic Messages or OpenAI Chat Completions).
        summary: A summary of the body instead of (or on top of) ``body``.
        ts: Gateway time (RFC 3339); the service uses its own clock and reports skew.
        request_id: The gateway's request id (echoed in the decision log).
        method: HTTP method. path: HTTP path.
    """

    model_config = ConfigDict(extra="ignore")

    account_id: str = Field(min_length=1, max_length=256)
    api_key_id: str = Field(min_length=1, max_length=256)
    client_ip: str | None = Field(default=None, max_length=128)
    forwarded_for: str | None = Field(default=None, max_length=4096)
    tls_ja4: str | None = Field(default=None, max_length=256)
    headers: dict[str, Any] = Field(default_factory=dict)
    header_order: list[str] | None = None
    body: dict[str, Any] | None = None
    summary: BodySummary | None = None
    ts: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=256)
    method: str = Field(default="POST", max_length=16)
    path: str = Field(default="/v1/messages", max_length=2048)


class DecideResponse(BaseModel):
    """The decision.

    Attributes:
        action: ``allow``, ``throttle``, ``challenge`` or ``block`` (``allow`` in monitor mode).
        score: Risk in [0, 1].
        reasons: Why, readable; in monitor mode the first reason says what would have happened.
        ttl_s: Seconds the gateway may cache this answer for the same account and key.
        policy_version: Version of the policy that decided.
        would_action: The action before monitor mode (equal to ``action`` in enforce mode).
        mode: ``enforce`` or ``monitor``.
        degraded: Parts that were unavailable (``online_state``, ``snapshot``, ``input``).
        decision_id: Id of this decision (the request id when given).
    """

    action: Action
    score: float
    reasons: list[str]
    ttl_s: int
    policy_version: str
    would_action: Action
    mode: str = "enforce"
    degraded: list[str] = Field(default_factory=list)
    decision_id: str = ""


class SignupRequest(BaseModel):
    """A new account (sign-up) or a new key on an account (key creation).

    Fields follow the provider-logs-v1 ``accounts`` table; missing ones are fine.
    """

    model_config = ConfigDict(extra="ignore")

    account_id: str = Field(min_length=1, max_length=256)
    event: Literal["signup", "key_creation"] = "signup"
    api_key_id: str | None = Field(default=None, max_length=256)
    created_at: str | None = Field(default=None, max_length=64)
    org_name: str | None = Field(default=None, max_length=512)
    email_domain: str | None = Field(default=None, max_length=256)
    email_local: str | None = Field(default=None, max_length=256)
    declared_country: str | None = Field(default=None, max_length=8)
    billing_country: str | None = Field(default=None, max_length=8)
    payment_fingerprint: str | None = Field(default=None, max_length=256)
    phone_country: str | None = Field(default=None, max_length=8)
    signup_ip: str | None = Field(default=None, max_length=128)
    plan: str | None = Field(default=None, max_length=64)
    parent_org: str | None = Field(default=None, max_length=512)
    parent_country: str | None = Field(default=None, max_length=8)


class SignupMatchOut(BaseModel):
    """One enforced account or cluster the new record resembles."""

    enforced_account: str
    matched_account: str
    cluster_id: str | None
    score: float
    bits: float
    reasons: list[str]


class SignupResponse(BaseModel):
    """The sign-up / key-creation decision; ``matches`` name what it resembles and why."""

    action: Action
    score: float
    reasons: list[str]
    ttl_s: int
    policy_version: str
    would_action: Action
    mode: str = "enforce"
    matches: list[SignupMatchOut] = Field(default_factory=list)
    degraded: list[str] = Field(default_factory=list)
