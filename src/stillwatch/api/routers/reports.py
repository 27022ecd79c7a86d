"""Jailbreak-report triage: intake, queue, read (prompt text audited), triage, retro-hunt."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel

from stillwatch.api.deps import Limit, Offset, Require, StoreDep
from stillwatch.cases import reports_triage
from stillwatch.security.permissions import Actor, is_allowed

router = APIRouter(tags=["reports"])


class TriageBody(BaseModel):
    """New status and/or severity, with a reason."""

    status: str | None = None
    severity: str | None = None
    reason: str
    version: int | None = None


def _out(row: Any, actor: Actor) -> dict[str, Any]:
    return reports_triage.report_to_dict(row, include_reporter=is_allowed(actor.role, "report.reporter"))


@router.post("/reports", status_code=201)
def submit_report(
    request: Request,
    store: StoreDep,
    body: dict[str, Any] = Body(..., description="a report as in provider-logs-v1 §4"),
    actor: Actor = Depends(Require("report.create")),
) -> dict[str, Any]:
    """Take in a report: de-duplicate, set its due time, run the retro-hunt."""
    with store.session() as session:
        row = reports_triage.submit_report(session, body, actor, retro_hunt=request.app.state.retro_hunt)
        return _out(row, actor)


@router.get("/reports")
def triage_queue(
    store: StoreDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: str | None = None,
    actor: Actor = Depends(Require("report.view")),
) -> dict[str, Any]:
    """The triage queue (new and triaging reports, soonest due first) or reports of one status."""
    with store.session() as session:
        return reports_triage.triage_queue(session, actor, status=status, limit=limit, offset=offset).as_dict()


@router.get("/reports/{report_id}")
def get_report(
    report_id: str, store: StoreDep, include_prompt: bool = False, actor: Actor = Depends(Require("report.view"))
) -> dict[str, Any]:
    """One report; ``include_prompt=true`` needs prompt.view and is audited."""
    with store.session() as session:
        return reports_triage.view_report(session, report_id, actor, include_prompt=include_prompt)


@router.post("/reports/{report_id}/triage")
def triage_report(
    report_id: str, body: TriageBody, store: StoreDep, actor: Actor = Depends(Require("report.triage"))
) -> dict[str, Any]:
    """Set status and/or severity."""
    with store.session() as session:
        row = reports_triage.triage(
            session,
            report_id,
            actor,
            status=body.status,
            severity=body.severity,
            reason=body.reason,
            expected_version=body.version,
        )
        return _out(row, actor)


@router.post("/reports/{report_id}/retro-hunt")
def retro_hunt(
    report_id: str, request: Request, store: StoreDep, actor: Actor = Depends(Require("report.triage"))
) -> dict[str, Any]:
    """Run the retro-hunt again and attach its hits."""
    with store.session() as session:
        row = reports_triage.rerun_retro_hunt(session, report_id, actor, request.app.state.retro_hunt)
        return _out(row, actor)
