"""Appeals: a customer contests an enforcement action; someone else reviews it.

An appeal enters its own queue (``pending``), oldest first. The reviewer may not be the person who
took the action. The outcome is ``upheld`` (the action stays) or ``reversed`` (the action is
reversed); either way the reason is stored as text that can be sent to the customer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stillwatch.cases import audit
from stillwatch.cases.common import (
    MAX_SHORT,
    InvalidInputError,
    Page,
    check_choice,
    check_text,
    check_version,
    get_or_404,
    iso,
    paginate,
)
from stillwatch.cases.enforcement import _reverse
from stillwatch.cases.models import Appeal, EnforcementAction, utcnow
from stillwatch.exceptions import ConflictError, PermissionDeniedError
from stillwatch.security.permissions import Actor, check

APPEAL_OUTCOMES = ("upheld", "reversed")
APPEAL_STATUSES = ("pending", "upheld", "reversed")


def appeal_to_dict(a: Appeal) -> dict[str, Any]:
    """JSON-ready form of an appeal, with its age in seconds."""
    return {
        "id": a.id,
        "action_id": a.action_id,
        "account_id": a.account_id,
        "statement": a.statement,
        "contact": a.contact,
        "status": a.status,
        "received_at": iso(a.received_at),
        "age_seconds": int((utcnow() - a.received_at).total_seconds()),
        "entered_by": a.entered_by,
        "reviewer": a.reviewer,
        "decided_at": iso(a.decided_at),
        "customer_reason": a.customer_reason,
        "action": {"action": a.action.action, "target_type": a.action.target_type, "target": a.action.target},
        "version": a.version,
    }


def file_appeal(
    session: Session, action_id: int, account_id: Any, statement: Any, actor: Actor, *, contact: Any = None
) -> Appeal:
    """Enter a customer's appeal against an active action.

    Raises:
        ConflictError: The action is not active, or an appeal of it is already pending.
        InvalidInputError: The account does not match an account-targeted action, or text is bad.
    """
    check(actor, "appeal.create")
    acc = check_text(account_id, "account_id", max_len=MAX_SHORT)
    text = check_text(statement, "statement")
    mail = check_text(contact, "contact", max_len=MAX_SHORT, required=False)
    action = get_or_404(session, EnforcementAction, action_id, "action")
    if action.status != "active":
        raise ConflictError(f"action {action.id} is {action.status}; there is nothing to appeal")
    if action.target_type == "account" and action.target != acc:
        raise InvalidInputError(f"action {action.id} is not against account {str(acc)[:64]!r}")
    pending = session.scalar(select(Appeal).where(Appeal.action_id == action.id, Appeal.status == "pending"))
    if pending is not None:
        raise ConflictError(f"appeal {pending.id} against action {action.id} is already pending")
    row = Appeal(action_id=action.id, account_id=acc, statement=text, contact=mail, entered_by=actor.username)
    session.add(row)
    session.flush()
    audit.record(session, actor, "appeal.create", "appeal", row.id, {"action_id": action.id})
    return row


def appeal_queue(session: Session, actor: Actor, *, status: str = "pending", limit: int = 50, offset: int = 0) -> Page:
    """Page through appeals of a status, oldest first."""
    check(actor, "appeal.view")
    stmt = (
        select(Appeal)
        .where(Appeal.status == check_choice(status, "status", APPEAL_STATUSES))
        .order_by(Appeal.received_at, Appeal.id)
    )
    return paginate(session, stmt, limit, offset, appeal_to_dict)


def get_appeal(session: Session, appeal_id: int, actor: Actor) -> Appeal:
    """One appeal."""
    check(actor, "appeal.view")
    return get_or_404(session, Appeal, appeal_id, "appeal")


def decide_appeal(
    session: Session,
    appeal_id: int,
    outcome: Any,
    reason: Any,
    actor: Actor,
    *,
    expected_version: int | None = None,
) -> Appeal:
    """Uphold or reverse an appealed action; ``reason`` is what the customer is told.

    Raises:
        PermissionDeniedError: The reviewer took the action under appeal.
        ConflictError: The appeal is already decided or changed since ``expected_version``.
    """
    check(actor, "appeal.review")
    result = check_choice(outcome, "outcome", APPEAL_OUTCOMES)
    text = check_text(reason, "reason")
    appeal = get_or_404(session, Appeal, appeal_id, "appeal")
    check_version(appeal.version, expected_version, f"appeal {appeal_id}")
    if appeal.status != "pending":
        raise ConflictError(f"appeal {appeal.id} is already {appeal.status}")
    if appeal.action.created_by == actor.username:
        raise PermissionDeniedError(
            f"{actor.username} took action {appeal.action_id}; someone else must review the appeal"
        )
    if result == "reversed":
        _reverse(session, appeal.action_id, f"appeal {appeal.id}: {text}", actor, None)
    appeal.status = result
    appeal.reviewer = actor.username
    appeal.decided_at = utcnow()
    appeal.customer_reason = text
    session.flush()
    audit.record(session, actor, "appeal.decide", "appeal", appeal.id, {"outcome": result, "reason": text})
    return appeal
