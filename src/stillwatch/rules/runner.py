"""Run rules: their inline tests (``stillwatch rules test``) and over the store's exchanges.

Inline tests are executed through the same compiled Ibis expression as production: the test
events become a canonical-schema Arrow table (missing columns are null), and the expression runs
on an in-memory DuckDB connection, or on any engine passed in (the Spark test does that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from stillwatch.rules.compile import compile_rule, matches
from stillwatch.rules.model import Rule
from stillwatch.schema.exchange import EXCHANGE_SCHEMA

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from stillwatch.engine import Engine

HIT_COLUMNS = ("request_id", "account_id", "api_key_id", "ts")


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """Result of one inline test."""

    rule_id: str
    rule_name: str
    test: str
    expect: bool
    got: bool

    @property
    def passed(self) -> bool:
        """Whether the rule did what the test expects."""
        return self.expect == self.got


def _schema(table: str) -> pa.Schema:
    if table == "exchanges_enriched":
        from stillwatch.enrich.rows import ENRICHED_SCHEMA

        return ENRICHED_SCHEMA
    return EXCHANGE_SCHEMA


def events_table(rule: Rule) -> pa.Table:
    """The rule's test events as a table of its target schema (``request_id`` = test index)."""
    schema = _schema(rule.table)
    rows: list[dict[str, Any]] = []
    for i, t in enumerate(rule.tests):
        row: dict[str, Any] = {name: None for name in schema.names}
        row.update(t.event)
        row["request_id"] = f"test-{i}"
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema)


def run_tests(rules: list[Rule], engine: Engine | None = None) -> list[TestOutcome]:
    """Run every inline test of every rule.

    Args:
        rules: Rules to test.
        engine: Run on this engine's backend (default: an in-memory DuckDB connection).

    Returns:
        One outcome per test, in rule then test order.
    """
    import ibis

    con = engine.con if engine is not None else ibis.duckdb.connect()
    out: list[TestOutcome] = []
    try:
        for rule in rules:
            data = events_table(rule)
            t: ir.Table = con.create_table(f"rule_test_{rule.id.replace('-', '_')}", data, overwrite=True) if (
                engine is not None) else ibis.memtable(data)  # fmt: skip
            hit = set(con.execute(t.filter(compile_rule(rule, t)).select("request_id"))["request_id"])
            for i, test in enumerate(rule.tests):
                out.append(TestOutcome(rule.id, rule.name, test.name, test.expect, f"test-{i}" in hit))
    finally:
        if engine is None:
            con.disconnect()
    return out


def run_rules(engine: Engine, rules: list[Rule], *, include_deprecated: bool = False) -> pa.Table:
    """Run rules over the store; one row per (exchange, rule) match.

    Returns:
        ``request_id, account_id, api_key_id, ts, rule_id, rule_version, status, level`` —
        ``status`` lets consumers drop ``shadow`` hits from case opening.
    """
    import ibis

    parts = []
    for rule in rules:
        if rule.status == "deprecated" and not include_deprecated:
            continue
        if not engine.has_table(rule.table):
            continue
        t = engine.table(rule.table)
        cols = tuple(c for c in HIT_COLUMNS if c in t.columns)
        expr = matches(rule, t, cols).mutate(status=ibis.literal(rule.status), level=ibis.literal(rule.level))
        parts.append(engine.execute(expr))
    if not parts:
        return pa.table({c: pa.array([], pa.string()) for c in (*HIT_COLUMNS, "rule_id", "rule_version")})
    return pa.concat_tables(parts, promote_options="permissive")
