"""Rule validators: one class per check (pySigma style), each returning every issue it finds.

A validator gets the raw mapping of one rule file (``dict`` from YAML) and a line lookup, so an
issue can say ``file:line``. :class:`DuplicateIdValidator` also has :meth:`finalize` for checks
across all rules. The loader runs every validator and raises one
:class:`~stillwatch.exceptions.RuleError` listing all issues of a file at once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from stillwatch.rules.model import (
    DERIVED_FIELDS,
    KINDS,
    LEVELS,
    LIST_OPERATORS,
    OPERATORS,
    OPTIONAL_KEYS,
    REQUIRED_KEYS,
    STATUSES,
    TABLES,
)
from stillwatch.schema.exchange import EXCHANGE_SCHEMA

#: Line of a key path in the file (``("detection", "all", 0)``), or None.
LineOf = Callable[[tuple[Any, ...]], int | None]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a rule file."""

    check: str
    message: str
    line: int | None = None

    def render(self, path: str) -> str:
        """``path:line: [check] message``."""
        where = f"{path}:{self.line}" if self.line else path
        return f"{where}: [{self.check}] {self.message}"


class Validator:
    """Base class: override :meth:`validate` (and :meth:`finalize` for cross-rule checks)."""

    check: ClassVar[str] = "abstract"
    description: ClassVar[str] = ""

    def validate(self, raw: dict[str, Any], line_of: LineOf) -> list[Issue]:
        """Issues of one rule file."""
        raise NotImplementedError

    def finalize(self) -> list[tuple[str, Issue]]:
        """Issues across all validated rules, as ``(path, issue)``."""
        return []

    def issue(self, message: str, line: int | None = None) -> Issue:
        """An issue of this check."""
        return Issue(self.check, message, line)


def _known_fields(table: str) -> set[str]:
    names = set(EXCHANGE_SCHEMA.names) | set(DERIVED_FIELDS)
    if table == "exchanges_enriched":
        from stillwatch.enrich.rows import ENRICHED_SCHEMA

        names = set(ENRICHED_SCHEMA.names)
    return names


def _list_fields() -> set[str]:
    import pyarrow as pa

    return {f.name for f in EXCHANGE_SCHEMA if pa.types.is_list(f.type)} | {"relay_indicator_ids", "relay_families"}


def _conditions(raw: dict[str, Any]) -> list[tuple[tuple[Any, ...], Any]]:
    det = raw.get("detection")
    out: list[tuple[tuple[Any, ...], Any]] = []
    if isinstance(det, dict):
        for part in ("all", "any", "none"):
            items = det.get(part)
            if isinstance(items, list):
                out.extend((("detection", part, i), c) for i, c in enumerate(items))
    return out


class RequiredKeysValidator(Validator):
    """Every required key is present and no unknown key is."""

    check = "required_keys"
    description = "required metadata keys present; no unknown keys"

    def validate(self, raw: dict[str, Any], line_of: LineOf) -> list[Issue]:
        """See class docstring."""
        out = [self.issue(f"missing key {k!r}") for k in REQUIRED_KEYS if k not in raw]
        known = set(REQUIRED_KEYS) | set(OPTIONAL_KEYS)
        out += [self.issue(f"unknown key {k!r}", line_of((k,))) for k in raw if k not in known]
        return out


class IdValidator(Validator):
    """``id`` is a UUID."""

    check = "id_uuid"
    description = "id is a UUID"

    def validate(self, raw: dict[str, Any], line_of: LineOf) -> list[Issue]:
        """See class docstring."""
        if "id" not in raw:
            return []
        try:
            uuid.UUID(str(raw["id"]))
        except ValueError:
            return [self.issue(f"id {raw['id']!r} is not a UUID", line_of(("id",)))]
        return []


class ChoiceValidator(Validator):
    """``status``, ``level``, ``kind`` and ``table`` take known values."""

    check = "choices"
    description = "status, level, kind, table from their vocabularies"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "status": STATUSES,
        "level": LEVELS,
        "kind": KINDS,
        "table": TABLES,
    }

    def validate(self, raw: dict[str, Any], line_of: LineOf) -> list[Issue]:
        """See class docstring."""
        return [
            self.issue(f"{key} {raw[key]!r} not one of {list(choices)}", line_of((key,)))
            for key, choices in self.CHOICES.items()
            if key in raw and raw[key] not in choices
        ]


class MetadataValidator(Validator):
    """Title and description are text, version a positive int, references/falsepositives non-empty lists."""

    check = "metadata"
    description = "title, description, version, references, falsepositives well-formed"

    def validate(self, raw: dict[str, Any], line_of: LineOf) -> list[Issue]:
        """See class docstring."""
        out = []
        for key in ("title", "description"):
            if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
                out.append(self.issue(f"{key} must be non-empty text", line_of((key,))))
        v = raw.get("version")
        if "version" in raw and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            out.append(self.issue(f"version must be a positive integer, got {v!r}", line_of(("version",))))
        for key in ("references", "falsepositives", "tags"):
            if key in raw:
                val = raw[key]
                if not isinstance(val, list) or not all(isinstance(x, str) and x.strip() for x in val):
                    out.append(self.issue(f"{key} must be a list of non-empty strings", line_of((key,))))
                elif key != "tags" and not val:
                    out.append(self.issue(f"{key} must not be empty (be honest: who else matches?)", line_of((key,))))
        return out


class DetectionShapeValidator(Validator):
    """``detection`` has ``all`` and/or ``any`` (and optional ``none``), each a non-empty list of mappings."""

    check = "detection_shape"
    description = "detection is {all|any|none: [conditions]}"

    def validate(self, raw: dict[str, Any], line_of: LineOf) -> list[Issue]:
        """See class docstring."""
        det = raw.get("detection")
        if "detection" not in raw:
            return []
        line = line_of(("detection",))
        if not isinstance(det, dict):
            return [self.issue("detection must be a mapping", line)]
        out = [
            self.issue(f"unknown detection part {k!r}", line_of(("detection", k)))
            for k in det
            if k not in ("all", "any", "none")
        ]
        if not det.get("all") and not det.get("any"):
            out.append(self.issue("detection needs a non-empty 'all' or 'any' list", line))
        for part in ("all", "any", "none"):
            if part in det and (not isinstance(det[part], list) or not all(isinstance(c, dict) for c in det[part])):
                out.append(self.issue(f"detection.{part} must be a list of conditions", line_of(("detection", part))))
        return out


class ConditionValidator(Validator):
    """Each condition has a known ``field`` and exactly one operator with a value of the right type."""

    check = "condition"
    description = "known field, one known operator, value type, list operators on list fields"

    def validate(self, raw: dict[str, Any], line_of: LineOf) -> list[Issue]:
        """See class docstring."""
        table = raw.get("table", "exchanges")
        fields = _known_fields(table if table in TABLES else "exchanges")
        lists = _list_fields()
        out = []
        for path, cond in _conditions(raw):
            if not isinstance(cond, dict):
                continue
            line = line_of(path)
            name = cond.get("field")
            if name not in fields:
                out.append(self.issue(f"unknown field {name!r} for table {table!r}", line))
            ops = [k for k in cond if k != "field"]
            if len(ops) != 1:
                out.append(self.issue(f"a condition needs exactly one operator, got {ops}", line))
                continue
            op, value = ops[0], cond[ops[0]]
            if op not in OPERATORS:
                out.append(self.issue(f"unknown operator {op!r} (use one of {sorted(OPERATORS)})", line))
                continue
            expected = OPERATORS[op]
            if not isinstance(value, expected) or (op in ("gte", "lte", "len_gte") and isinstance(value, bool)):
                out.append(self.issue(f"{op} takes {expected}, got {type(value).__name__}", line))
            if (op in LIST_OPERATORS) != (name in lists) and name in fields:
                out.append(
                    self.issue(
                        f"operator {op!r} {'needs' if op in LIST_OPERATORS else 'cannot take'} a list field ({name!r})",
                        line,
                    )
                )
        return out


class RegexValidator(Validator):
    """Every regex compiles (Python ``re``; the compiled SQL uses the engine's RE2/Java flavour)."""

    check = "regex"
    description = "regex and any_regex values compile"

    def validate(self, raw: dict[str, Any], line_of: LineOf) -> list[Issue]:
        """See class docstring."""
        out = []
        for path, cond in _conditions(raw):
            for op in ("regex", "any_regex"):
                if isinstance(cond, dict) and isinstance(cond.get(op), str):
                    try:
                        re.compile(cond[op])
                    except re.error as exc:
                        out.append(self.issue(f"bad regex {cond[op]!r}: {exc}", line_of(path)))
                    if re.search(r"\(\?[<P]|\\[AZz]|\(\?[=!]", cond[op]):
                        out.append(
                            self.issue(
                                "lookarounds, named groups and \\A/\\Z are not portable to DuckDB/Spark", line_of(path)
                            )
                        )
        return out


class TestsValidator(Validator):
    """At least one positive and one negative inline test; each has name, expect (bool), event (mapping)."""

    check = "tests"
    description = "inline tests: >=1 positive and >=1 negative, well-formed, known event fields"

    def validate(self, raw: dict[str, Any], line_of: LineOf) -> list[Issue]:
        """See class docstring."""
        tests = raw.get("tests")
        if "tests" not in raw:
            return []
        if not isinstance(tests, list):
            return [self.issue("tests must be a list", line_of(("tests",)))]
        out = []
        fields = set(EXCHANGE_SCHEMA.names)
        if raw.get("table") == "exchanges_enriched":
            fields = _known_fields("exchanges_enriched")
        for i, t in enumerate(tests):
            line = line_of(("tests", i))
            if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not isinstance(t.get("expect"), bool):
                out.append(self.issue("each test needs name (text) and expect (true/false)", line))
                continue
            event = t.get("event")
            if not isinstance(event, dict):
                out.append(self.issue(f"test {t['name']!r}: event must be a mapping", line))
                continue
            unknown = sorted(set(event) - fields)
            if unknown:
                out.append(self.issue(f"test {t['name']!r}: unknown event fields {unknown}", line))
        expects = [t.get("expect") for t in tests if isinstance(t, dict)]
        if True not in expects or False not in expects:
            out.append(self.issue("needs at least one positive and one negative test", line_of(("tests",))))
        return out


class DuplicateIdValidator(Validator):
    """No two rules share an id (checked across files in :meth:`finalize`)."""

    check = "duplicate_id"
    description = "rule ids unique across files"

    def __init__(self) -> None:
        self.seen: dict[str, list[tuple[str, int | None]]] = {}
        self.current_path = ""

    def validate(self, raw: dict[str, Any], line_of: LineOf) -> list[Issue]:
        """Record the id; issues come from :meth:`finalize`."""
        if isinstance(raw.get("id"), str):
            self.seen.setdefault(raw["id"], []).append((self.current_path, line_of(("id",))))
        return []

    def finalize(self) -> list[tuple[str, Issue]]:
        """Every file whose id another file also uses."""
        out: list[tuple[str, Issue]] = []
        for rid, where in self.seen.items():
            if len(where) > 1:
                others = ", ".join(p for p, _ in where)
                out.extend((p, self.issue(f"id {rid} used by {others}", line)) for p, line in where)
        return out


#: The per-file validators, in order.
VALIDATORS: tuple[type[Validator], ...] = (
    RequiredKeysValidator,
    IdValidator,
    ChoiceValidator,
    MetadataValidator,
    DetectionShapeValidator,
    ConditionValidator,
    RegexValidator,
    TestsValidator,
)
