"""Schemas of the record tables: accounts, enforcement, reports (spec §2–4) and quarantine."""

from __future__ import annotations

import pyarrow as pa

_STR = pa.string()
_TS = pa.timestamp("us", tz="UTC")

ACCOUNT_SCHEMA = pa.schema(
    [
        ("account_id", _STR),
        ("created_at", _TS),
        ("org_name", _STR),
        ("email_domain", _STR),
        ("declared_country", _STR),
        ("billing_country", _STR),
        ("payment_fingerprint", _STR),
        ("phone_country", _STR),
        ("signup_ip", _STR),
        ("plan", _STR),
        ("parent_org", _STR),
        ("parent_country", _STR),
        ("extra", _STR),
        ("source_file", _STR),
        ("source_line", pa.int64()),
    ]
)

ENFORCEMENT_SCHEMA = pa.schema(
    [
        ("account_id", _STR),
        ("ts", _TS),
        ("action", _STR),
        ("reason", _STR),
        ("case_id", _STR),
        ("extra", _STR),
        ("source_file", _STR),
        ("source_line", pa.int64()),
    ]
)

REPORT_SCHEMA = pa.schema(
    [
        ("report_id", _STR),
        ("received_at", _TS),
        ("source", _STR),
        ("title", _STR),
        ("prompt", _STR),
        ("model", _STR),
        ("severity_claimed", _STR),
        ("reporter", _STR),
        ("extra", _STR),
        ("source_file", _STR),
        ("source_line", pa.int64()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("ingest_id", _STR),
        ("source_file", _STR),
        ("source_line", pa.int64()),
        ("kind", _STR),
        ("reason", _STR),
        ("raw", pa.binary()),
        ("raw_encoding", _STR),
        ("raw_truncated", pa.bool_()),
        ("quarantined_at", _TS),
    ]
)

#: Table name -> (schema, key columns used for de-duplication).
RECORD_TABLES: dict[str, tuple[pa.Schema, tuple[str, ...]]] = {
    "accounts": (ACCOUNT_SCHEMA, ("account_id",)),
    "enforcement": (ENFORCEMENT_SCHEMA, ("account_id", "ts", "action")),
    "reports": (REPORT_SCHEMA, ("report_id",)),
}
