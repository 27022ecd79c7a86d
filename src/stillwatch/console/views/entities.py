"""Cluster / campaign pages and the account page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import or_, select

from stillwatch.cases import enforcement, workflow
from stillwatch.cases.common import get_or_404
from stillwatch.cases.models import Case, CaseEntity, Cluster, Entity, Finding
from stillwatch.console import charts
from stillwatch.console.web import PREFIX, Ctx, current, page, split_format
from stillwatch.security.permissions import check

router = APIRouter()
MEMBER_LIMIT = 2000


def _summary(cluster: dict[str, Any], findings: list[dict[str, Any]]) -> dict[str, Any]:
    camp = cluster.get("campaign") or {}
    est: dict[str, Any] = next((f["estimate"] for f in findings if isinstance(f.get("estimate"), dict)
                and "exchanges" in f["estimate"]), {})
    models = sorted({str(m) for f in findings for m in ((f.get("estimate") or {}).get("models") or [])})
    models = models or sorted({str(m) for m in (camp.get("models") or [])})
    return {
        "exchanges": camp.get("exchanges", est.get("exchanges")),
        "accounts": len(cluster.get("accounts") or []),
        "first_seen": camp.get("first_seen"),
        "last_seen": camp.get("last_seen"),
        "span_days": est.get("span_days"),
        "capabilities": camp.get("capabilities") or est.get("capabilities") or {},
        "models": models,
    }


def cluster_data(ctx: Ctx, cluster_id: str) -> dict[str, Any]:
    """A cluster: members, links with reasons, campaign summary, findings, cases, actions."""
    check(ctx.actor, "cluster.view")
    with ctx.store.session() as s:
        row = get_or_404(s, Cluster, cluster_id, "cluster")
        cluster = workflow.cluster_to_dict(row)
        members = [str(a) for a in row.accounts][:MEMBER_LIMIT]
        rows = s.scalars(select(Finding).where(or_(
            (Finding.entity == "cluster") & (Finding.entity_id == cluster_id),
            Finding.entity_id.in_(members),
        )).order_by(Finding.score.desc()).limit(500)).all()
        findings = [workflow.finding_to_dict(f) for f in rows]
        cases = [workflow.case_to_dict(c) for c in s.scalars(
            select(Case).join(CaseEntity, CaseEntity.case_id == Case.id).join(Entity, Entity.id == CaseEntity.entity_id)
            .where(Entity.type == "cluster", Entity.value == cluster_id).distinct())]
        actions = (enforcement.list_actions(s, ctx.actor, target_type="cluster", target=cluster_id).items
                   if ctx.may("action.view") else [])
    return {
        "cluster": cluster,
        "members_shown": len(members),
        "summary": _summary(cluster, findings),
        "findings": findings,
        "cases": cases,
        "actions": actions,
    }


@router.get(PREFIX + "/clusters")
@router.get(PREFIX + "/clusters.json")
def clusters_page(request: Request) -> Response:
    """Clusters and campaigns."""
    ctx = current(request)
    check(ctx.actor, "cluster.view")
    with ctx.store.session() as s:
        items = [
            {"cluster_id": c.cluster_id, "accounts": len(c.accounts or []), "links": len(c.links or []),
             "campaign": c.campaign}
            for c in s.scalars(select(Cluster).order_by(Cluster.cluster_id).limit(500))
        ]
    return page(ctx, "clusters.html", {"items": items}, as_json=request.url.path.endswith(".json"))


@router.get(PREFIX + "/clusters/{cluster_ref:path}")
def cluster_page(cluster_ref: str, request: Request) -> Response:
    """One cluster / campaign."""
    ctx = current(request)
    cid, as_json = split_format(cluster_ref)
    data = cluster_data(ctx, cid)

    def extra() -> dict[str, Any]:
        c = data["cluster"]
        return {
            "graph": charts.link_graph(c["accounts"], c["links"]),
            "caps_chart": charts.capabilities(data["findings"], c.get("campaign")),
        }

    return page(ctx, "cluster.html", data, as_json=as_json, extra=extra)


def account_data(ctx: Ctx, account_id: str, entity_type: str = "account") -> dict[str, Any]:
    """An account (or API key): its findings, cases, clusters and enforcement actions."""
    check(ctx.actor, "finding.view")
    with ctx.store.session() as s:
        rows = s.scalars(select(Finding).where(Finding.entity_id == account_id)
                         .order_by(Finding.score.desc()).limit(500)).all()
        findings = [workflow.finding_to_dict(f) for f in rows]
        cases = [workflow.case_to_dict(c) for c in s.scalars(
            select(Case).join(CaseEntity, CaseEntity.case_id == Case.id).join(Entity, Entity.id == CaseEntity.entity_id)
            .where(Entity.type == entity_type, Entity.value == account_id).distinct())]
        clusters = ([c.cluster_id for c in s.scalars(select(Cluster).limit(5000)) if account_id in map(str, c.accounts)]
                    if entity_type == "account" else [])
        actions = (enforcement.list_actions(s, ctx.actor, target_type=entity_type, target=account_id).items
                   if ctx.may("action.view") else [])
    return {"account_id": account_id, "entity_type": entity_type, "findings": findings, "cases": cases,
            "clusters": clusters, "actions": actions}


def _entity_page(request: Request, ref: str, entity_type: str) -> Response:
    ctx = current(request)
    eid, as_json = split_format(ref)
    data = account_data(ctx, eid, entity_type)

    def extra() -> dict[str, Any]:
        from stillwatch.console.views.cases import series_for

        series = series_for(ctx, eid) if entity_type == "account" else {}
        return {"charts": charts.finding_charts(data["findings"], series), "store_egress": series.get("egress", [])}

    return page(ctx, "account.html", data, as_json=as_json, extra=extra)


@router.get(PREFIX + "/accounts/{account_ref:path}")
def account_page(account_ref: str, request: Request) -> Response:
    """One account."""
    return _entity_page(request, account_ref, "account")


@router.get(PREFIX + "/keys/{key_ref:path}")
def key_page(key_ref: str, request: Request) -> Response:
    """One API key (findings about it, cases, actions)."""
    return _entity_page(request, key_ref, "api_key")
