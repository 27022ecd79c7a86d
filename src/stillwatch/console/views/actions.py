"""Enforcement: take and reverse actions, the enforcement list page, STIX and report exports."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from stillwatch.cases import audit, enforcement
from stillwatch.cases.common import InvalidInputError
from stillwatch.cases.models import utcnow
from stillwatch.console.web import PREFIX, current, form, page, redirect, secure
from stillwatch.security.permissions import check

router = APIRouter()


def _int(value: str | None, name: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInputError(f"{name} must be a whole number") from exc


@router.post(PREFIX + "/actions")
async def take_action(request: Request) -> Response:
    """Take an enforcement action (suspend and ban need a lead; a case must be confirmed first)."""
    ctx = current(request)
    values = await form(request, ctx)
    hours = _int(values.get("expires_hours"), "expires_hours")
    expires = utcnow() + timedelta(hours=hours) if hours else None
    target_type, _, target = (values.get("target") or "").partition(":")
    if values.get("target_type"):
        target_type, target = values["target_type"], values.get("target_value") or target
    case_id = _int(values.get("case_id"), "case_id")
    with ctx.store.session() as s:
        enforcement.take_action(
            s, target_type, target, values.get("action"), values.get("reason"), ctx.actor,
            case_id=case_id, expires_at=expires,
        )
    nxt = values.get("next") or ""
    return redirect(nxt if nxt.startswith(PREFIX + "/") else PREFIX + "/enforcement", request)


@router.post(PREFIX + "/actions/{action_ref}/reverse")
async def reverse_action(action_ref: str, request: Request) -> Response:
    """Reverse an action with a reason (lead)."""
    ctx = current(request)
    values = await form(request, ctx)
    action_id = _int(action_ref, "action id")
    assert action_id is not None
    with ctx.store.session() as s:
        enforcement.reverse_action(s, action_id, values.get("reason"), ctx.actor,
                                   expected_version=_int(values.get("version"), "version"))
    nxt = values.get("next") or ""
    return redirect(nxt if nxt.startswith(PREFIX + "/") else PREFIX + "/enforcement", request)


@router.get(PREFIX + "/enforcement")
@router.get(PREFIX + "/enforcement.json")
def enforcement_page(request: Request) -> Response:
    """The active enforcement list (what the gateway applies) and the recent actions."""
    ctx = current(request)
    check(ctx.actor, "enforcement.view")
    with ctx.store.session() as s:
        current_list = enforcement.enforcement_list(s).as_dict()
        recent = enforcement.list_actions(s, ctx.actor, limit=200).as_dict() if ctx.may("action.view") else None
    data = {"enforcement_list": current_list, "actions": recent}
    return page(ctx, "enforcement.html", data, as_json=request.url.path.endswith(".json"),
                extra=lambda: {"here": PREFIX + "/enforcement"})


def _download(body: str | bytes, media_type: str, filename: str) -> Response:
    resp = Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return secure(resp)


@router.get(PREFIX + "/cases/{case_ref}/export/stix")
def export_case_stix(case_ref: str, request: Request) -> Response:
    """A case's STIX 2.1 bundle as a download (audited)."""
    from stillwatch.export.stix import case_bundle

    ctx = current(request)
    check(ctx.actor, "export.stix")
    case_id = _int(case_ref, "case id")
    assert case_id is not None
    with ctx.store.session() as s:
        bundle = case_bundle(s, case_id, tlp="amber")
        audit.record(s, ctx.actor, "export.stix", "case", case_id, {"tlp": "amber", "via": "console"})
    return _download(bundle.serialize(pretty=True), "application/stix+json;version=2.1", f"case-{case_id}-stix.json")


@router.get(PREFIX + "/cases/{case_ref}/export/report")
def export_case_report(case_ref: str, request: Request) -> Response:
    """A case's malicious-use report (HTML) as a download, without prompt text (audited)."""
    from stillwatch.export.report import render_case_html

    ctx = current(request)
    check(ctx.actor, "export.report")
    case_id = _int(case_ref, "case id")
    assert case_id is not None
    with ctx.store.session() as s:
        html = render_case_html(s, case_id, include_prompts=False)
        audit.record(s, ctx.actor, "export.report", "case", case_id, {"include_prompts": False, "via": "console"})
    return _download(html, "text/html; charset=utf-8", f"case-{case_id}-report.html")


@router.get(PREFIX + "/clusters/{cluster_ref}/export/stix")
def export_cluster_stix(cluster_ref: str, request: Request) -> Response:
    """A cluster's (campaign's) STIX 2.1 bundle as a download (audited)."""
    from stillwatch.export.stix import cluster_bundle

    ctx = current(request)
    check(ctx.actor, "export.stix")
    with ctx.store.session() as s:
        bundle = cluster_bundle(s, cluster_ref, tlp="amber")
        audit.record(s, ctx.actor, "export.stix", "cluster", cluster_ref, {"tlp": "amber", "via": "console"})
    return _download(bundle.serialize(pretty=True), "application/stix+json;version=2.1", "cluster-stix.json")
