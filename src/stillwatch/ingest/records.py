"""Map account, enforcement and report records (spec §2–4) onto their tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from stillwatch.ingest.canonical import RowProblems, normalise_ip, parse_ts

Checker = Callable[[Any, RowProblems, str], Any]


def _str(value: Any, problems: RowProblems, field: str) -> Any:
    if isinstance(value, str):
        return value
    problems.add("wrong_type", f"{field} must be a string")
    return None


def _country(value: Any, problems: RowProblems, field: str) -> Any:
    if isinstance(value, str) and len(value.strip()) == 2 and value.strip().isalpha():
        return value.strip().upper()
    problems.add("bad_country", f"{field}={str(value)[:20]!r} is not ISO 3166-1 alpha-2")
    return None


def _ts(value: Any, problems: RowProblems, field: str) -> Any:
    return parse_ts(value, problems, field)


def _ip(value: Any, problems: RowProblems, field: str) -> Any:
    return normalise_ip(value, problems, field)


def _enum(*allowed: str) -> Checker:
    def check(value: Any, problems: RowProblems, field: str) -> Any:
        if isinstance(value, str) and value in allowed:
            return value
        problems.add("bad_value", f"{field}={str(value)[:30]!r} not in {'/'.join(allowed)}")
        return None

    return check


def _prompt(value: Any, problems: RowProblems, field: str) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # a Messages array: keep it as JSON text
        return orjson.dumps(value).decode()
    problems.add("wrong_type", f"{field} must be text or a Messages array")
    return None


#: table -> field -> (required, checker)
RECORD_FIELDS: dict[str, dict[str, tuple[bool, Checker]]] = {
    "accounts": {
        "account_id": (True, _str),
        "created_at": (True, _ts),
        "org_name": (False, _str),
        "email_domain": (False, _str),
        "declared_country": (False, _country),
        "billing_country": (False, _country),
        "payment_fingerprint": (False, _str),
        "phone_country": (False, _country),
        "signup_ip": (False, _ip),
        "plan": (False, _str),
        "parent_org": (False, _str),
        "parent_country": (False, _country),
    },
    "enforcement": {
        "account_id": (True, _str),
        "ts": (True, _ts),
        "action": (True, _enum("warn", "throttle", "challenge", "suspend", "ban")),
        "reason": (False, _str),
        "case_id": (False, _str),
    },
    "reports": {
        "report_id": (True, _str),
        "received_at": (True, _ts),
        "source": (False, _enum("bug_bounty", "partner", "public", "internal")),
        "title": (False, _str),
        "prompt": (True, _prompt),
        "model": (False, _str),
        "severity_claimed": (False, _str),
        "reporter": (False, _str),
    },
}


def to_record(table: str, rec: Any) -> tuple[dict[str, Any] | None, RowProblems]:
    """Validate one record of ``table`` and return its row (None if any rule is broken)."""
    problems = RowProblems()
    if not isinstance(rec, dict):
        problems.add("not_an_object", type(rec).__name__)
        return None, problems
    fields = RECORD_FIELDS[table]
    row: dict[str, Any] = {}
    for name, (required, check) in fields.items():
        value = rec.get(name)
        if value is None or value == "":
            if required:
                problems.add("missing_field", name)
            row[name] = None
            continue
        row[name] = check(value, problems, name)
    extra = {k: v for k, v in rec.items() if k not in fields}
    row["extra"] = orjson.dumps(extra, default=str).decode() if extra else None
    return (None, problems) if problems else (row, problems)


def record_key(table: str, row: dict[str, Any]) -> str:
    """The de-duplication key of a record row."""
    if table == "accounts":
        return str(row["account_id"])
    if table == "enforcement":
        return f"{row['account_id']}|{row['ts'].isoformat()}|{row['action']}"
    return str(row["report_id"])
