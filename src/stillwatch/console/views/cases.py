"""Finding and case pages, and the case actions: decide, note, assign, close, reopen."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from stillwatch.cases import audit, enforcement, workflow
from stillwatch.cases.common import InvalidInputError, get_or_404
from stillwatch.cases.models import ACTION_KINDS, DECISION_OUTCOMES, SEVERE_ACTIONS, TARGET_TYPES, Case, Finding, Report
from stillwatch.console import charts
from stillwatch.console.web import PREFIX, Ctx, current, form, page, qp, redirect, split_format
from stillwatch.security.permissions import check

router = APIRouter()
SAMPLE_LIMIT = 50


def _version(values: dict[str, str]) -> int | None:
    raw = values.get("version")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidInputError("version must be a whole number") from exc


def _case_id(raw: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidInputError("a case id is a whole number") from exc


def _actions_of(ctx: Ctx, case_id: int) -> list[dict[str, Any]]:
    if not ctx.may("action.view"):
        return []
    with ctx.store.session() as s:
        return enforcement.list_actions(s, ctx.actor, case_id=case_id, limit=500).items


def _targets(case: dict[str, Any]) -> list[dict[str, str]]:
    """Enforcement targets offered on a case: its entity, its accounts and keys, its clusters."""
    seen: list[dict[str, str]] = []
    pairs = [(case["entity_type"], case["entity_id"])]
    pairs += [(e["type"], e["value"]) for e in case.get("entities", [])]
    for f in case.get("findings", []):
        if f.get("entity") in TARGET_TYPES:
            pairs.append((f["entity"], str(f["entity_id"])))
    for ttype, value in pairs:
        item = {"type": ttype, "value": value}
        if ttype in TARGET_TYPES and item not in seen:
            seen.append(item)
    return seen[:50]


def _samples(ctx: Ctx, findings: list[dict[str, Any]], raw: bool, object_type: str, object_id: str) -> dict[str, Any]:
    """Sample exchanges; raw text only with prompt.view, and every raw read audited."""
    ids = [str(x) for f in findings for x in (f.get("exchanges") or [])][:SAMPLE_LIMIT]
    report_ids = sorted({str(f["report_id"]) for f in findings if f.get("report_id")})
    out: dict[str, Any] = {"exchanges": ids, "report_ids": report_ids, "raw": None}
    if not raw:
        return out
    check(ctx.actor, "prompt.view")
    texts: list[dict[str, Any]] = []
    source = getattr(ctx.request.app.state, "console_exchanges", None)
    with ctx.store.session() as s:
        if source is not None and ids:
            for rid, text in (source(ids) or {}).items():
                texts.append({"id": str(rid), "kind": "exchange", "text": str(text)})
        for rid in report_ids:
            row = s.get(Report, rid)
            if row is not None:
                texts.append({"id": rid, "kind": "reported prompt", "text": row.prompt_text})
                audit.record(s, ctx.actor, "report.prompt.view", "report", rid, {"via": f"{object_type} {object_id}"})
        audit.record(
            s, ctx.actor, "exchange.raw.view", object_type, object_id,
            {"exchanges": len(ids), "reports": len(report_ids), "texts": len(texts)},
        )
    out["raw"] = texts
    return out


def _forms(ctx: Ctx, case: dict[str, Any] | None) -> dict[str, Any]:
    kinds = [k for k in ACTION_KINDS if k not in SEVERE_ACTIONS or ctx.may("action.create_severe")]
    return {
        "outcomes": DECISION_OUTCOMES,
        "action_kinds": kinds,
        "target_types": TARGET_TYPES,
        "targets": _targets(case) if case else [],
    }


def series_for(ctx: Ctx, account_id: str | None) -> dict[str, Any]:
    """Chart series of one account from ``app.state.console_data`` (the feature store), if any."""
    source = getattr(ctx.request.app.state, "console_data", None)
    if source is None or not account_id:
        return {}
    try:
        return dict(source.account_series(account_id) or {})
    except Exception:  # an optional source that fails never breaks the page
        return {}


def _series(ctx: Ctx, findings: list[dict[str, Any]]) -> dict[str, Any]:
    accounts = [str(f["entity_id"]) for f in findings if f.get("entity") == "account"]
    accounts += [str(a) for f in findings for a in (f.get("accounts") or [])]
    return series_for(ctx, accounts[0] if accounts else None)


def finding_data(ctx: Ctx, finding_id: str, raw: bool) -> dict[str, Any]:
    """A finding with its case (if any), the case's actions, and sample exchanges (the read is audited)."""
    check(ctx.actor, "finding.view")
    with ctx.store.session() as s:
        f = get_or_404(s, Finding, finding_id, "finding")
        finding = workflow.finding_to_dict(f)
        case = None
        if f.case is not None:
            case = workflow.case_to_dict(f.case)
            case["entities"] = [{"type": ce.entity.type, "value": ce.entity.value, "role": ce.role}
                                for ce in f.case.entities][:200]
        audit.record(s, ctx.actor, "finding.view", "finding", finding_id, {"case_id": f.case_id})
    return {
        "finding": finding,
        "case": case,
        "actions": _actions_of(ctx, case["id"]) if case else [],
        "samples": _samples(ctx, [finding], raw, "finding", finding_id),
    }


@router.get(PREFIX + "/findings/{finding_id:path}")
def finding_page(finding_id: str, request: Request) -> Response:
    """One finding: evidence, charts, sample exchanges, links and the case's actions."""
    ctx = current(request)
    fid, as_json = split_format(finding_id)
    data = finding_data(ctx, fid, request.query_params.get("raw") == "1")

    def extra() -> dict[str, Any]:
        case = data["case"]
        series = _series(ctx, [data["finding"]])
        return {
            "charts": charts.finding_charts([data["finding"]], series),
            "store_egress": series.get("egress", []),
            "egress": charts.egress_rows([data["finding"]]),
            "forms": _forms(ctx, {**case, "findings": [data["finding"]]} if case else None),
            "here": f"{PREFIX}/findings/{qp(fid)}",
        }

    return page(ctx, "finding.html", data, as_json=as_json, extra=extra)


def case_data(ctx: Ctx, case_id: int, raw: bool) -> dict[str, Any]:
    """A case in full (the read is audited as case.view), its actions and sample exchanges."""
    with ctx.store.session() as s:
        case = workflow.view_case(s, case_id, ctx.actor)
    return {
        "case": case,
        "actions": _actions_of(ctx, case_id),
        "samples": _samples(ctx, case["findings"], raw, "case", str(case_id)),
    }


@router.get(PREFIX + "/cases/{case_ref}")
def case_page(case_ref: str, request: Request) -> Response:
    """One case: findings and their evidence, charts, samples, notes, decisions, actions."""
    ctx = current(request)
    ref, as_json = split_format(case_ref)
    case_id = _case_id(ref)
    data = case_data(ctx, case_id, request.query_params.get("raw") == "1")

    def extra() -> dict[str, Any]:
        series = _series(ctx, data["case"]["findings"])
        return {
            "charts": charts.finding_charts(data["case"]["findings"], series),
            "store_egress": series.get("egress", []),
            "egress": charts.egress_rows(data["case"]["findings"]),
            "forms": _forms(ctx, data["case"]),
            "here": f"{PREFIX}/cases/{case_id}",
        }

    return page(ctx, "case.html", data, as_json=as_json, extra=extra)


@router.get(PREFIX + "/cases")
@router.get(PREFIX + "/cases.json")
def case_list(request: Request) -> Response:
    """Cases, highest score first, optionally by status."""
    ctx = current(request)
    status = request.query_params.get("status") or None
    with ctx.store.session() as s:
        data = workflow.list_cases(s, ctx.actor, status=status, limit=200).as_dict()
    data["status"] = status
    return page(ctx, "cases.html", data, as_json=request.url.path.endswith(".json"))


def _back(values: dict[str, str], case_id: int) -> str:
    nxt = values.get("next") or ""
    return nxt if nxt.startswith(PREFIX + "/") else f"{PREFIX}/cases/{case_id}"


@router.post(PREFIX + "/cases/{case_ref}/decide")
async def decide(case_ref: str, request: Request) -> Response:
    """Decide an open case (confirmed, benign, needs_more_data) with a reason."""
    ctx = current(request)
    values = await form(request, ctx)
    case_id = _case_id(case_ref)
    with ctx.store.session() as s:
        workflow.decide(s, case_id, values.get("outcome"), values.get("reason"), ctx.actor,
                        expected_version=_version(values))
    return redirect(_back(values, case_id), request)


@router.post(PREFIX + "/cases/{case_ref}/note")
async def note(case_ref: str, request: Request) -> Response:
    """Add a note to a case."""
    ctx = current(request)
    values = await form(request, ctx)
    case_id = _case_id(case_ref)
    with ctx.store.session() as s:
        workflow.add_note(s, case_id, values.get("body"), ctx.actor)
    return redirect(_back(values, case_id), request)


@router.post(PREFIX + "/cases/{case_ref}/assign")
async def assign(case_ref: str, request: Request) -> Response:
    """Assign a case (empty assignee unassigns)."""
    ctx = current(request)
    values = await form(request, ctx)
    case_id = _case_id(case_ref)
    with ctx.store.session() as s:
        workflow.assign(s, case_id, values.get("assignee") or None, ctx.actor, expected_version=_version(values))
    return redirect(_back(values, case_id), request)


@router.post(PREFIX + "/cases/{case_ref}/close")
async def close(case_ref: str, request: Request) -> Response:
    """Close a confirmed case (lead)."""
    ctx = current(request)
    values = await form(request, ctx)
    case_id = _case_id(case_ref)
    with ctx.store.session() as s:
        workflow.close_case(s, case_id, values.get("reason"), ctx.actor, expected_version=_version(values))
    return redirect(_back(values, case_id), request)


@router.post(PREFIX + "/cases/{case_ref}/reopen")
async def reopen(case_ref: str, request: Request) -> Response:
    """Reopen a closed case (lead)."""
    ctx = current(request)
    values = await form(request, ctx)
    case_id = _case_id(case_ref)
    with ctx.store.session() as s:
        workflow.reopen_case(s, case_id, values.get("reason"), ctx.actor, expected_version=_version(values))
    return redirect(_back(values, case_id), request)


def case_ids_for_account(ctx: Ctx, account_id: str) -> list[int]:
    """Ids of the cases that are about an account (used by the account page)."""
    with ctx.store.session() as s:
        rows = s.scalars(select(Case.id).where(Case.entity_type == "account", Case.entity_id == account_id))
        return list(rows)
