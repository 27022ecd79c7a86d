"""The audit log (read-only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from stillwatch.api.deps import Limit, Offset, Require, StoreDep
from stillwatch.cases import audit as audit_log
from stillwatch.security.permissions import Actor

router = APIRouter(tags=["audit"])


@router.get("/audit")
def list_audit(
    store: StoreDep,
    limit: Limit = 50,
    offset: Offset = 0,
    who: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: Actor = Depends(Require("audit.view")),
) -> dict[str, Any]:
    """Audit events, newest first."""
    with store.session() as session:
        page = audit_log.list_events(
            session,
            actor,
            who=who,
            action=action,
            object_type=object_type,
            object_id=object_id,
            limit=limit,
            offset=offset,
        )
        return page.as_dict()
