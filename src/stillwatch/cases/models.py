"""SQLAlchemy 2 models of the case store.

Tables: roles, users, api_tokens, entities, cases, case_entities, findings, clusters, notes,
decisions, enforcement_actions, appeals, reports, audit_events. Mutable rows that people edit
(cases, actions, appeals, reports) carry a ``version`` column used for optimistic locking: a stale
write raises :class:`sqlalchemy.orm.exc.StaleDataError`, which the services turn into
:class:`~stillwatch.exceptions.ConflictError` (HTTP 409).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Entity types a case, a finding or an action can be about.
ENTITY_TYPES: tuple[str, ...] = ("account", "api_key", "cluster", "egress", "exchange")
#: Enforcement targets (a subset of entity types).
TARGET_TYPES: tuple[str, ...] = ("account", "api_key", "cluster", "egress")
#: Enforcement actions from the mildest to the strongest.
ACTION_KINDS: tuple[str, ...] = ("warn", "throttle", "challenge", "suspend", "ban")
SEVERE_ACTIONS: frozenset[str] = frozenset({"suspend", "ban"})
CASE_STATUSES: tuple[str, ...] = ("open", "confirmed", "closed")
DECISION_OUTCOMES: tuple[str, ...] = ("confirmed", "benign", "needs_more_data")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC before storing; naive values are taken as UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every case-store table."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Role(Base):
    """A role; its permissions live in code (:mod:`stillwatch.security.permissions`)."""

    __tablename__ = "roles"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    description: Mapped[str] = mapped_column(String(200), default="")


class User(Base):
    """A person or a service (e.g. the gateway) that uses stillwatch."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(ForeignKey("roles.name"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(Base):
    """An API token; only its SHA-256 hash is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    user: Mapped[User] = relationship()


class Entity(Base):
    """Something a case is about: an account, API key, cluster, egress IP/network or exchange."""

    __tablename__ = "entities"
    __table_args__ = (UniqueConstraint("type", "value", name="uq_entity_type_value"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(256))


class CaseEntity(Base):
    """Link between a case and an entity (``primary`` or ``member``)."""

    __tablename__ = "case_entities"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    entity: Mapped[Entity] = relationship()


class Case(Base):
    """One investigation: findings about one entity or cluster, a decision, actions."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(16), index=True)
    entity_id: Mapped[str] = mapped_column(String(256), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    severity: Mapped[str] = mapped_column(String(16), default="medium")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    __mapper_args__ = {"version_id_col": version}

    assignee: Mapped[User | None] = relationship()
    findings: Mapped[list[Finding]] = relationship(back_populates="case", order_by="Finding.first_flagged_at")
    notes: Mapped[list[Note]] = relationship(order_by="Note.id")
    decisions: Mapped[list[Decision]] = relationship(order_by="Decision.id")
    entities: Mapped[list[CaseEntity]] = relationship()


class Finding(Base):
    """A findings-v1 record; ``payload`` keeps the whole dict as received."""

    __tablename__ = "findings"
    finding_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(256), index=True)
    score: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(16))
    detector_name: Mapped[str] = mapped_column(String(100))
    detector_version: Mapped[str] = mapped_column(String(50), default="")
    detector_status: Mapped[str] = mapped_column(String(16), default="active")
    first_flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    report_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    case: Mapped[Case | None] = relationship(back_populates="findings")


class Cluster(Base):
    """A clusters-v1 record: linked accounts and, for campaigns, totals."""

    __tablename__ = "clusters"
    cluster_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    accounts: Mapped[list[Any]] = mapped_column(JSON)
    links: Mapped[list[Any]] = mapped_column(JSON)
    campaign: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Note(Base):
    """A note on a case."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Decision(Base):
    """A decision on a case, with its required reason."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EnforcementAction(Base):
    """An enforcement action on an account, key, cluster or egress; reversible with a reason."""

    __tablename__ = "enforcement_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16), index=True)
    target: Mapped[str] = mapped_column(String(256), index=True)
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    reversed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reversal_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    __mapper_args__ = {"version_id_col": version}


class Appeal(Base):
    """A customer's appeal against an enforcement action."""

    __tablename__ = "appeals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("enforcement_actions.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(256))
    statement: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(256), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    entered_by: Mapped[str] = mapped_column(String(64))
    reviewer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    customer_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    __mapper_args__ = {"version_id_col": version}
    action: Mapped[EnforcementAction] = relationship()


class Report(Base):
    """A jailbreak or abuse report (provider-logs-v1 §4) in the triage queue."""

    __tablename__ = "reports"
    report_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    source: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500))
    prompt: Mapped[Any] = mapped_column(JSON)
    prompt_text: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    severity_claimed: Mapped[str | None] = mapped_column(String(32), nullable=True)
    severity: Mapped[str] = mapped_column(String(16), default="medium")
    reporter: Mapped[str | None] = mapped_column(String(256), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    text_hash: Mapped[str] = mapped_column(String(64), index=True)
    minhash: Mapped[list[Any]] = mapped_column(JSON)
    duplicate_of: Mapped[str | None] = mapped_column(String(200), nullable=True)
    similarity: Mapped[float | None] = mapped_column(Float, nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    hits: Mapped[list[Any]] = mapped_column(JSON, default=list)
    retro_hunt_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    triaged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    triage_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    __mapper_args__ = {"version_id_col": version}


class AuditEvent(Base):
    """One line of the append-only audit log (UPDATE and DELETE are refused by triggers)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(256))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
