"""Enforcement actions and the enforcement list the gateway reads.

An action (warn, throttle, challenge, suspend, ban) targets an account, an API key, a cluster or an
egress (an IP address or a network in CIDR form). Suspend and ban need ``action.create_severe``
(lead). An action tied to a case needs the case decided ``confirmed`` first. Reversal needs a
reason and is audited; nothing is deleted.

The enforcement list is computed from the database on every call (no caching), so a change is
visible to the next request; its ETag is a hash of the content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import ipaddress
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
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
from stillwatch.cases.models import (
    ACTION_KINDS,
    SEVERE_ACTIONS,
    TARGET_TYPES,
    Case,
    Cluster,
    EnforcementAction,
    utcnow,
)
from stillwatch.exceptions import ConflictError
from stillwatch.security.permissions import Actor, check

if TYPE_CHECKING:
    from stillwatch.config import Settings

_RANK = {a: i for i, a in enumerate(ACTION_KINDS)}
CSV_COLUMNS = (
    "target_type",
    "target",
    "action",
    "since",
    "expires_at",
    "action_id",
    "case_id",
    "via_cluster",
)


def normalise_target(target_type: Any, target: Any) -> tuple[str, str]:
    """Validate a target; egress values are normalised (``10.0.0.0/8``, ``2001:db8::1``).

    Raises:
        InvalidInputError: For an unknown type, a blank id or an egress that is not an IP or network.
    """
    ttype = check_choice(target_type, "target_type", TARGET_TYPES)
    value = check_text(target, "target", max_len=MAX_SHORT)
    assert value is not None
    if ttype == "egress":
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise InvalidInputError(f"egress must be an IP address or a CIDR network; got {value[:60]!r}") from exc
        value = str(net.network_address) if net.num_addresses == 1 else str(net)
    return ttype, value


def action_to_dict(a: EnforcementAction) -> dict[str, Any]:
    """JSON-ready form of an enforcement action."""
    return {
        "id": a.id,
        "target_type": a.target_type,
        "target": a.target,
        "action": a.action,
        "reason": a.reason,
        "case_id": a.case_id,
        "status": a.status,
        "created_by": a.created_by,
        "created_at": iso(a.created_at),
        "expires_at": iso(a.expires_at),
        "reversed_by": a.reversed_by,
        "reversed_at": iso(a.reversed_at),
        "reversal_reason": a.reversal_reason,
        "version": a.version,
    }


def take_action(
    session: Session,
    target_type: Any,
    target: Any,
    action: Any,
    reason: Any,
    actor: Actor,
    *,
    case_id: int | None = None,
    expires_at: datetime | None = None,
) -> EnforcementAction:
    """Record an enforcement action.

    Args:
        session: Open session.
        target_type: ``account``, ``api_key``, ``cluster`` or ``egress``.
        target: The id, or for egress an IP address or CIDR network.
        action: ``warn``, ``throttle``, ``challenge``, ``suspend`` or ``ban``.
        reason: Why (required).
        actor: Who acts.
        case_id: The case this follows from; it must be decided ``confirmed``.
        expires_at: When the action lapses (``None``: until reversed).

    Raises:
        PermissionDeniedError: Missing ``action.create`` (or ``action.create_severe`` for suspend/ban).
        ConflictError: The case is not confirmed, or expires_at is in the past.
    """
    check(actor, "action.create")
    kind = check_choice(action, "action", ACTION_KINDS)
    if kind in SEVERE_ACTIONS:
        check(actor, "action.create_severe")
    ttype, value = normalise_target(target_type, target)
    text = check_text(reason, "reason")
    if case_id is not None:
        case = get_or_404(session, Case, case_id, "case")
        if case.status != "confirmed":
            raise ConflictError(
                f"case {case.id} is {case.status}; decide it as confirmed before enforcing",
                hint="or act without a case",
            )
    if expires_at is not None and expires_at <= utcnow():
        raise ConflictError("expires_at is in the past")
    row = EnforcementAction(
        target_type=ttype,
        target=value,
        action=kind,
        reason=text,
        case_id=case_id,
        created_by=actor.username,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "action.create", "action", row.id, {"target": f"{ttype}:{value}", "action": kind})
    return row


def reverse_action(
    session: Session, action_id: int, reason: Any, actor: Actor, *, expected_version: int | None = None
) -> EnforcementAction:
    """Reverse an active action with a reason (kept in the record and the audit log).

    Raises:
        ConflictError: If the action is already reversed or changed since ``expected_version``.
    """
    check(actor, "action.reverse")
    return _reverse(session, action_id, reason, actor, expected_version)


def _reverse(
    session: Session, action_id: int, reason: Any, actor: Actor, expected_version: int | None
) -> EnforcementAction:
    text = check_text(reason, "reason")
    row = get_or_404(session, EnforcementAction, action_id, "action")
    check_version(row.version, expected_version, f"action {action_id}")
    if row.status != "active":
        raise ConflictError(f"action {row.id} is already {row.status}")
    row.status = "reversed"
    row.reversed_by = actor.username
    row.reversed_at = utcnow()
    row.reversal_reason = text
    session.flush()
    audit.record(session, actor, "action.reverse", "action", row.id, {"reason": text})
    return row


def list_actions(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    target_type: str | None = None,
    target: str | None = None,
    case_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Page through enforcement actions, newest first."""
    check(actor, "action.view")
    stmt = select(EnforcementAction).order_by(EnforcementAction.id.desc())
    if status:
        stmt = stmt.where(EnforcementAction.status == check_choice(status, "status", ("active", "reversed")))
    if target_type:
        stmt = stmt.where(EnforcementAction.target_type == target_type)
    if target:
        stmt = stmt.where(EnforcementAction.target == target)
    if case_id is not None:
        stmt = stmt.where(EnforcementAction.case_id == case_id)
    return paginate(session, stmt, limit, offset, action_to_dict)


@dataclass(frozen=True)
class EnforcementList:
    """The current enforcement list.

    Attributes:
        entries: One dict per (target, action): ``target_type``, ``target``, ``action``, ``since``,
            ``expires_at``, ``action_id``, ``case_id``, ``via_cluster`` (for accounts listed because
            their cluster is enforced).
        etag: A strong ETag of the entries (quoted).
        generated_at: When the list was computed (RFC 3339).
    """

    entries: list[dict[str, Any]]
    etag: str
    generated_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON body served to gateways."""
        return {
            "generated_at": self.generated_at,
            "etag": self.etag,
            "count": len(self.entries),
            "entries": self.entries,
        }

    def to_csv(self) -> str:
        """CSV with a header row (columns :data:`CSV_COLUMNS`)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for entry in self.entries:
            writer.writerow({k: _csv_safe(entry.get(k)) for k in CSV_COLUMNS})
        return buf.getvalue()


def _csv_safe(value: Any) -> Any:
    # Keep spreadsheet programs from running formulas planted in ids.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def enforcement_list(session: Session) -> EnforcementList:
    """The active, unexpired actions, with cluster actions expanded to member accounts.

    Sorted by target and strength (strongest last per target), so gateways can take the last entry
    for a target as the one to apply.
    """
    now = utcnow()
    stmt = select(EnforcementAction).where(
        EnforcementAction.status == "active",
        or_(EnforcementAction.expires_at.is_(None), EnforcementAction.expires_at > now),
    )
    entries: list[dict[str, Any]] = []
    for a in session.scalars(stmt):
        base = {
            "action": a.action,
            "since": iso(a.created_at),
            "expires_at": iso(a.expires_at),
            "action_id": a.id,
            "case_id": a.case_id,
            "via_cluster": None,
        }
        entries.append({"target_type": a.target_type, "target": a.target, **base})
        if a.target_type == "cluster":
            cluster = session.get(Cluster, a.target)
            for acc in cluster.accounts if cluster else []:
                entries.append({"target_type": "account", "target": str(acc), **base, "via_cluster": a.target})
    entries.sort(key=lambda e: (e["target_type"], e["target"], _RANK[e["action"]], e["action_id"]))
    body = json.dumps(entries, sort_keys=True, separators=(",", ":"))
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    return EnforcementList(entries, etag, iso(now) or "")


_STORES: dict[str, Any] = {}
_STORES_LOCK = threading.Lock()


def current_enforcement_list(settings: Settings) -> list[dict[str, Any]]:
    """The current enforcement list for a settings object (for the decision service).

    The case store at ``settings.case_store_url`` is opened (and migrated) once per process and
    kept; every call reads the database again, so changes show up on the next call.

    Returns:
        The entries, as documented on :class:`EnforcementList` (strongest action last per target).
    """
    from stillwatch.cases.db import open_store

    url = settings.case_store_url
    with _STORES_LOCK:
        store = _STORES.get(url)
        if store is None:
            store = _STORES[url] = open_store(url)
    with store.session() as session:
        return enforcement_list(session).entries


def close_cached_stores() -> None:
    """Dispose of the stores :func:`current_enforcement_list` keeps open (tests, shutdown)."""
    with _STORES_LOCK:
        for store in _STORES.values():
            store.dispose()
        _STORES.clear()
