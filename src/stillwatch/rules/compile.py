"""Compile rules to Ibis boolean expressions over the canonical exchange table.

The expression is pure Ibis (no Python UDF), so one rule runs unchanged on DuckDB and on Spark.
Null-safe: a condition on a missing value is false (``absent`` is the way to test for nulls).
Regexes are searched (not anchored) with the engine's regex flavour (RE2 on DuckDB, Java on Spark);
the validator rejects constructs that differ between the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis

from stillwatch.exceptions import RuleError
from stillwatch.rules.model import Condition, Rule

if TYPE_CHECKING:
    import ibis.expr.types as ir


def field_expr(t: ir.Table, name: str) -> ir.Value:
    """The column (or derived value) a condition reads."""
    if name == "first_user_text":
        return t.user_texts[0]
    if name == "last_user_text":
        return t.user_texts[-1]
    if name == "all_user_text":
        return t.user_texts.join("\n")
    if name not in t.columns:
        raise RuleError(f"table has no column {name!r}", hint="run the rule on the table it names")
    return t[name]


def _lit(value: Any) -> ir.Value:
    return ibis.literal(value)


def condition_expr(t: ir.Table, cond: Condition) -> ir.BooleanValue:
    """One condition as a null-safe boolean expression."""
    col = field_expr(t, cond.field)
    op, v = cond.op, cond.value
    if op == "absent":
        missing = col.isnull() if not _is_list(col) else (col.isnull() | (col.length() == 0))
        expr = missing if v else ~missing
        return expr.fill_null(False)
    if op == "equals":
        expr = col == _lit(v)
    elif op == "startswith":
        expr = col.startswith(v)
    elif op == "endswith":
        expr = col.endswith(v)
    elif op == "contains":
        expr = col.contains(v)
    elif op == "regex":
        expr = col.re_search(v)
    elif op == "in":
        expr = col.isin(v)
    elif op == "gte":
        expr = col >= _lit(v)
    elif op == "lte":
        expr = col <= _lit(v)
    elif op == "any_equals":
        expr = col.contains(v)
    elif op == "any_contains":
        expr = col.filter(lambda x: x.contains(v)).length() > 0
    elif op == "any_regex":
        expr = col.filter(lambda x: x.re_search(v)).length() > 0
    elif op == "len_gte":
        expr = col.length() >= _lit(v)
    else:  # pragma: no cover - the validator rejects unknown operators
        raise RuleError(f"unknown operator {op!r}")
    return expr.fill_null(False)


def _is_list(col: ir.Value) -> bool:
    return bool(col.type().is_array())


def compile_rule(rule: Rule, t: ir.Table) -> ir.BooleanValue:
    """The rule's condition over table ``t`` (true = the exchange matches)."""
    d = rule.detection
    expr: ir.BooleanValue = ibis.literal(True)
    for c in d.all:
        expr = expr & condition_expr(t, c)
    if d.any:
        anyx: ir.BooleanValue = ibis.literal(False)
        for c in d.any:
            anyx = anyx | condition_expr(t, c)
        expr = expr & anyx
    for c in d.none:
        expr = expr & ~condition_expr(t, c)
    return expr


def matches(rule: Rule, t: ir.Table, columns: tuple[str, ...] = ("request_id",)) -> ir.Table:
    """Rows of ``t`` the rule matches, with ``columns`` plus ``rule_id`` and ``rule_version``."""
    return t.filter(compile_rule(rule, t)).select(
        *columns, rule_id=ibis.literal(rule.id), rule_version=ibis.literal(rule.version)
    )
