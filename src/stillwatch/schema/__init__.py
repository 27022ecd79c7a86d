"""Versioned table schemas: the canonical exchange and the record tables."""

from stillwatch.schema.exchange import EXCHANGE_SCHEMA, EXCHANGE_SCHEMA_VERSION
from stillwatch.schema.records import (
    ACCOUNT_SCHEMA,
    ENFORCEMENT_SCHEMA,
    QUARANTINE_SCHEMA,
    REPORT_SCHEMA,
)

__all__ = [
    "ACCOUNT_SCHEMA",
    "ENFORCEMENT_SCHEMA",
    "EXCHANGE_SCHEMA",
    "EXCHANGE_SCHEMA_VERSION",
    "QUARANTINE_SCHEMA",
    "REPORT_SCHEMA",
]
