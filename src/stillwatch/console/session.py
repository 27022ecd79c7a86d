"""Console sessions: a signed, HttpOnly, SameSite=Strict cookie obtained by exchanging an API token.

The case store has users and API tokens but no passwords, so the console logs in by *token
exchange*: the analyst pastes their bearer token (``stillwatch cases users token NAME``) once and
gets a session cookie. The cookie holds only the user id, the id of the token used, a CSRF secret
and the login time, signed with itsdangerous (HMAC-SHA1 over the serialized payload) and limited to
:data:`MAX_AGE_SECONDS`. Every request re-reads the user and the token from the case store, so
revoking the token, deactivating the user or changing their role takes effect on the next click.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from stillwatch.cases.auth import hash_token
from stillwatch.cases.db import Store
from stillwatch.cases.models import ApiToken, User
from stillwatch.security.permissions import Actor

COOKIE = "sw_console"
LOGIN_COOKIE = "sw_console_login"
COOKIE_PATH = "/console"
MAX_AGE_SECONDS = 8 * 3600
_SALT = "stillwatch.console.session.v1"


@dataclass(frozen=True)
class ConsoleSession:
    """A verified session.

    Attributes:
        actor: The user as the case store knows them now (role re-read on every request).
        csrf: The per-session CSRF secret echoed in every form.
        token_id: The API token the session was exchanged for.
    """

    actor: Actor
    csrf: str
    token_id: int


def secret_key(app_state: Any) -> str:
    """The signing key: ``serve.secret_key`` from settings, else a random key for this process.

    Without a configured key, sessions end when the server restarts (safe default).
    """
    key = getattr(app_state, "console_secret", None)
    if key is None:
        settings = getattr(app_state, "settings", None)
        configured = getattr(getattr(settings, "serve", None), "secret_key", None)
        key = configured or secrets.token_urlsafe(32)
        app_state.console_secret = key
    return str(key)


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(request.app.state), salt=_SALT)


def exchange_token(store: Store, token: str) -> tuple[User, ApiToken] | None:
    """The user and token row for a clear API token, or ``None`` if unknown, revoked or inactive."""
    token = (token or "").strip()
    if not token.startswith("sw_") or len(token) > 200:
        return None
    with store.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        if row is None or row.revoked_at is not None or not row.user.active:
            return None
        return row.user, row


def cookie_path(request: Request) -> str:
    """The cookie path: the console under the app's ``root_path``."""
    return str(request.scope.get("root_path") or "").rstrip("/") + COOKIE_PATH


def set_session(request: Request, response: Response, user_id: int, token_id: int) -> str:
    """Sign a new session into the response cookie; returns its CSRF secret."""
    csrf = secrets.token_urlsafe(32)
    value = _serializer(request).dumps({"u": user_id, "t": token_id, "c": csrf})
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE_SECONDS,
        path=cookie_path(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return csrf


def clear_session(request: Request, response: Response) -> None:
    """Expire the session cookie."""
    response.delete_cookie(COOKIE, path=cookie_path(request), httponly=True, samesite="strict")


def load_session(request: Request, source: str) -> ConsoleSession | None:
    """Verify the cookie and re-read user and token; ``None`` if missing, forged, expired or revoked."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 4096:
        return None
    try:
        data = _serializer(request).loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not all(k in data for k in ("u", "t", "c")):
        return None
    store: Store = request.app.state.store
    with store.session() as s:
        user = s.get(User, data["u"])
        tok = s.get(ApiToken, data["t"])
        if user is None or not user.active or tok is None or tok.revoked_at is not None or tok.user_id != user.id:
            return None
        actor = Actor(username=user.username, role=user.role, source=source, user_id=user.id)
    return ConsoleSession(actor=actor, csrf=str(data["c"]), token_id=int(data["t"]))
