"""Users and tokens (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import select

from stillwatch.api.deps import Limit, Offset, Require, StoreDep
from stillwatch.cases import auth
from stillwatch.cases.common import paginate
from stillwatch.cases.models import User
from stillwatch.security.permissions import Actor, check

router = APIRouter(tags=["users"])


class UserBody(BaseModel):
    """A new user."""

    username: str
    role: str


class UserPatch(BaseModel):
    """Change a user's role or deactivate them."""

    role: str | None = None
    active: bool | None = None


class TokenBody(BaseModel):
    """A label for a new token."""

    name: str = ""


@router.get("/users")
def list_users(
    store: StoreDep, limit: Limit = 50, offset: Offset = 0, actor: Actor = Depends(Require("user.manage"))
) -> dict[str, Any]:
    """Users."""
    check(actor, "user.manage")
    with store.session() as session:
        return paginate(session, select(User).order_by(User.username), limit, offset, auth.user_to_dict).as_dict()


@router.post("/users", status_code=201)
def create_user(body: UserBody, store: StoreDep, actor: Actor = Depends(Require("user.manage"))) -> dict[str, Any]:
    """Create a user."""
    with store.session() as session:
        return auth.user_to_dict(auth.create_user(session, body.username, body.role, actor))


@router.patch("/users/{username}")
def patch_user(
    username: str, body: UserPatch, store: StoreDep, actor: Actor = Depends(Require("user.manage"))
) -> dict[str, Any]:
    """Change role and/or active flag."""
    with store.session() as session:
        user = auth.get_user(session, username)
        if body.role is not None:
            user = auth.set_role(session, username, body.role, actor)
        if body.active is not None:
            user = auth.set_active(session, username, body.active, actor)
        return auth.user_to_dict(user)


@router.post("/users/{username}/tokens", status_code=201)
def issue_token(
    username: str, body: TokenBody, store: StoreDep, actor: Actor = Depends(Require("user.manage"))
) -> dict[str, Any]:
    """Issue a token; the clear token is in this response only."""
    with store.session() as session:
        return {"username": username, "token": auth.issue_token(session, username, actor, name=body.name)}


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: int, store: StoreDep, actor: Actor = Depends(Require("user.manage"))) -> dict[str, Any]:
    """Revoke a token."""
    with store.session() as session:
        row = auth.revoke_token(session, token_id, actor)
        return {"id": row.id, "revoked": row.revoked_at is not None}
