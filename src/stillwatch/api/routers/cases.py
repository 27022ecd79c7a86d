"""Cases: list, read (audited), assign, note, decide, close, reopen."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from stillwatch.api.deps import Limit, Offset, Require, StoreDep
from stillwatch.cases import workflow
from stillwatch.security.permissions import Actor

router = APIRouter(tags=["cases"])


class AssignBody(BaseModel):
    """Assign a case; ``assignee`` null unassigns."""

    assignee: str | None = None
    version: int | None = Field(default=None, description="the case version you saw (optimistic locking)")


class NoteBody(BaseModel):
    """A note (at most 20,000 characters)."""

    body: str


class DecisionBody(BaseModel):
    """A decision with its required reason."""

    outcome: str = Field(description="confirmed, benign or needs_more_data")
    reason: str
    version: int | None = None


class ReasonBody(BaseModel):
    """A state change with a reason."""

    reason: str
    version: int | None = None


@router.get("/cases")
def list_cases(
    store: StoreDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: str | None = None,
    kind: str | None = None,
    assignee: str | None = None,
    actor: Actor = Depends(Require("case.view")),
) -> dict[str, Any]:
    """Cases, highest score first."""
    with store.session() as session:
        page = workflow.list_cases(
            session, actor, status=status, kind=kind, assignee=assignee, limit=limit, offset=offset
        )
        return page.as_dict()


@router.get("/cases/{case_id}")
def get_case(case_id: int, store: StoreDep, actor: Actor = Depends(Require("case.view"))) -> dict[str, Any]:
    """One case with findings, entities, notes and decisions (the read is audited)."""
    with store.session() as session:
        return workflow.view_case(session, case_id, actor)


@router.post("/cases/{case_id}/assign")
def assign_case(
    case_id: int, body: AssignBody, store: StoreDep, actor: Actor = Depends(Require("case.assign"))
) -> dict[str, Any]:
    """Assign or unassign a case."""
    with store.session() as session:
        case = workflow.assign(session, case_id, body.assignee, actor, expected_version=body.version)
        return workflow.case_to_dict(case)


@router.post("/cases/{case_id}/notes", status_code=201)
def add_note(
    case_id: int, body: NoteBody, store: StoreDep, actor: Actor = Depends(Require("case.note"))
) -> dict[str, Any]:
    """Add a note."""
    with store.session() as session:
        note = workflow.add_note(session, case_id, body.body, actor)
        return {"id": note.id, "case_id": case_id, "author": note.author, "body": note.body}


@router.post("/cases/{case_id}/decision")
def decide_case(
    case_id: int, body: DecisionBody, store: StoreDep, actor: Actor = Depends(Require("case.decide"))
) -> dict[str, Any]:
    """Decide an open case."""
    with store.session() as session:
        case = workflow.decide(session, case_id, body.outcome, body.reason, actor, expected_version=body.version)
        return workflow.case_to_dict(case)


@router.post("/cases/{case_id}/close")
def close_case(
    case_id: int, body: ReasonBody, store: StoreDep, actor: Actor = Depends(Require("case.close"))
) -> dict[str, Any]:
    """Close a confirmed case."""
    with store.session() as session:
        case = workflow.close_case(session, case_id, body.reason, actor, expected_version=body.version)
        return workflow.case_to_dict(case)


@router.post("/cases/{case_id}/reopen")
def reopen_case(
    case_id: int, body: ReasonBody, store: StoreDep, actor: Actor = Depends(Require("case.close"))
) -> dict[str, Any]:
    """Reopen a closed case."""
    with store.session() as session:
        case = workflow.reopen_case(session, case_id, body.reason, actor, expected_version=body.version)
        return workflow.case_to_dict(case)
