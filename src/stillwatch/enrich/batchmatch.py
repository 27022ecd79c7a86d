"""Relay-indicator matching for a whole batch of exchanges at once.

Same indicators (``indicators/relay_indicators.yaml``), same condition semantics
(:func:`stillwatch.enrich.client._holds`) and the same results as calling
:func:`stillwatch.enrich.client.match_indicators` row by row, but:

* a condition on a scalar field (user agent, beta header, system prompt, max_tokens, …) is
  evaluated once per *distinct value* in the batch, then spread to the rows with numpy;
* the conditions of an indicator are applied in file order to the rows still matching only
  (the row-wise ``all()`` short-circuit, vectorised), so an expensive condition such as a regex
  over the whole conversation runs only where the cheaper conditions before it held.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stillwatch.enrich import client


@dataclass(frozen=True, slots=True)
class FieldValues:
    """One indicator field for every row of a batch.

    Exactly one form is set: ``codes``/``uniques`` (a scalar field, dictionary-encoded: row ``i``
    has value ``uniques[codes[i]]``) or ``row`` (a per-row getter, for list fields and values
    built on demand such as ``all_text``). A row field may also carry column-wise shortcuts:
    ``any_equals(v)`` gives every row's answer to an ``any_equals: v`` condition, and
    ``may_contain(chars)`` marks the rows whose value can contain all of ``chars`` (the others
    cannot match a regex needing them, so the getter is never called for them).
    """

    codes: np.ndarray | None = None
    uniques: list[Any] | None = None
    row: Callable[[int], Any] | None = None
    any_equals: Callable[[str], np.ndarray] | None = None
    may_contain: Callable[[str], np.ndarray] | None = None


def _required_chars(cond: Mapping[str, Any]) -> str:
    """Characters every match of a regex condition contains (its top-level literals).

    A text lacking one of them cannot match, so the regex is not run on it. Empty when the
    pattern is case-insensitive or cannot be analysed (then the regex always runs).
    """
    rx = cond.get("_rx")
    if rx is None or "regex" not in cond or rx.flags & re.IGNORECASE:
        return ""
    try:
        from re import _constants, _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(rx.pattern, rx.flags)
        return "".join(chr(av) for op, av in parsed.data if op is _constants.LITERAL)
    except Exception:  # noqa: BLE001 - no pre-filter, the regex decides
        return ""


def _holds(cond: Mapping[str, Any], field: str, value: Any, required: str = "") -> bool:
    if required and isinstance(value, str) and not all(ch in value for ch in required):
        return False
    try:
        return bool(client._holds(cond, {field: value}))
    except Exception:  # noqa: BLE001 - a malformed value never matches and never stops the run
        return False


def _evaluate(
    cond: Mapping[str, Any], values: FieldValues | None, rows: np.ndarray, cache: dict[int, np.ndarray]
) -> np.ndarray:
    """Boolean per row of ``rows``: whether ``cond`` holds."""
    field = cond["field"]
    if values is None:  # a field the batch does not carry: every row has None
        return np.full(len(rows), _holds(cond, field, None))
    if values.codes is not None and values.uniques is not None:
        per_value = cache.get(id(cond))
        if per_value is None:
            per_value = np.fromiter((_holds(cond, field, v) for v in values.uniques), bool, len(values.uniques))
            cache[id(cond)] = per_value
        return per_value[values.codes[rows]]
    getter = values.row
    if getter is None:
        raise ValueError(f"field {field!r} has neither codes nor a row getter")
    if values.any_equals is not None and isinstance(cond.get("any_equals"), str) and not _PRIOR_OPS & cond.keys():
        return values.any_equals(cond["any_equals"])[rows]
    required = _required_chars(cond)
    if required and values.may_contain is not None and "\n" not in required:
        possible = values.may_contain(required)[rows]
        out = np.zeros(len(rows), dtype=bool)
        out[possible] = _evaluate_rows(cond, field, getter, rows[possible], required)
        return out
    return _evaluate_rows(cond, field, getter, rows, required)


#: Condition operators that :func:`stillwatch.enrich.client._holds` tries before ``any_equals``.
_PRIOR_OPS = frozenset({"absent", "equals", "in", "gte", "lte"})


def _evaluate_rows(
    cond: Mapping[str, Any], field: str, getter: Callable[[int], Any], rows: np.ndarray, required: str
) -> np.ndarray:
    """``cond`` on each row of ``rows`` through the row getter."""
    seen: dict[Any, bool] = {}  # repeated values (the same conversation, tool set) are evaluated once

    def holds_row(i: int) -> bool:
        value = getter(i)
        key = tuple(value) if isinstance(value, list) else value
        found = seen.get(key)
        if found is None:
            found = seen[key] = _holds(cond, field, value, required)
        return found

    return np.fromiter((holds_row(int(i)) for i in rows), bool, len(rows))


def match_batch(fields: Mapping[str, FieldValues], n: int) -> np.ndarray:
    """Indicator hits of every row.

    Args:
        fields: The indicator fields (see the data file's header comment) of the batch; a
            missing field counts as ``None`` on every row.
        n: Number of rows.

    Returns:
        ``(n, number of indicators)`` booleans, columns in file order
        (:func:`stillwatch.enrich.client.load_indicators`).
    """
    indicators = client.load_indicators()[1]
    hits = np.zeros((n, len(indicators)), dtype=bool)
    cache: dict[int, np.ndarray] = {}
    for j, ind in enumerate(indicators):
        rows = np.arange(n)
        for cond in ind.conditions:
            if not len(rows):
                break
            rows = rows[_evaluate(cond, fields.get(cond["field"]), rows, cache)]
        hits[rows, j] = True
    return hits


def summarise(hits: np.ndarray) -> tuple[list[list[str]], list[list[str]], np.ndarray, np.ndarray]:
    """Per row: sorted distinct indicator ids, sorted distinct families, strong hit, any hit.

    Computed once per distinct hit pattern in the batch.
    """
    indicators = client.load_indicators()[1]
    n = hits.shape[0]
    if n == 0:
        return [], [], np.zeros(0, bool), np.zeros(0, bool)
    if hits.shape[1] <= 62:  # one integer key per row: much faster than a row-wise unique
        keys = hits.astype(np.int64) @ (np.int64(1) << np.arange(hits.shape[1], dtype=np.int64))
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        patterns = hits[first]
    else:
        patterns, inverse = np.unique(hits, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    ids_u, fams_u, strong_u = [], [], []
    for pattern in patterns:
        matched = [indicators[j] for j in np.flatnonzero(pattern)]
        ids_u.append(sorted({i.id for i in matched}))
        fams_u.append(sorted({i.family for i in matched}))
        strong_u.append(any(i.strength == "strong" for i in matched))
    ids = [ids_u[k] for k in inverse]
    fams = [fams_u[k] for k in inverse]
    strong = np.asarray(strong_u, dtype=bool)[inverse]
    return ids, fams, strong, np.asarray(hits.any(axis=1), dtype=bool)
