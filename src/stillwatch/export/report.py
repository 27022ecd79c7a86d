"""Malicious-use reports for policy and legal: HTML (Jinja2, autoescaped) and PDF (weasyprint).

A report covers a case or a cluster (campaign): headline numbers, charts (Altair rendered offline to
SVG with vl-convert), a timeline of findings, decisions and actions, the evidence in words, and the
indicators. Raw prompt text is left out unless ``include_prompts`` is set.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from stillwatch.cases.common import InvalidInputError, get_or_404, iso
from stillwatch.cases.models import SEVERITIES, Case, Cluster, EnforcementAction, Finding, Report
from stillwatch.export.indicators import from_actions, from_findings
from stillwatch.export.stix import _parse, _span

FORMATS = ("html", "pdf")
_env = Environment(
    loader=PackageLoader("stillwatch.export", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def _svg_b64(spec: dict[str, Any]) -> str:
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(spec)
    return base64.b64encode(svg.encode("utf-8")).decode("ascii")


def charts(findings: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Two charts as base64 SVG: findings per day by kind, and scores by detector."""
    import altair as alt
    import pandas as pd

    rows = []
    for f in findings:
        ts = _parse(f.get("first_flagged_at")) or _parse((f.get("window") or {}).get("to"))
        rows.append(
            {
                "day": ts.date().isoformat() if ts else "unknown",
                "kind": str(f.get("kind")),
                "score": float(f.get("score", 0)),
                "detector": str((f.get("detector") or {}).get("name", "?")),
            }
        )
    if not rows:
        return []
    data = pd.DataFrame(rows)
    per_day = (
        alt.Chart(data, title="Findings per day")
        .mark_bar()
        .encode(x=alt.X("day:O", title="first flagged"), y=alt.Y("count():Q", title="findings"), color="kind:N")
        .properties(width=480, height=180)
    )
    scores = (
        alt.Chart(data, title="Scores by detector")
        .mark_tick(thickness=2, size=18)
        .encode(x=alt.X("score:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("detector:N"), color="kind:N")
        .properties(width=480, height=max(60, 22 * data["detector"].nunique()))
    )
    return [
        {"title": "Findings per day, by kind", "svg_b64": _svg_b64(per_day.to_dict())},
        {"title": "Finding scores by detector", "svg_b64": _svg_b64(scores.to_dict())},
    ]


def _numbers(findings: list[dict[str, Any]], accounts: set[str], campaign: dict[str, Any] | None) -> dict[str, Any]:
    first, last = _span(findings)
    estimated = None
    if campaign and isinstance(campaign.get("exchanges"), int | float):
        estimated = int(campaign["exchanges"])
    else:
        totals: list[float] = [
            float((f.get("estimate") or {})["exchanges"])
            for f in findings
            if isinstance((f.get("estimate") or {}).get("exchanges"), int | float)
        ]
        estimated = int(max(totals)) if totals else None
    sev = max((SEVERITIES.index(f["severity"]) for f in findings if f.get("severity") in SEVERITIES), default=-1)
    return {
        "findings": len(findings),
        "accounts": len(accounts),
        "exchanges_sampled": sum(len(f.get("exchanges") or []) for f in findings),
        "exchanges_estimated": estimated,
        "span_days": round((last - first).total_seconds() / 86400, 1),
        "severity": SEVERITIES[sev] if sev >= 0 else "n/a",
    }


def _capabilities(findings: list[dict[str, Any]], campaign: dict[str, Any] | None) -> list[tuple[str, float]]:
    caps = (campaign or {}).get("capabilities")
    if not isinstance(caps, dict):
        for f in findings:
            est = f.get("estimate") or {}
            if isinstance(est.get("capabilities"), dict):
                caps = est["capabilities"]
                break
    if not isinstance(caps, dict):
        return []
    return sorted(((str(k), float(v)) for k, v in caps.items() if isinstance(v, int | float)), key=lambda kv: -kv[1])


def _context(
    session: Session,
    *,
    title: str,
    subject: str,
    findings: list[dict[str, Any]],
    actions: list[EnforcementAction],
    campaign: dict[str, Any] | None,
    case: Case | None,
    include_prompts: bool,
    tlp: str,
) -> dict[str, Any]:
    accounts = {str(a) for f in findings for a in (f.get("accounts") or [])}
    timeline: list[dict[str, Any]] = []
    for f in findings:
        at = f.get("first_flagged_at")
        timeline.append(
            {
                "at": at or "",
                "what": f"flagged: {f.get('kind')} by {(f.get('detector') or {}).get('name')}",
                "who": "detector",
            }
        )
    if case is not None:
        timeline.append({"at": iso(case.created_at), "what": "case opened", "who": "system"})
        for d in case.decisions:
            timeline.append({"at": iso(d.created_at), "what": f"decided {d.outcome}: {d.reason}", "who": d.decided_by})
    for a in actions:
        timeline.append(
            {"at": iso(a.created_at), "what": f"{a.action} {a.target_type} {a.target}: {a.reason}", "who": a.created_by}
        )
        if a.reversed_at:
            timeline.append(
                {
                    "at": iso(a.reversed_at),
                    "what": f"reversed {a.action} {a.target}: {a.reversal_reason}",
                    "who": a.reversed_by,
                }
            )
    timeline.sort(key=lambda e: str(e["at"]))
    prompts = []
    if include_prompts:
        ids = sorted({str(f["report_id"]) for f in findings if f.get("report_id")})
        for r in session.scalars(select(Report).where(Report.report_id.in_(ids))):
            prompts.append({"report_id": r.report_id, "title": r.title, "text": r.prompt_text})
    action_dicts = [{"target_type": a.target_type, "target": a.target, "status": a.status, "id": a.id} for a in actions]
    inds = from_findings(findings) + from_actions(action_dicts)
    return {
        "title": title,
        "subject": subject,
        "tlp": tlp,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "numbers": _numbers(findings, accounts, campaign),
        "capabilities": _capabilities(findings, campaign),
        "status": case.status if case else None,
        "decision": case.decision if case else None,
        "charts": charts(findings),
        "timeline": timeline,
        "findings": findings,
        "indicators": list({(i.type, i.value): i for i in inds}.values()),
        "include_prompts": include_prompts,
        "prompts": prompts,
    }


def render_case_html(session: Session, case_id: int, *, include_prompts: bool = False, tlp: str = "amber") -> str:
    """The HTML report of a case.

    Raises:
        NotFoundError: If the case does not exist.
    """
    case = get_or_404(session, Case, case_id, "case")
    actions = list(session.scalars(select(EnforcementAction).where(EnforcementAction.case_id == case.id)))
    ctx = _context(
        session,
        title=f"Case {case.id}: {case.kind}",
        subject=f"{case.entity_type} {case.entity_id}",
        findings=[f.payload for f in case.findings],
        actions=actions,
        campaign=None,
        case=case,
        include_prompts=include_prompts,
        tlp=tlp,
    )
    return _env.get_template("report.html").render(**ctx)


def render_cluster_html(session: Session, cluster_id: str, *, include_prompts: bool = False, tlp: str = "amber") -> str:
    """The HTML report of a cluster (campaign).

    Raises:
        NotFoundError: If the cluster does not exist.
    """
    cluster = get_or_404(session, Cluster, cluster_id, "cluster")
    members = [str(a) for a in cluster.accounts][:5000]
    rows = session.scalars(
        select(Finding).where(
            ((Finding.entity == "cluster") & (Finding.entity_id == cluster_id))
            | ((Finding.entity == "account") & Finding.entity_id.in_(members))
        )
    ).all()
    actions = list(
        session.scalars(
            select(EnforcementAction).where(
                (EnforcementAction.target_type == "cluster") & (EnforcementAction.target == cluster_id)
            )
        )
    )
    findings = [f.payload for f in rows]
    ctx = _context(
        session,
        title=f"Campaign {cluster_id}",
        subject=f"cluster {cluster_id} ({len(members)} accounts)",
        findings=findings,
        actions=actions,
        campaign=cluster.campaign,
        case=None,
        include_prompts=include_prompts,
        tlp=tlp,
    )
    ctx["numbers"]["accounts"] = max(ctx["numbers"]["accounts"], len(members))
    return _env.get_template("report.html").render(**ctx)


def to_pdf(html: str) -> bytes:
    """Render report HTML to PDF bytes with weasyprint."""
    import weasyprint

    data = weasyprint.HTML(string=html).write_pdf()
    assert data is not None
    return bytes(data)


def write_report(html: str, fmt: str, out: Path) -> Path:
    """Write an HTML report as ``html`` or ``pdf``.

    Raises:
        InvalidInputError: For another format.
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"format must be html or pdf; got {fmt!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        out.write_text(html, encoding="utf-8")
    else:
        out.write_bytes(to_pdf(html))
    return out
