"""The findings queue: ranked by severity then score, with filters, counts and saved views."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import case, func, or_, select

from stillwatch.cases import audit
from stillwatch.cases.common import InvalidInputError
from stillwatch.cases.models import CASE_STATUSES, SEVERITIES, Case, Cluster, Finding
from stillwatch.cases.workflow import FINDING_KINDS
from stillwatch.console import saved_views
from stillwatch.console.web import PREFIX, Ctx, current, form, page, redirect
from stillwatch.security.permissions import check

router = APIRouter()
SEV_RANK = case({s: i for i, s in enumerate(SEVERITIES)}, value=Finding.severity, else_=-1)


def _date(value: str | None, name: str, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(f"{name} must be a date (YYYY-MM-DD) or an RFC 3339 time") from exc
    if end and len(value) == 10:
        ts += timedelta(days=1)
    return ts


def parse_filters(params: Any) -> dict[str, Any]:
    """Validate the queue filters from query parameters (unknown values are refused, not echoed)."""
    out: dict[str, Any] = {k: (params.get(k) or "").strip() for k in saved_views.FILTER_KEYS}
    for key, choices in (("kind", FINDING_KINDS), ("severity", SEVERITIES), ("status", (*CASE_STATUSES, "none"))):
        if out[key] and out[key] not in choices:
            raise InvalidInputError(f"{key} must be one of {', '.join(choices)}")
    if out["min_score"]:
        try:
            score = float(out["min_score"])
        except ValueError as exc:
            raise InvalidInputError("min_score must be a number in [0, 1]") from exc
        if not 0 <= score <= 1:
            raise InvalidInputError("min_score must be a number in [0, 1]")
    _date(out["since"], "since")
    _date(out["until"], "until")
    out["shadow"] = "1" if out["shadow"] in ("1", "on", "true") else ""
    return out


def _filtered(session: Any, f: dict[str, Any]) -> Any:
    stmt: Any = select(Finding, Case.status.label("case_status")).outerjoin(Case, Case.id == Finding.case_id)
    if not f["shadow"]:
        stmt = stmt.where(Finding.detector_status != "shadow")
    if f["kind"]:
        stmt = stmt.where(Finding.kind == f["kind"])
    if f["severity"]:
        stmt = stmt.where(Finding.severity == f["severity"])
    if f["status"] == "none":
        stmt = stmt.where(Finding.case_id.is_(None))
    elif f["status"]:
        stmt = stmt.where(Case.status == f["status"])
    if f["min_score"]:
        stmt = stmt.where(Finding.score >= float(f["min_score"]))
    if since := _date(f["since"], "since"):
        stmt = stmt.where(Finding.first_flagged_at >= since)
    if until := _date(f["until"], "until", end=True):
        stmt = stmt.where(Finding.first_flagged_at < until)
    if f["cluster"]:
        cluster = session.get(Cluster, f["cluster"])
        members = [str(a) for a in (cluster.accounts if cluster else [])][:10_000]
        cond = (Finding.entity == "cluster") & (Finding.entity_id == f["cluster"])
        stmt = stmt.where(or_(cond, Finding.entity_id.in_(members)) if members else cond)
    return stmt


def _row(f: Finding, case_status: str | None) -> dict[str, Any]:
    p = f.payload
    ev = [e for e in (p.get("evidence") or []) if isinstance(e, dict)]
    return {
        "finding_id": f.finding_id,
        "kind": f.kind,
        "severity": f.severity,
        "score": f.score,
        "entity": f.entity,
        "entity_id": f.entity_id,
        "detector": f.detector_name,
        "detector_status": f.detector_status,
        "first_flagged_at": p.get("first_flagged_at"),
        "case_id": f.case_id,
        "case_status": case_status,
        "accounts": len(p.get("accounts") or []),
        "why": str(ev[0].get("why", "")) if ev else "",
    }


def queue_data(ctx: Ctx, params: Any) -> dict[str, Any]:
    """The queue page's data: filters, counts over the filtered set, one page of findings."""
    check(ctx.actor, "finding.view")
    f = parse_filters(params)
    try:
        limit = min(max(int(params.get("limit") or 50), 1), 500)
        offset = max(int(params.get("offset") or 0), 0)
    except ValueError as exc:
        raise InvalidInputError("limit and offset must be whole numbers") from exc
    with ctx.store.session() as s:
        base = _filtered(s, f)
        sub = base.subquery()
        total = s.scalar(select(func.count()).select_from(sub)) or 0
        counts: dict[str, dict[str, int]] = {}
        for col in ("kind", "severity", "case_status"):
            rows = s.execute(select(sub.c[col], func.count()).group_by(sub.c[col])).all()
            counts[col] = {str(k) if k is not None else "none": int(n) for k, n in rows}
        ordered = base.order_by(SEV_RANK.desc(), Finding.score.desc(), Finding.finding_id)
        items = [_row(r[0], r[1]) for r in s.execute(ordered.limit(limit).offset(offset)).all()]
    views = saved_views.list_views(_data_dir(ctx), ctx.actor.username)
    nxt = offset + limit
    return {
        "filters": f,
        "total": int(total),
        "counts": counts,
        "items": items,
        "limit": limit,
        "offset": offset,
        "next_offset": nxt if nxt < total else None,
        "saved_views": views,
        "choices": {"kind": list(FINDING_KINDS), "severity": list(SEVERITIES), "status": [*CASE_STATUSES, "none"]},
    }


def _data_dir(ctx: Ctx) -> Path:
    return Path(ctx.request.app.state.settings.data_dir)


@router.get(PREFIX)
@router.get(PREFIX + "/")
def home(request: Request) -> Response:
    """The console's front door is the queue."""
    current(request)
    return redirect(PREFIX + "/queue", request)


@router.get(PREFIX + "/queue")
@router.get(PREFIX + "/queue.json")
def queue(request: Request) -> Response:
    """The findings queue (HTML) and its JSON twin (``/console/queue.json``)."""
    ctx = current(request)
    data = queue_data(ctx, request.query_params)
    return page(ctx, "queue.html", data, as_json=request.url.path.endswith(".json"))


@router.post(PREFIX + "/views")
async def save_view(request: Request) -> Response:
    """Save the current filters as a named view (audited)."""
    ctx = current(request)
    values = await form(request, ctx)
    check(ctx.actor, "finding.view")
    filters = parse_filters(values)
    entry = saved_views.save_view(_data_dir(ctx), ctx.actor.username, values.get("name"), filters)
    with ctx.store.session() as s:
        audit.record(s, ctx.actor, "console.view.save", "view", entry["name"], {"filters": entry["filters"]})
    return redirect(PREFIX + "/queue?" + saved_views.urlencode(entry["filters"]), request)


@router.post(PREFIX + "/views/delete")
async def delete_view(request: Request) -> Response:
    """Delete a saved view by name (audited)."""
    ctx = current(request)
    values = await form(request, ctx)
    name = (values.get("name") or "")[:80]
    if saved_views.delete_view(_data_dir(ctx), ctx.actor.username, name):
        with ctx.store.session() as s:
            audit.record(s, ctx.actor, "console.view.delete", "view", name)
    return redirect(PREFIX + "/queue", request)
