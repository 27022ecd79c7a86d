"""Jailbreak-report triage: intake, de-duplication, due times, retro-hunt.

Reports (provider-logs-v1 §4) arrive by API or from ``reports.jsonl``. Each gets:

* a normalised text (Messages arrays flattened, Unicode NFKC, case-folded, whitespace collapsed),
  its SHA-256 (exact duplicates) and a MinHash of character 5-grams (near duplicates, estimated
  Jaccard ≥ :data:`NEAR_DUPLICATE`); a duplicate is kept, marked ``duplicate`` and points at the
  first report;
* a severity (the claimed one if it is a known level, else ``medium``) and a due time from
  :data:`DUE_BY_SEVERITY`;
* the hits of the retro-hunt hook (:class:`~stillwatch.cases.retro_hunt.RetroHunt`), or the error
  it raised (the report is stored either way).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from datasketch import MinHash
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
    json_safe,
    paginate,
)
from stillwatch.cases.models import SEVERITIES, Report, utcnow
from stillwatch.cases.retro_hunt import ReportForHunt, RetroHunt, no_retro_hunt
from stillwatch.cases.workflow import ImportResult, read_jsonl
from stillwatch.exceptions import ConflictError
from stillwatch.security.permissions import Actor, check

SOURCES = ("bug_bounty", "partner", "public", "internal")
REPORT_STATUSES = ("new", "triaging", "confirmed", "rejected", "duplicate")
QUEUE_STATUSES = ("new", "triaging")
DUE_BY_SEVERITY: dict[str, timedelta] = {
    "critical": timedelta(hours=4),
    "high": timedelta(hours=24),
    "medium": timedelta(hours=72),
    "low": timedelta(days=7),
}
NEAR_DUPLICATE = 0.8
MAX_PROMPT = 200_000
NUM_PERM = 64
SCHEME = "affine32"  # 32-bit values: JSON-safe on every database
_SPACES = re.compile(r"\s+")


def prompt_text(prompt: Any) -> str:
    """Flatten a prompt (text, a Messages array, or ``{system, messages}``) to plain text."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, dict):
        parts = [prompt_text(prompt.get("system") or "")] if prompt.get("system") else []
        if "messages" in prompt:
            parts.append(prompt_text(prompt["messages"]))
        elif "content" in prompt:
            parts.append(prompt_text(prompt["content"]))
        elif "text" in prompt:
            parts.append(prompt_text(prompt["text"]))
        return "\n".join(p for p in parts if p)
    if isinstance(prompt, list):
        return "\n".join(t for t in (prompt_text(p) for p in prompt) if t)
    return ""


def normalise(text: str) -> str:
    """NFKC, case-fold and collapse whitespace."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def minhash_of(text: str) -> MinHash:
    """MinHash (64 permutations, fixed seed) of the character 5-grams of normalised text."""
    mh = MinHash(num_perm=NUM_PERM, seed=7, scheme=SCHEME)
    grams = {text[i : i + 5] for i in range(max(1, len(text) - 4))}
    for g in grams:
        mh.update(g.encode("utf-8"))
    return mh


def _similarity(a: list[int], b: MinHash) -> float:
    other = MinHash(num_perm=NUM_PERM, seed=7, hashvalues=a, scheme=SCHEME)
    return float(b.jaccard(other))


def _severity(claimed: Any) -> str:
    value = str(claimed or "").strip().lower()
    return value if value in SEVERITIES else "medium"


def _received(value: Any) -> datetime:
    if not value:
        return utcnow()
    try:
        ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(f"received_at is not RFC 3339: {str(value)[:40]!r}") from exc
    if ts.tzinfo is None:
        raise InvalidInputError("received_at needs a UTC offset or Z")
    return ts


def report_to_dict(r: Report, *, include_prompt: bool = False, include_reporter: bool = False) -> dict[str, Any]:
    """JSON-ready form; prompt text and reporter only when asked (and allowed by the caller)."""
    now = utcnow()
    out: dict[str, Any] = {
        "report_id": r.report_id,
        "received_at": iso(r.received_at),
        "source": r.source,
        "title": r.title,
        "model": r.model,
        "severity_claimed": r.severity_claimed,
        "severity": r.severity,
        "status": r.status,
        "duplicate_of": r.duplicate_of,
        "similarity": r.similarity,
        "due_at": iso(r.due_at),
        "age_seconds": int((now - r.received_at).total_seconds()),
        "due_in_seconds": int((r.due_at - now).total_seconds()),
        "overdue": r.status in QUEUE_STATUSES and r.due_at < now,
        "text_hash": r.text_hash,
        "hits": r.hits,
        "retro_hunt_error": r.retro_hunt_error,
        "triaged_by": r.triaged_by,
        "triage_reason": r.triage_reason,
        "version": r.version,
    }
    if include_prompt:
        out["prompt"] = r.prompt
    if include_reporter:
        out["reporter"] = r.reporter
    return out


def _hunt_input(r: Report) -> ReportForHunt:
    return {
        "report_id": r.report_id,
        "title": r.title,
        "prompt": r.prompt,
        "prompt_text": r.prompt_text,
        "model": r.model,
        "received_at": iso(r.received_at) or "",
    }


def _run_hunt(r: Report, retro_hunt: RetroHunt) -> None:
    try:
        hits = retro_hunt(_hunt_input(r))
        r.hits = json_safe([dict(h) for h in hits][:10_000])
        r.retro_hunt_error = None
    except Exception as exc:  # a failing hook never loses the report
        r.retro_hunt_error = f"{type(exc).__name__}: {exc}"[:2000]


def submit_report(session: Session, raw: Any, actor: Actor, *, retro_hunt: RetroHunt | None = None) -> Report:
    """Take in one report: validate, de-duplicate, set the due time, run the retro-hunt.

    Re-submitting the same ``report_id`` with the same text returns the stored report unchanged.

    Raises:
        InvalidInputError: A missing or malformed field.
        ConflictError: The ``report_id`` exists with a different prompt.
    """
    check(actor, "report.create")
    if not isinstance(raw, dict):
        raise InvalidInputError("a report must be a JSON object")
    rid = check_text(raw.get("report_id"), "report_id", max_len=200)
    source = check_choice(raw.get("source", "public"), "source", SOURCES)
    title = check_text(raw.get("title"), "title", max_len=500)
    prompt = raw.get("prompt")
    if not isinstance(prompt, str | list | dict):
        raise InvalidInputError("prompt must be text or a Messages array")
    text = prompt_text(prompt)
    check_text(text, "prompt", max_len=MAX_PROMPT)
    model = check_text(raw.get("model"), "model", max_len=100, required=False)
    claimed = check_text(raw.get("severity_claimed"), "severity_claimed", max_len=32, required=False)
    reporter = check_text(raw.get("reporter"), "reporter", max_len=MAX_SHORT, required=False)
    received = _received(raw.get("received_at"))
    norm = normalise(text)
    digest = hashlib.sha256(norm.encode("utf-8")).hexdigest()
    existing = session.get(Report, rid)
    if existing is not None:
        if existing.text_hash == digest:
            return existing
        raise ConflictError(f"report {rid!r} already exists with a different prompt")
    mh = minhash_of(norm)
    severity = _severity(claimed)
    known = {"report_id", "received_at", "source", "title", "prompt", "model", "severity_claimed", "reporter"}
    row = Report(
        report_id=rid,
        received_at=received,
        source=source,
        title=title,
        prompt=prompt,
        prompt_text=text,
        model=model,
        severity_claimed=claimed,
        severity=severity,
        reporter=reporter,
        text_hash=digest,
        minhash=[int(v) for v in mh.hashvalues],
        due_at=received + DUE_BY_SEVERITY[severity],
        hits=[],
        extra={k: v for k, v in raw.items() if k not in known},
    )
    original, similarity = _find_duplicate(session, digest, mh)
    if original is not None:
        row.status, row.duplicate_of, row.similarity = "duplicate", original.report_id, similarity
    else:
        _run_hunt(row, retro_hunt or no_retro_hunt)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "report.create",
        "report",
        rid,
        {"duplicate_of": row.duplicate_of, "hits": len(row.hits), "source": source},
    )
    return row


def _find_duplicate(session: Session, digest: str, mh: MinHash) -> tuple[Report | None, float | None]:
    exact = session.scalars(
        select(Report).where(Report.text_hash == digest, Report.duplicate_of.is_(None)).order_by(Report.received_at)
    ).first()
    if exact is not None:
        return exact, 1.0
    best: tuple[Report | None, float | None] = (None, None)
    stmt = select(Report).where(Report.duplicate_of.is_(None)).order_by(Report.received_at.desc()).limit(5000)
    for other in session.scalars(stmt):
        sim = _similarity(other.minhash, mh)
        if sim >= NEAR_DUPLICATE and (best[1] is None or sim > best[1]):
            best = (other, sim)
    return best


def triage_queue(
    session: Session, actor: Actor, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> Page:
    """Reports waiting for triage (``new``, ``triaging``) or of one status, soonest due first."""
    check(actor, "report.view")
    stmt = select(Report)
    if status:
        stmt = stmt.where(Report.status == check_choice(status, "status", REPORT_STATUSES))
    else:
        stmt = stmt.where(Report.status.in_(QUEUE_STATUSES))
    stmt = stmt.order_by(Report.due_at, Report.received_at)
    include_reporter = actor.role is not None and _may(actor, "report.reporter")
    return paginate(session, stmt, limit, offset, lambda r: report_to_dict(r, include_reporter=include_reporter))


def _may(actor: Actor, action: str) -> bool:
    from stillwatch.security.permissions import is_allowed

    return is_allowed(actor.role, action)


def view_report(session: Session, report_id: str, actor: Actor, *, include_prompt: bool = False) -> dict[str, Any]:
    """One report; the prompt text only with ``prompt.view``, and that read is audited."""
    check(actor, "report.view")
    row = get_or_404(session, Report, report_id, "report")
    if include_prompt:
        check(actor, "prompt.view")
        audit.record(session, actor, "report.prompt.view", "report", row.report_id)
    return report_to_dict(row, include_prompt=include_prompt, include_reporter=_may(actor, "report.reporter"))


def triage(
    session: Session,
    report_id: str,
    actor: Actor,
    *,
    status: Any = None,
    severity: Any = None,
    reason: Any = None,
    expected_version: int | None = None,
) -> Report:
    """Set a report's status and/or severity (severity moves the due time), with a reason.

    Raises:
        ConflictError: The report changed since ``expected_version``.
        InvalidInputError: Nothing to change, an unknown value or a blank reason.
    """
    check(actor, "report.triage")
    if status is None and severity is None:
        raise InvalidInputError("give a status, a severity or both")
    text = check_text(reason, "reason")
    row = get_or_404(session, Report, report_id, "report")
    check_version(row.version, expected_version, f"report {report_id}")
    change: dict[str, Any] = {"reason": text}
    if status is not None:
        change["status"] = [row.status, check_choice(status, "status", REPORT_STATUSES)]
        row.status = status
    if severity is not None:
        change["severity"] = [row.severity, check_choice(severity, "severity", SEVERITIES)]
        row.severity = severity
        row.due_at = row.received_at + DUE_BY_SEVERITY[severity]
    row.triaged_by, row.triage_reason = actor.username, text
    session.flush()
    audit.record(session, actor, "report.triage", "report", row.report_id, change)
    return row


def rerun_retro_hunt(session: Session, report_id: str, actor: Actor, retro_hunt: RetroHunt) -> Report:
    """Run the retro-hunt again (e.g. after new traffic was ingested) and store its hits."""
    check(actor, "report.triage")
    row = get_or_404(session, Report, report_id, "report")
    _run_hunt(row, retro_hunt)
    row.hits = list(row.hits)
    session.flush()
    audit.record(session, actor, "report.retro_hunt", "report", row.report_id, {"hits": len(row.hits)})
    return row


def import_reports(session: Session, path: Path, actor: Actor, *, retro_hunt: RetroHunt | None = None) -> ImportResult:
    """Submit every report of a ``reports.jsonl`` file; bad lines are listed, the rest load."""
    result = ImportResult()
    for line, raw in read_jsonl(path):
        try:
            if isinstance(raw, Exception):
                raise raw
            with session.begin_nested():
                rid = raw.get("report_id") if isinstance(raw, dict) else None
                before = session.get(Report, rid) if isinstance(rid, str) else None
                submit_report(session, raw, actor, retro_hunt=retro_hunt)
            if before is not None:
                result.updated += 1
        except (InvalidInputError, ConflictError) as exc:
            result.errors.append((line, str(exc)))
    return result
