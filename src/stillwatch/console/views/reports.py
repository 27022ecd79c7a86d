"""The jailbreak-report triage queue and report pages (prompt text only with prompt.view, audited)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from stillwatch.cases import reports_triage
from stillwatch.cases.models import SEVERITIES, Report
from stillwatch.console.web import PREFIX, current, form, page, qp, redirect, split_format

router = APIRouter()


@router.get(PREFIX + "/reports")
@router.get(PREFIX + "/reports.json")
def reports_page(request: Request) -> Response:
    """Reports waiting for triage, soonest due first, with retro-hunt hits."""
    ctx = current(request)
    status = request.query_params.get("status") or None
    with ctx.store.session() as s:
        data = reports_triage.triage_queue(s, ctx.actor, status=status, limit=200).as_dict()
    data["status"] = status
    return page(ctx, "reports.html", data, as_json=request.url.path.endswith(".json"))


@router.get(PREFIX + "/reports/{report_ref:path}")
def report_page(report_ref: str, request: Request) -> Response:
    """One report; ``?raw=1`` shows the prompt text (prompt.view, audited)."""
    ctx = current(request)
    rid, as_json = split_format(report_ref)
    raw = request.query_params.get("raw") == "1"
    with ctx.store.session() as s:
        data: dict[str, Any] = {"report": reports_triage.view_report(s, rid, ctx.actor, include_prompt=raw)}
    if raw:
        with ctx.store.session() as s:
            row = s.get(Report, rid)
            data["prompt_text"] = row.prompt_text if row is not None else None
    return page(ctx, "report.html", data, as_json=as_json, extra=lambda: {
        "statuses": reports_triage.REPORT_STATUSES, "severities": SEVERITIES, "here": f"{PREFIX}/reports/{qp(rid)}",
    })


@router.post(PREFIX + "/reports/{report_ref:path}/triage")
async def triage(report_ref: str, request: Request) -> Response:
    """Set a report's status and/or severity with a reason."""
    ctx = current(request)
    values = await form(request, ctx)
    version = int(values["version"]) if (values.get("version") or "").isdigit() else None
    with ctx.store.session() as s:
        reports_triage.triage(s, report_ref, ctx.actor, status=values.get("status") or None,
                              severity=values.get("severity") or None, reason=values.get("reason"),
                              expected_version=version)
    return redirect(f"{PREFIX}/reports/{qp(report_ref)}", request)
