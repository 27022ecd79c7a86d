"""Health and identity."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from stillwatch.api.deps import Require, StoreDep
from stillwatch.cases.db import current_revision
from stillwatch.security.permissions import Actor, permissions_of

router = APIRouter(tags=["meta"])


@router.get("/health")
def health(store: StoreDep, actor: Actor = Depends(Require(None))) -> dict[str, Any]:
    """Liveness and schema revision (public)."""
    return {"status": "ok", "schema_revision": current_revision(store.engine)}


@router.get("/me")
def me(actor: Actor = Depends(Require("self.view"))) -> dict[str, Any]:
    """The caller's user name, role and permissions."""
    return {"username": actor.username, "role": actor.role, "permissions": permissions_of(actor.role)}
