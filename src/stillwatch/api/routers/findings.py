"""Findings: list, read, import (findings-v1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from sqlalchemy import select

from stillwatch.api.deps import Limit, Offset, Require, StoreDep
from stillwatch.cases.common import InvalidInputError, get_or_404, paginate
from stillwatch.cases.models import Finding
from stillwatch.cases.workflow import finding_to_dict, import_clusters, import_findings
from stillwatch.security.permissions import Actor, check

router = APIRouter(tags=["findings"])


@router.get("/findings")
def list_findings(
    store: StoreDep,
    limit: Limit = 50,
    offset: Offset = 0,
    kind: str | None = None,
    severity: str | None = None,
    entity_id: str | None = None,
    case_id: int | None = None,
    detector_status: str | None = None,
    min_score: float | None = Query(default=None, ge=0, le=1),
    actor: Actor = Depends(Require("finding.view")),
) -> dict[str, Any]:
    """Findings, highest score first, with filters."""
    stmt = select(Finding).order_by(Finding.score.desc(), Finding.finding_id)
    if kind:
        stmt = stmt.where(Finding.kind == kind)
    if severity:
        stmt = stmt.where(Finding.severity == severity)
    if entity_id:
        stmt = stmt.where(Finding.entity_id == entity_id)
    if case_id is not None:
        stmt = stmt.where(Finding.case_id == case_id)
    if detector_status:
        stmt = stmt.where(Finding.detector_status == detector_status)
    if min_score is not None:
        stmt = stmt.where(Finding.score >= min_score)
    with store.session() as session:
        return paginate(session, stmt, limit, offset, finding_to_dict).as_dict()


@router.get("/findings/{finding_id}")
def get_finding(finding_id: str, store: StoreDep, actor: Actor = Depends(Require("finding.view"))) -> dict[str, Any]:
    """One finding."""
    with store.session() as session:
        return finding_to_dict(get_or_404(session, Finding, finding_id, "finding"))


@router.post("/findings", status_code=200)
def post_findings(
    store: StoreDep,
    body: Any = Body(..., description="findings-v1 objects: an array, or {findings: [...], clusters: [...]}"),
    actor: Actor = Depends(Require("case.import")),
) -> dict[str, Any]:
    """Record findings and open or join cases (idempotent on finding_id)."""
    check(actor, "case.import")
    findings: Any
    clusters: Any
    if isinstance(body, list):
        findings, clusters = body, []
    elif isinstance(body, dict) and isinstance(body.get("findings", []), list):
        findings, clusters = body.get("findings", []), body.get("clusters") or []
    else:
        raise InvalidInputError("send an array of findings or {findings: [...], clusters: [...]}")
    if len(findings) > 10_000:
        raise InvalidInputError("at most 10,000 findings per request")
    with store.session() as session:
        if isinstance(clusters, list) and clusters:
            import_clusters(session, clusters, actor)
        return import_findings(session, findings, actor).as_dict()
