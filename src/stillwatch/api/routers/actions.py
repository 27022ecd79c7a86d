"""Enforcement actions: list, read, take, reverse."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from stillwatch.api.deps import Limit, Offset, Require, StoreDep
from stillwatch.cases import enforcement
from stillwatch.cases.common import get_or_404
from stillwatch.cases.models import EnforcementAction
from stillwatch.security.permissions import Actor

router = APIRouter(tags=["actions"])


class ActionBody(BaseModel):
    """An enforcement action; suspend and ban need the lead role."""

    target_type: str = Field(description="account, api_key, cluster or egress")
    target: str = Field(description="the id; for egress an IP address or CIDR network")
    action: str = Field(description="warn, throttle, challenge, suspend or ban")
    reason: str
    case_id: int | None = None
    expires_at: datetime | None = None


class ReverseBody(BaseModel):
    """A reversal with its reason."""

    reason: str
    version: int | None = None


@router.get("/actions")
def list_actions(
    store: StoreDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: str | None = None,
    target_type: str | None = None,
    target: str | None = None,
    case_id: int | None = None,
    actor: Actor = Depends(Require("action.view")),
) -> dict[str, Any]:
    """Enforcement actions, newest first."""
    with store.session() as session:
        page = enforcement.list_actions(
            session,
            actor,
            status=status,
            target_type=target_type,
            target=target,
            case_id=case_id,
            limit=limit,
            offset=offset,
        )
        return page.as_dict()


@router.get("/actions/{action_id}")
def get_action(action_id: int, store: StoreDep, actor: Actor = Depends(Require("action.view"))) -> dict[str, Any]:
    """One action."""
    with store.session() as session:
        return enforcement.action_to_dict(get_or_404(session, EnforcementAction, action_id, "action"))


@router.post("/actions", status_code=201)
def take_action(body: ActionBody, store: StoreDep, actor: Actor = Depends(Require("action.create"))) -> dict[str, Any]:
    """Take an enforcement action (visible in the enforcement list at once)."""
    with store.session() as session:
        row = enforcement.take_action(
            session,
            body.target_type,
            body.target,
            body.action,
            body.reason,
            actor,
            case_id=body.case_id,
            expires_at=body.expires_at,
        )
        return enforcement.action_to_dict(row)


@router.post("/actions/{action_id}/reverse")
def reverse_action(
    action_id: int, body: ReverseBody, store: StoreDep, actor: Actor = Depends(Require("action.reverse"))
) -> dict[str, Any]:
    """Reverse an action with a reason."""
    with store.session() as session:
        row = enforcement.reverse_action(session, action_id, body.reason, actor, expected_version=body.version)
        return enforcement.action_to_dict(row)
