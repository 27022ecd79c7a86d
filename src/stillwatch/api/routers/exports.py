"""STIX 2.1 bundles and malicious-use reports of cases and clusters."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse

from stillwatch.api.deps import Require, StoreDep
from stillwatch.cases import audit
from stillwatch.security.permissions import Actor, check

router = APIRouter(tags=["exports"])
_TLP = Query(default="amber", pattern="^(clear|white|green|amber|red)$")
_FORMAT = Query(default="html", alias="format", pattern="^(html|pdf)$")


@router.get("/cases/{case_id}/stix")
def case_stix(
    case_id: int, store: StoreDep, tlp: str = _TLP, actor: Actor = Depends(Require("export.stix"))
) -> Response:
    """A STIX 2.1 bundle of a case."""
    from stillwatch.export.stix import case_bundle

    with store.session() as session:
        bundle = case_bundle(session, case_id, tlp=tlp)
        audit.record(session, actor, "export.stix", "case", case_id, {"tlp": tlp})
    return Response(bundle.serialize(pretty=True), media_type="application/stix+json;version=2.1")


@router.get("/clusters/{cluster_id}/stix")
def cluster_stix(
    cluster_id: str, store: StoreDep, tlp: str = _TLP, actor: Actor = Depends(Require("export.stix"))
) -> Response:
    """A STIX 2.1 bundle of a cluster (campaign)."""
    from stillwatch.export.stix import cluster_bundle

    with store.session() as session:
        bundle = cluster_bundle(session, cluster_id, tlp=tlp)
        audit.record(session, actor, "export.stix", "cluster", cluster_id, {"tlp": tlp})
    return Response(bundle.serialize(pretty=True), media_type="application/stix+json;version=2.1")


def _report_response(html: str, fmt: str) -> Response:
    if fmt == "pdf":
        from stillwatch.export.report import to_pdf

        return Response(to_pdf(html), media_type="application/pdf")
    return HTMLResponse(html)


@router.get("/cases/{case_id}/report", response_class=HTMLResponse)
def case_report(
    case_id: int,
    store: StoreDep,
    include_prompts: bool = False,
    fmt: str = _FORMAT,
    tlp: str = _TLP,
    actor: Actor = Depends(Require("export.report")),
) -> Response:
    """The malicious-use report of a case (HTML or PDF); prompt text only with prompt.view (audited)."""
    from stillwatch.export.report import render_case_html

    if include_prompts:
        check(actor, "prompt.view")
    with store.session() as session:
        html = render_case_html(session, case_id, include_prompts=include_prompts, tlp=tlp)
        audit.record(
            session, actor, "export.report", "case", case_id, {"include_prompts": include_prompts, "format": fmt}
        )
    return _report_response(html, fmt)


@router.get("/clusters/{cluster_id}/report", response_class=HTMLResponse)
def cluster_report(
    cluster_id: str,
    store: StoreDep,
    include_prompts: bool = False,
    fmt: str = _FORMAT,
    tlp: str = _TLP,
    actor: Actor = Depends(Require("export.report")),
) -> Response:
    """The malicious-use report of a cluster (campaign), HTML or PDF."""
    from stillwatch.export.report import render_cluster_html

    if include_prompts:
        check(actor, "prompt.view")
    with store.session() as session:
        html = render_cluster_html(session, cluster_id, include_prompts=include_prompts, tlp=tlp)
        audit.record(
            session, actor, "export.report", "cluster", cluster_id, {"include_prompts": include_prompts, "format": fmt}
        )
    return _report_response(html, fmt)
