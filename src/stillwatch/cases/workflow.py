"""Case workflow: findings open or join cases; assign, note, decide, close, reopen.

Lifecycle of a case::

    open --decide(confirmed)--> confirmed --close--> closed --reopen--> open
    open --decide(benign)--> closed
    open --decide(needs_more_data)--> open   (recorded, stays in the queue)

A finding joins the open (``open`` or ``confirmed``) case of the same entity, or of a cluster case
that lists the account as a member; otherwise it opens a new case. ``finding_id`` is stable, so a
re-run updates findings in place and never opens duplicates. Findings of detectors in ``shadow``
status are recorded but never open or join cases.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stillwatch.cases import audit
from stillwatch.cases.clusters import cluster_to_dict, import_clusters
from stillwatch.cases.common import (
    MAX_SHORT,
    InvalidInputError,
    Page,
    check_choice,
    check_text,
    check_version,
    get_or_404,
    iso,
    json_safe,
    paginate,
)
from stillwatch.cases.files import ImportResult, read_jsonl
from stillwatch.cases.models import (
    CASE_STATUSES,
    DECISION_OUTCOMES,
    SEVERITIES,
    Case,
    CaseEntity,
    Decision,
    Entity,
    Finding,
    Note,
    User,
    utcnow,
)
from stillwatch.exceptions import ConflictError, NotFoundError
from stillwatch.security.permissions import Actor, check, is_allowed

__all__ = [
    "ImportResult",
    "add_note",
    "assign",
    "case_to_dict",
    "close_case",
    "cluster_to_dict",
    "decide",
    "finding_to_dict",
    "import_clusters",
    "import_findings",
    "list_cases",
    "read_jsonl",
    "reopen_case",
    "view_case",
]

FINDING_KINDS = ("relay", "subrouting", "subsidiary", "distillation", "ban_evasion", "jailbreak")
FINDING_ENTITIES = ("account", "api_key", "exchange", "cluster")
OPEN_STATUSES = ("open", "confirmed")
_SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def _parse_ts(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(f"first_flagged_at is not RFC 3339: {str(value)[:40]!r}") from exc


def severity_of(score: float) -> str:
    """Severity for a finding that carries none: by score (0.9, 0.75, 0.5 cut-offs)."""
    return "critical" if score >= 0.9 else "high" if score >= 0.75 else "medium" if score >= 0.5 else "low"


def detector_status(finding: dict[str, Any]) -> str:
    """The detector's status (``shadow``, ``test``, ``stable``…).

    Read from ``detector.status``, ``detector_status`` or ``status``; ``shadow: true`` wins.
    """
    if finding.get("shadow") is True:
        return "shadow"
    det = finding.get("detector") or {}
    status = (det.get("status") if isinstance(det, dict) else None) or finding.get("detector_status")
    return str(status or finding.get("status") or "active")


def validate_finding(raw: Any) -> dict[str, Any]:
    """Check a findings-v1 dict and return it; raise InvalidInputError naming the problem."""
    if not isinstance(raw, dict):
        raise InvalidInputError("a finding must be a JSON object")
    fid = check_text(raw.get("finding_id"), "finding_id", max_len=200)
    check_choice(raw.get("kind"), "kind", FINDING_KINDS)
    check_choice(raw.get("entity"), "entity", FINDING_ENTITIES)
    check_text(raw.get("entity_id"), "entity_id", max_len=MAX_SHORT)
    score = raw.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise InvalidInputError(f"score must be a number in [0, 1]; got {str(score)[:30]!r}")
    if raw.get("severity") in (None, ""):
        raw = {**raw, "severity": severity_of(float(score))}
    check_choice(raw.get("severity"), "severity", SEVERITIES)
    det = raw.get("detector")
    if not isinstance(det, dict) or not isinstance(det.get("name"), str) or not det["name"]:
        raise InvalidInputError("detector must be an object with a name")
    _parse_ts(raw.get("first_flagged_at"))
    for key in ("accounts", "exchanges", "evidence"):
        if key in raw and not isinstance(raw[key], list):
            raise InvalidInputError(f"{key} must be an array")
    return {**raw, "finding_id": fid}


def _case_key(f: dict[str, Any]) -> tuple[str, str]:
    if f["entity"] == "exchange" and f.get("accounts"):
        return "account", str(f["accounts"][0])
    return f["entity"], str(f["entity_id"])


def _entity(session: Session, etype: str, value: str) -> Entity:
    ent = session.scalar(select(Entity).where(Entity.type == etype, Entity.value == value))
    if ent is None:
        ent = Entity(type=etype, value=value[:MAX_SHORT])
        session.add(ent)
        session.flush()
    return ent


def _link(session: Session, case: Case, etype: str, value: str, role: str) -> None:
    ent = _entity(session, etype, value)
    if session.get(CaseEntity, (case.id, ent.id)) is None:
        session.add(CaseEntity(case_id=case.id, entity_id=ent.id, role=role))


def _find_open_case(session: Session, etype: str, value: str) -> Case | None:
    stmt = select(Case).where(Case.entity_type == etype, Case.entity_id == value, Case.status.in_(OPEN_STATUSES))
    case = session.scalars(stmt.order_by(Case.id)).first()
    if case is None and etype == "account":
        stmt = (
            select(Case)
            .join(CaseEntity, CaseEntity.case_id == Case.id)
            .join(Entity, Entity.id == CaseEntity.entity_id)
            .where(Case.entity_type == "cluster", Case.status.in_(OPEN_STATUSES))
            .where(Entity.type == "account", Entity.value == value)
        )
        case = session.scalars(stmt.order_by(Case.id)).first()
    return case


def _attach(session: Session, case: Case, f: Finding) -> None:
    f.case_id = case.id
    if _SEV_RANK[f.severity] > _SEV_RANK.get(case.severity, 0):
        case.severity = f.severity
    case.score = max(case.score, f.score)
    case.updated_at = utcnow()
    for acc in (f.payload.get("accounts") or [])[:10_000]:
        _link(session, case, "account", str(acc), "member")


def import_findings(session: Session, findings: Iterable[Any], actor: Actor) -> ImportResult:
    """Record findings and open or join cases (idempotent on ``finding_id``).

    Args:
        session: Open session.
        findings: findings-v1 dicts, or ``(line, dict)`` pairs from :func:`read_jsonl`.
        actor: Who imports (audited).

    Returns:
        What happened, including every unreadable finding with its reason.

    Raises:
        PermissionDeniedError: Unless the actor may ``case.import``.
    """
    check(actor, "case.import")
    result = ImportResult()
    for n, item in enumerate(findings, start=1):
        line, raw = item if isinstance(item, tuple) else (n, item)
        try:
            if isinstance(raw, Exception):
                raise raw
            f = json_safe(validate_finding(raw))
        except InvalidInputError as exc:
            result.errors.append((line, str(exc)))
            continue
        _import_one(session, f, actor, result)
    audit.record(session, actor, "case.import", "findings", "-", result.as_dict() | {"errors": len(result.errors)})
    return result


def _import_one(session: Session, f: dict[str, Any], actor: Actor, result: ImportResult) -> None:
    status = detector_status(f)
    det = f["detector"]
    row = session.get(Finding, f["finding_id"])
    fields = {
        "kind": f["kind"],
        "entity": f["entity"],
        "entity_id": str(f["entity_id"]),
        "score": float(f["score"]),
        "severity": f["severity"],
        "detector_name": str(det["name"])[:100],
        "detector_version": str(det.get("version", ""))[:50],
        "detector_status": status[:16],
        "first_flagged_at": _parse_ts(f.get("first_flagged_at")),
        "report_id": (str(f["report_id"])[:200] if f.get("report_id") else None),
        "payload": f,
        "last_seen_at": utcnow(),
    }
    if row is None:
        row = Finding(finding_id=f["finding_id"], **fields)
        session.add(row)
    else:
        for key, value in fields.items():
            setattr(row, key, value)
        result.updated += 1
    session.flush()
    if status == "shadow":
        if row.case_id is None:
            result.shadow += 1
        return
    if row.case_id is not None:
        return
    etype, value = _case_key(f)
    case = _find_open_case(session, etype, value)
    if case is None:
        case = Case(
            title=f"{f['kind']}: {etype} {value}"[:300],
            kind=f["kind"],
            entity_type=etype,
            entity_id=value,
            severity=f["severity"],
            score=float(f["score"]),
        )
        session.add(case)
        session.flush()
        _link(session, case, etype, value, "primary")
        result.opened.append(case.id)
        audit.record(session, actor, "case.open", "case", case.id, {"finding_id": row.finding_id})
    else:
        result.attached += 1
        audit.record(session, actor, "case.attach_finding", "case", case.id, {"finding_id": row.finding_id})
    _attach(session, case, row)


#: Keys a finding may carry with raw prompt or response text. They are never served with findings:
#: raw prompt text is read only through a report with ``prompt.view``, and that read is audited.
PROMPT_KEYS = frozenset({"prompt", "prompt_text", "messages", "request", "response_text", "system"})


def finding_to_dict(f: Finding) -> dict[str, Any]:
    """JSON-ready form of a finding: the findings-v1 payload (minus :data:`PROMPT_KEYS`) and case fields."""
    return {
        **{k: v for k, v in f.payload.items() if k not in PROMPT_KEYS},
        "case_id": f.case_id,
        "detector_status": f.detector_status,
        "last_seen_at": iso(f.last_seen_at),
    }


def case_to_dict(case: Case, *, detail: bool = False) -> dict[str, Any]:
    """JSON-ready form of a case; ``detail`` adds findings, entities, notes and decisions."""
    out: dict[str, Any] = {
        "id": case.id,
        "title": case.title,
        "kind": case.kind,
        "entity_type": case.entity_type,
        "entity_id": case.entity_id,
        "status": case.status,
        "severity": case.severity,
        "score": case.score,
        "assignee": case.assignee.username if case.assignee else None,
        "decision": case.decision,
        "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at),
        "version": case.version,
    }
    if detail:
        out["findings"] = [finding_to_dict(f) for f in case.findings]
        out["entities"] = [{"type": ce.entity.type, "value": ce.entity.value, "role": ce.role} for ce in case.entities]
        out["notes"] = [
            {"id": n.id, "author": n.author, "body": n.body, "created_at": iso(n.created_at)} for n in case.notes
        ]
        out["decisions"] = [
            {
                "id": d.id,
                "outcome": d.outcome,
                "reason": d.reason,
                "by": d.decided_by,
                "at": iso(d.created_at),
            }
            for d in case.decisions
        ]
    return out


def list_cases(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    kind: str | None = None,
    assignee: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Page through cases, most severe and newest first."""
    check(actor, "case.view")
    stmt = select(Case)
    if status:
        stmt = stmt.where(Case.status == check_choice(status, "status", CASE_STATUSES))
    if kind:
        stmt = stmt.where(Case.kind == kind)
    if assignee:
        stmt = stmt.join(User, User.id == Case.assignee_id).where(User.username == assignee)
    stmt = stmt.order_by(Case.score.desc(), Case.id.desc())
    return paginate(session, stmt, limit, offset, case_to_dict)


def view_case(session: Session, case_id: int, actor: Actor) -> dict[str, Any]:
    """One case in full; the read is audited (``case.view``)."""
    check(actor, "case.view")
    case = get_or_404(session, Case, case_id, "case")
    audit.record(session, actor, "case.view", "case", case.id)
    return case_to_dict(case, detail=True)


def _case_for_change(session: Session, case_id: int, expected_version: int | None) -> Case:
    case = get_or_404(session, Case, case_id, "case")
    check_version(case.version, expected_version, f"case {case_id}")
    return case


def assign(
    session: Session, case_id: int, username: str | None, actor: Actor, *, expected_version: int | None = None
) -> Case:
    """Assign a case to a user (``None`` unassigns)."""
    check(actor, "case.assign")
    case = _case_for_change(session, case_id, expected_version)
    user = None
    if username:
        user = session.scalar(select(User).where(User.username == username))
        if user is None or not user.active:
            raise NotFoundError(f"user {username[:64]!r} does not exist or is inactive")
        if not is_allowed(user.role, "case.decide"):
            raise InvalidInputError(f"user {username[:64]!r} is a {user.role} and cannot work cases")
    old = case.assignee.username if case.assignee else None
    case.assignee = user
    case.updated_at = utcnow()
    audit.record(session, actor, "case.assign", "case", case.id, {"from": old, "to": username})
    session.flush()
    return case


def add_note(session: Session, case_id: int, body: Any, actor: Actor) -> Note:
    """Add a note (at most 20,000 characters) to a case."""
    check(actor, "case.note")
    text = check_text(body, "note")
    case = get_or_404(session, Case, case_id, "case")
    note = Note(case_id=case.id, author=actor.username, body=text)
    session.add(note)
    case.updated_at = utcnow()
    session.flush()
    audit.record(session, actor, "case.note", "case", case.id, {"note_id": note.id})
    return note


def decide(
    session: Session,
    case_id: int,
    outcome: Any,
    reason: Any,
    actor: Actor,
    *,
    expected_version: int | None = None,
) -> Case:
    """Decide an open case: ``confirmed``, ``benign`` or ``needs_more_data``, with a reason.

    Raises:
        ConflictError: If the case is not open, or changed since ``expected_version``.
        InvalidInputError: If the outcome is unknown or the reason blank.
    """
    check(actor, "case.decide")
    outcome = check_choice(outcome, "outcome", DECISION_OUTCOMES)
    text = check_text(reason, "reason")
    case = _case_for_change(session, case_id, expected_version)
    if case.status != "open":
        raise ConflictError(f"case {case.id} is {case.status}; only an open case can be decided")
    session.add(Decision(case_id=case.id, outcome=outcome, reason=text, decided_by=actor.username))
    case.decision = outcome
    case.status = {"confirmed": "confirmed", "benign": "closed"}.get(outcome, "open")
    case.updated_at = utcnow()
    audit.record(session, actor, "case.decide", "case", case.id, {"outcome": outcome, "reason": text})
    session.flush()
    return case


def close_case(
    session: Session, case_id: int, reason: Any, actor: Actor, *, expected_version: int | None = None
) -> Case:
    """Close a confirmed case (after enforcement) with a reason."""
    check(actor, "case.close")
    text = check_text(reason, "reason")
    case = _case_for_change(session, case_id, expected_version)
    if case.status != "confirmed":
        raise ConflictError(f"case {case.id} is {case.status}; only a confirmed case can be closed")
    case.status = "closed"
    case.updated_at = utcnow()
    audit.record(session, actor, "case.close", "case", case.id, {"reason": text})
    session.flush()
    return case


def reopen_case(
    session: Session, case_id: int, reason: Any, actor: Actor, *, expected_version: int | None = None
) -> Case:
    """Reopen a closed case with a reason."""
    check(actor, "case.close")
    text = check_text(reason, "reason")
    case = _case_for_change(session, case_id, expected_version)
    if case.status != "closed":
        raise ConflictError(f"case {case.id} is {case.status}; only a closed case can be reopened")
    case.status = "open"
    case.decision = None
    case.updated_at = utcnow()
    audit.record(session, actor, "case.reopen", "case", case.id, {"reason": text})
    session.flush()
    return case
