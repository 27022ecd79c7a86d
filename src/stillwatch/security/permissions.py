"""Actions × roles, default deny.

Every route of the API and every state change of the case store names one *action* from
:data:`ACTIONS`. A role is allowed an action only if :data:`GRANTS` lists it; anything else (an
unknown role, an unknown action, an inactive user) is denied. Roles are cumulative: each one has
everything the role before it has.

| role    | for whom                                                              |
|---------|-----------------------------------------------------------------------|
| viewer  | read-only: queues, cases, findings, the enforcement list (gateways)   |
| analyst | works cases: notes, decisions, light enforcement, report triage       |
| lead    | suspends and bans, reverses actions, reviews appeals, reads the audit |
| admin   | manages users and tokens                                              |
"""

from __future__ import annotations

from dataclasses import dataclass

from stillwatch.exceptions import PermissionDeniedError

#: Every action, with what it allows. Documented in docs/cases.md (a test checks it).
ACTIONS: dict[str, str] = {
    "finding.view": "list and read findings",
    "cluster.view": "list and read clusters and campaigns",
    "case.view": "list and read cases (each read of one case is audited)",
    "case.import": "open cases from findings (findings-v1 JSONL or JSON)",
    "case.assign": "assign a case to a user",
    "case.note": "add a note to a case",
    "case.decide": "decide a case: confirmed, benign or needs_more_data, with a reason",
    "case.close": "close a confirmed case or reopen a closed one",
    "action.view": "list and read enforcement actions",
    "action.create": "warn, throttle or challenge an account, key, cluster or egress",
    "action.create_severe": "suspend or ban an account, key, cluster or egress",
    "action.reverse": "reverse an enforcement action, with a reason",
    "enforcement.view": "read the enforcement list (JSON, CSV) used by the gateway",
    "appeal.create": "enter a customer's appeal against an action",
    "appeal.view": "read the appeal queue",
    "appeal.review": "uphold or reverse an appealed action (never one's own action)",
    "report.view": "read the jailbreak-report triage queue (without prompt text or reporter)",
    "report.create": "submit a jailbreak or abuse report",
    "report.triage": "set severity and status of a report, run the retro-hunt",
    "report.reporter": "see who reported a jailbreak",
    "prompt.view": "read raw prompt text (every read is audited)",
    "export.stix": "export STIX 2.1 bundles",
    "export.report": "export malicious-use reports (HTML, PDF)",
    "audit.view": "read the audit log",
    "user.manage": "create users, change roles, issue and revoke tokens",
    "self.view": "see one's own user, role and permissions",
}

#: Roles from least to most privileged.
ROLES: tuple[str, ...] = ("viewer", "analyst", "lead", "admin")

_VIEWER = frozenset(
    {
        "finding.view",
        "cluster.view",
        "case.view",
        "action.view",
        "enforcement.view",
        "appeal.view",
        "report.view",
        "self.view",
    }
)
_ANALYST = _VIEWER | {
    "case.import",
    "case.assign",
    "case.note",
    "case.decide",
    "action.create",
    "appeal.create",
    "appeal.review",
    "report.create",
    "report.triage",
    "prompt.view",
    "export.stix",
    "export.report",
}
_LEAD = _ANALYST | {"case.close", "action.create_severe", "action.reverse", "report.reporter", "audit.view"}
_ADMIN = _LEAD | {"user.manage"}

#: The grants; nothing outside them is allowed.
GRANTS: dict[str, frozenset[str]] = {
    "viewer": _VIEWER,
    "analyst": frozenset(_ANALYST),
    "lead": frozenset(_LEAD),
    "admin": frozenset(_ADMIN),
}


@dataclass(frozen=True)
class Actor:
    """Who does something, as recorded in the audit log.

    Attributes:
        username: The user's name (``system`` for automatic steps).
        role: One of :data:`ROLES`.
        source: Where the request came from: a client IP, ``cli`` or ``system``.
        user_id: The user's id in the case store, when there is one.
    """

    username: str
    role: str
    source: str = "system"
    user_id: int | None = None


SYSTEM = Actor(username="system", role="admin", source="system")


def is_allowed(role: str | None, action: str) -> bool:
    """Whether ``role`` may perform ``action``; unknown roles and actions are denied.

    Args:
        role: A role name, or ``None`` for an anonymous caller.
        action: An action name from :data:`ACTIONS`.

    Returns:
        ``True`` only if the role's grants list the action.
    """
    if role is None or action not in ACTIONS:
        return False
    return action in GRANTS.get(role, frozenset())


def permissions_of(role: str) -> list[str]:
    """The sorted actions a role may perform (empty for an unknown role)."""
    return sorted(GRANTS.get(role, frozenset()))


def check(actor: Actor, action: str) -> None:
    """Raise unless ``actor`` may perform ``action``.

    Raises:
        PermissionDeniedError: Naming the role and the action.
    """
    if not is_allowed(actor.role, action):
        raise PermissionDeniedError(
            f"role {actor.role!r} may not {action!r}", hint="ask a lead or an admin for the right role"
        )
