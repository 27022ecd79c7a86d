"""The :class:`Finding` record and its findings-v1 JSON form (``findings.jsonl``).

Finding ids are stable: ``sha256(kind | entity | entity_id | detector name)``, so a re-run (or a
later replay step) gives the same id for the same entity, kind and detector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from stillwatch.detect.base import ENTITIES, KINDS, STATUSES
from stillwatch.detect.evidence import Evidence, has_non_language_evidence
from stillwatch.exceptions import InputFormatError, SchemaError

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
MAX_SAMPLE_EXCHANGES = 50


def finding_id(kind: str, entity: str, entity_id: str, detector: str) -> str:
    """Stable finding id from kind, entity type, entity id and detector name."""
    digest = hashlib.sha256(f"{kind}|{entity}|{entity_id}|{detector}".encode()).hexdigest()
    return f"f_{digest[:20]}"


def severity_for(score: float, n_families: int = 1) -> str:
    """Severity from the calibrated score and the number of independent evidence families.

    ``critical`` needs a score >= 0.95 backed by at least three families; ``high`` >= 0.8 with two;
    ``medium`` >= 0.5; below that ``low``.
    """
    if score >= 0.95 and n_families >= 3:
        return "critical"
    if score >= 0.8 and n_families >= 2:
        return "high"
    if score >= 0.5:
        return "medium"
    return "low"


def rfc3339(ts: datetime | None) -> str | None:
    """UTC RFC 3339 with ``Z`` (seconds precision), or ``None``."""
    if ts is None:
        return None
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(value: str | datetime | None) -> datetime | None:
    """Parse an RFC 3339 string (or pass a datetime through) to an aware UTC datetime."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Finding:
    """One finding (findings-v1).

    Attributes:
        kind: ``relay``, ``subrouting``, ``subsidiary``, ``distillation``, ``ban_evasion``, ``jailbreak``.
        entity: ``account``, ``api_key``, ``exchange`` or ``cluster``.
        entity_id: The entity's id.
        score: Risk in [0, 1]; the detector's threshold is ``detector_offset``.
        detector: ``{name, version, params}``.
        evidence: The facts, strongest first.
        exchanges: Up to 50 sample request ids.
        accounts: Accounts involved.
        window_from: Start of the data window.
        window_to: End of the data window (= ``until``).
        first_flagged_at: Data time at which the finding first crossed its threshold.
        status: The detector's status (``shadow`` findings never open cases).
        severity: ``low`` … ``critical``; derived from score and evidence when empty.
        estimate: Sub-routing share estimate or cluster/campaign summary.
        report_id: For retro-hunt findings.
    """

    kind: str
    entity: str
    entity_id: str
    score: float
    detector: dict[str, Any]
    evidence: list[Evidence]
    exchanges: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    window_from: datetime | None = None
    window_to: datetime | None = None
    first_flagged_at: datetime | None = None
    status: str = "test"
    severity: str = ""
    estimate: dict[str, Any] | None = None
    report_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SchemaError(f"unknown finding kind {self.kind!r}", hint=f"use one of {KINDS}")
        if self.entity not in ENTITIES:
            raise SchemaError(f"unknown finding entity {self.entity!r}", hint=f"use one of {ENTITIES}")
        if self.status not in STATUSES:
            raise SchemaError(f"unknown detector status {self.status!r}", hint=f"use one of {STATUSES}")
        if not self.evidence:
            raise SchemaError(f"finding {self.kind}/{self.entity_id} has no evidence")
        if not has_non_language_evidence(self.evidence):
            raise SchemaError(
                f"finding {self.kind}/{self.entity_id} rests only on language or declared country",
                hint="a finding needs evidence of origin obfuscation, resale or extraction",
            )
        self.score = float(min(1.0, max(0.0, self.score)))
        self.exchanges = list(dict.fromkeys(self.exchanges))[:MAX_SAMPLE_EXCHANGES]
        self.accounts = sorted(set(self.accounts))
        if not self.severity:
            self.severity = severity_for(self.score, len({e.family for e in self.evidence}))
        if self.severity not in SEVERITIES:
            raise SchemaError(f"unknown severity {self.severity!r}", hint=f"use one of {SEVERITIES}")
        if self.first_flagged_at is None:
            self.first_flagged_at = self.window_to

    @property
    def finding_id(self) -> str:
        """Stable id (kind, entity, entity id, detector name)."""
        return finding_id(self.kind, self.entity, self.entity_id, str(self.detector.get("name", "")))

    @property
    def shadow(self) -> bool:
        """Shadow findings are recorded and evaluated but never open cases."""
        return self.status == "shadow"

    def to_dict(self) -> dict[str, Any]:
        """findings-v1 JSON object (plus ``status`` and ``shadow``)."""
        out: dict[str, Any] = {
            "finding_id": self.finding_id,
            "kind": self.kind,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "score": round(self.score, 6),
            "severity": self.severity,
            "first_flagged_at": rfc3339(self.first_flagged_at),
            "window": {"from": rfc3339(self.window_from), "to": rfc3339(self.window_to)},
            "detector": {**self.detector, "status": self.status},
            "evidence": [e.to_dict() for e in self.evidence],
            "exchanges": self.exchanges,
            "accounts": self.accounts,
            "status": self.status,
            "shadow": self.shadow,
        }
        if self.report_id is not None:
            out["report_id"] = self.report_id
        if self.estimate is not None:
            out["estimate"] = self.estimate
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Rebuild a finding from its findings-v1 JSON object.

        Raises:
            SchemaError: A required field is missing or invalid.
        """
        try:
            det = dict(data["detector"])
            status = data.get("status") or det.pop("status", "test")
            det.pop("status", None)
            ev = [
                Evidence(e["feature"], e.get("value"), e.get("baseline"), e.get("why", ""), e.get("family", "timing"))
                for e in data["evidence"]
            ]
            window = data.get("window") or {}
            return cls(
                kind=data["kind"], entity=data["entity"], entity_id=str(data["entity_id"]), score=float(data["score"]),
                detector=det, evidence=ev, exchanges=list(data.get("exchanges") or []),
                accounts=list(data.get("accounts") or []), window_from=parse_ts(window.get("from")),
                window_to=parse_ts(window.get("to")), first_flagged_at=parse_ts(data.get("first_flagged_at")),
                status=status, severity=data.get("severity", ""), estimate=data.get("estimate"),
                report_id=data.get("report_id"),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, SchemaError):
                raise
            raise SchemaError(f"not a findings-v1 object: {exc}") from exc


def write_jsonl(findings: Iterable[Finding], path: Path | str) -> Path:
    """Write findings as JSON Lines (one findings-v1 object per line), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        for f in findings:
            fh.write(orjson.dumps(f.to_dict()) + b"\n")
    tmp.replace(path)
    return path


def read_jsonl(path: Path | str) -> list[Finding]:
    """Read a ``findings.jsonl`` file.

    Raises:
        InputFormatError: A line is not JSON.
    """
    out = []
    for n, line in enumerate(Path(path).read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Finding.from_dict(orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            raise InputFormatError(f"{path}:{n}: not JSON: {exc}") from exc
    return out


def to_arrow(findings: Iterable[Finding]) -> pa.Table:
    """The ``findings`` store table: flat columns plus JSON text for nested fields."""
    rows = [f.to_dict() for f in findings]
    cols: dict[str, list[Any]] = {
        "finding_id": [r["finding_id"] for r in rows],
        "kind": [r["kind"] for r in rows],
        "entity": [r["entity"] for r in rows],
        "entity_id": [r["entity_id"] for r in rows],
        "score": [float(r["score"]) for r in rows],
        "severity": [r["severity"] for r in rows],
        "status": [r["status"] for r in rows],
        "first_flagged_at": [parse_ts(r["first_flagged_at"]) for r in rows],
        "window_from": [parse_ts(r["window"]["from"]) for r in rows],
        "window_to": [parse_ts(r["window"]["to"]) for r in rows],
        "detector_name": [r["detector"]["name"] for r in rows],
        "detector_version": [r["detector"]["version"] for r in rows],
        "detector_json": [orjson.dumps(r["detector"]).decode() for r in rows],
        "evidence_json": [orjson.dumps(r["evidence"]).decode() for r in rows],
        "exchanges": [r["exchanges"] for r in rows],
        "accounts": [r["accounts"] for r in rows],
        "estimate_json": [orjson.dumps(r["estimate"]).decode() if "estimate" in r else None for r in rows],
        "report_id": [r.get("report_id") for r in rows],
    }
    schema = pa.schema([
        ("finding_id", pa.string()), ("kind", pa.string()), ("entity", pa.string()), ("entity_id", pa.string()),
        ("score", pa.float64()), ("severity", pa.string()), ("status", pa.string()),
        ("first_flagged_at", pa.timestamp("us", tz="UTC")), ("window_from", pa.timestamp("us", tz="UTC")),
        ("window_to", pa.timestamp("us", tz="UTC")), ("detector_name", pa.string()),
        ("detector_version", pa.string()), ("detector_json", pa.string()), ("evidence_json", pa.string()),
        ("exchanges", pa.list_(pa.string())), ("accounts", pa.list_(pa.string())),
        ("estimate_json", pa.string()), ("report_id", pa.string()),
    ])  # fmt: skip
    return pa.table(cols, schema=schema)
