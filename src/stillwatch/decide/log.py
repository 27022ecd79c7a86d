"""Decision log in provider-logs-v1 form (JSON Lines), so batch detection sees every decision.

Each line is a provider-logs-v1 ``exchanges`` record: the request as the gateway reported it and a
``response`` whose ``status`` is what the gateway answers for the action (allow 200, throttle 429,
challenge 401, block 403; in monitor mode 200). The decision itself rides in the unknown-field
``stillwatch_decision`` (readers keep unknown fields in ``extra``). Writes are buffered and flushed
by size or on :meth:`DecisionLog.flush` / :meth:`DecisionLog.close`; a failing disk never fails a
decision (the error is counted and logged once).
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from stillwatch.decide.models import DecideRequest, DecideResponse

log = logging.getLogger(__name__)
#: HTTP status the gateway returns per action.
STATUS = {"allow": 200, "throttle": 429, "challenge": 401, "block": 403}
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "proxy-authorization"})


def to_record(req: DecideRequest, resp: DecideResponse, now: float) -> dict[str, Any]:
    """The provider-logs-v1 exchange record of one decision."""
    headers = {str(k).lower(): str(v)[:8192] for k, v in list(req.headers.items())[:128]}
    for name in _SECRET_HEADERS & headers.keys():
        del headers[name]
    body: dict[str, Any]
    if req.body is not None:
        body = req.body
    elif req.summary is not None:
        s = req.summary
        msgs = [{"role": "user", "content": t} for t in s.user_texts]
        body = {"model": s.model, "messages": msgs, "max_tokens": s.max_tokens}
        if s.system_text:
            body["system"] = s.system_text
        if s.tool_names:
            body["tools"] = [{"name": n} for n in s.tool_names]
        if s.metadata_user_id:
            body["metadata"] = {"user_id": s.metadata_user_id}
    else:
        body = {}
    rec: dict[str, Any] = {
        "ts": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request_id": req.request_id or resp.decision_id or uuid.uuid4().hex,
        "account_id": req.account_id,
        "api_key_id": req.api_key_id,
        "client_ip": req.client_ip or "0.0.0.0",
        "http": {"method": req.method, "path": req.path, "headers": headers},
        "request": body,
        "response": {"status": STATUS[resp.action], "error_type": None if resp.action == "allow" else resp.action},
        "stillwatch_decision": {
            "action": resp.action,
            "would_action": resp.would_action,
            "score": resp.score,
            "reasons": resp.reasons,
            "policy_version": resp.policy_version,
            "mode": resp.mode,
            "degraded": resp.degraded,
        },
    }
    if req.forwarded_for:
        rec["forwarded_for"] = req.forwarded_for
    if req.tls_ja4:
        rec["tls_ja4"] = req.tls_ja4
    if req.header_order:
        rec["http"]["header_order"] = [h.lower() for h in req.header_order[:128]]
    return rec


class DecisionLog:
    """Append decisions to a JSONL file (one file per process is safest; lines never interleave).

    Args:
        path: The JSONL file (created with its directory).
        buffer_lines: Flush after this many lines.
    """

    def __init__(self, path: str | Path, *, buffer_lines: int = 256) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.buffer_lines = buffer_lines
        self._buf: list[bytes] = []
        self._lock = threading.Lock()
        self.errors = 0
        self.written = 0

    def write(self, req: DecideRequest, resp: DecideResponse, now: float) -> None:
        """Queue one decision (flushes when the buffer is full)."""
        try:
            line = orjson.dumps(to_record(req, resp, now), default=str) + b"\n"
        except (TypeError, orjson.JSONEncodeError) as exc:
            self.errors += 1
            log.warning("decision not logged: %s", exc)
            return
        with self._lock:
            self._buf.append(line)
            full = len(self._buf) >= self.buffer_lines
        if full:
            self.flush()

    def flush(self) -> None:
        """Write buffered lines."""
        with self._lock:
            lines, self._buf = self._buf, []
            if not lines:
                return
            try:
                with self.path.open("ab") as fh:
                    fh.write(b"".join(lines))
                self.written += len(lines)
            except OSError as exc:
                self.errors += len(lines)
                log.warning("decision log %s not writable: %s", self.path, exc)

    def close(self) -> None:
        """Flush."""
        self.flush()
