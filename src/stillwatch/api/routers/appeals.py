"""Appeals: intake, queue, review by someone other than the action's author."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from stillwatch.api.deps import Limit, Offset, Require, StoreDep
from stillwatch.cases import appeals
from stillwatch.security.permissions import Actor

router = APIRouter(tags=["appeals"])


class AppealBody(BaseModel):
    """A customer's appeal against an action."""

    action_id: int
    account_id: str
    statement: str
    contact: str | None = None


class AppealDecisionBody(BaseModel):
    """The review outcome; ``reason`` is the text the customer is sent."""

    outcome: str
    reason: str
    version: int | None = None


@router.post("/appeals", status_code=201)
def file_appeal(body: AppealBody, store: StoreDep, actor: Actor = Depends(Require("appeal.create"))) -> dict[str, Any]:
    """Enter an appeal into the appeal queue."""
    with store.session() as session:
        row = appeals.file_appeal(session, body.action_id, body.account_id, body.statement, actor, contact=body.contact)
        return appeals.appeal_to_dict(row)


@router.get("/appeals")
def appeal_queue(
    store: StoreDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: str = "pending",
    actor: Actor = Depends(Require("appeal.view")),
) -> dict[str, Any]:
    """Appeals of a status (default pending), oldest first."""
    with store.session() as session:
        return appeals.appeal_queue(session, actor, status=status, limit=limit, offset=offset).as_dict()


@router.get("/appeals/{appeal_id}")
def get_appeal(appeal_id: int, store: StoreDep, actor: Actor = Depends(Require("appeal.view"))) -> dict[str, Any]:
    """One appeal."""
    with store.session() as session:
        return appeals.appeal_to_dict(appeals.get_appeal(session, appeal_id, actor))


@router.post("/appeals/{appeal_id}/decision")
def decide_appeal(
    appeal_id: int, body: AppealDecisionBody, store: StoreDep, actor: Actor = Depends(Require("appeal.review"))
) -> dict[str, Any]:
    """Uphold or reverse; a reversal reverses the action."""
    with store.session() as session:
        row = appeals.decide_appeal(session, appeal_id, body.outcome, body.reason, actor, expected_version=body.version)
        return appeals.appeal_to_dict(row)
