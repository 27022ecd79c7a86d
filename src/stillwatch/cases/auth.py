"""Users, roles and API tokens.

A token is ``sw_`` followed by 43 URL-safe random characters (256 bits). Only its SHA-256 hash is
stored; the clear token is shown once, when issued. A token works while it is not revoked and its
user is active.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stillwatch.cases import audit
from stillwatch.cases.common import InvalidInputError, check_choice, check_text, get_or_404, iso
from stillwatch.cases.models import ApiToken, User, utcnow
from stillwatch.exceptions import ConflictError, NotFoundError
from stillwatch.security.permissions import ROLES, Actor, check

TOKEN_PREFIX = "sw_"
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a clear token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def user_to_dict(u: User) -> dict[str, Any]:
    """JSON-ready form of a user."""
    return {
        "id": u.id,
        "username": u.username,
        "role": u.role,
        "active": u.active,
        "created_at": iso(u.created_at),
    }


def create_user(session: Session, username: Any, role: Any, actor: Actor) -> User:
    """Create a user with a role.

    Raises:
        InvalidInputError: A malformed name or unknown role.
        ConflictError: The name is taken.
    """
    check(actor, "user.manage")
    name = check_text(username, "username", max_len=64)
    if name is None or not _USERNAME.match(name):
        raise InvalidInputError("username may hold letters, digits and _ . @ - (at most 64)")
    check_choice(role, "role", ROLES)
    if session.scalar(select(User).where(User.username == name)) is not None:
        raise ConflictError(f"user {name!r} already exists")
    user = User(username=name, role=role)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", "user", user.id, {"username": name, "role": role})
    return user


def get_user(session: Session, username: str) -> User:
    """A user by name.

    Raises:
        NotFoundError: If there is no such user.
    """
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(
            f"user {username[:64]!r} does not exist", hint="create it with `stillwatch cases users add`"
        )
    return user


def set_role(session: Session, username: str, role: Any, actor: Actor) -> User:
    """Change a user's role."""
    check(actor, "user.manage")
    check_choice(role, "role", ROLES)
    user = get_user(session, username)
    old, user.role = user.role, role
    audit.record(session, actor, "user.role", "user", user.id, {"from": old, "to": role})
    session.flush()
    return user


def set_active(session: Session, username: str, active: bool, actor: Actor) -> User:
    """Activate or deactivate a user (a deactivated user's tokens stop working)."""
    check(actor, "user.manage")
    user = get_user(session, username)
    user.active = active
    audit.record(session, actor, "user.active", "user", user.id, {"active": active})
    session.flush()
    return user


def issue_token(session: Session, username: str, actor: Actor, *, name: str = "") -> str:
    """Issue an API token for a user; returns the clear token (shown once, stored hashed)."""
    check(actor, "user.manage")
    user = get_user(session, username)
    label = check_text(name, "name", max_len=100, required=False) or ""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:10], name=label)
    session.add(row)
    session.flush()
    audit.record(session, actor, "token.issue", "user", user.id, {"token_id": row.id, "prefix": row.prefix})
    return token


def revoke_token(session: Session, token_id: int, actor: Actor) -> ApiToken:
    """Revoke a token by id."""
    check(actor, "user.manage")
    row = get_or_404(session, ApiToken, token_id, "token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    audit.record(session, actor, "token.revoke", "user", row.user_id, {"token_id": row.id})
    session.flush()
    return row


def authenticate(session: Session, token: str | None, source: str) -> Actor | None:
    """The actor a bearer token stands for, or ``None`` if it is unknown, revoked or inactive.

    Args:
        session: Open session.
        token: The clear token from the ``Authorization: Bearer`` header.
        source: Where the request came from (client IP), recorded in audit events.
    """
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return Actor(username=row.user.username, role=row.user.role, source=source, user_id=row.user.id)
