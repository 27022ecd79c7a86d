"""The append-only audit log: who did or saw what, when, from where.

Rows are only ever inserted. The ORM refuses to flush a changed or deleted
:class:`~stillwatch.cases.models.AuditEvent`, and database triggers (created by the first
migration) refuse UPDATE and DELETE on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from stillwatch.cases.common import Page, iso, paginate
from stillwatch.cases.models import AuditEvent
from stillwatch.exceptions import ConflictError
from stillwatch.security.permissions import Actor, check


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent):
            raise ConflictError("the audit log is append-only; events cannot be changed or deleted")


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event in the caller's transaction.

    Args:
        session: The open session (the event commits with the change it describes).
        actor: Who did it and from where.
        action: What happened, e.g. ``case.decide`` or ``report.prompt.view``.
        object_type: The kind of object (``case``, ``action``, ``report``…).
        object_id: The object's id.
        detail: Extra JSON-ready facts (reason, old and new values).

    Returns:
        The new event.
    """
    ev = AuditEvent(
        actor=actor.username[:64],
        role=actor.role[:32],
        source=(actor.source or "unknown")[:64],
        action=action[:64],
        object_type=object_type[:32],
        object_id=str(object_id)[:256],
        detail=detail or {},
    )
    session.add(ev)
    return ev


def event_to_dict(ev: AuditEvent) -> dict[str, Any]:
    """JSON-ready form of an audit event."""
    return {
        "id": ev.id,
        "ts": iso(ev.ts),
        "actor": ev.actor,
        "role": ev.role,
        "source": ev.source,
        "action": ev.action,
        "object_type": ev.object_type,
        "object_id": ev.object_id,
        "detail": ev.detail,
    }


def list_events(
    session: Session,
    actor: Actor,
    *,
    who: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Page through the audit log, newest first, with optional filters.

    Raises:
        PermissionDeniedError: Unless the actor may ``audit.view``.
    """
    check(actor, "audit.view")
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if who:
        stmt = stmt.where(AuditEvent.actor == who)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    return paginate(session, stmt, limit, offset, event_to_dict)
