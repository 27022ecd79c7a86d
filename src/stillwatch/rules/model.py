"""The detection-rule model: what a rule file holds once parsed.

A rule (one YAML file under ``stillwatch/rules/builtin/``) is a small, reviewed indicator over
one canonical exchange: a boolean condition over fields of the ``exchanges`` table (or
``exchanges_enriched``), plus the metadata detection-as-code needs (pySigma / panther-analysis
style): a UUID ``id``, ``status``, ``level``, integer ``version``, ``references``,
``falsepositives`` and inline positive and negative ``tests``.

Detection syntax::

    detection:
      all:                      # every condition holds (AND)
        - {field: user_agent, regex: "^Go-http-client/"}
      any:                      # at least one holds (OR); optional
        - {field: system_text, contains: "You are Claude Code"}
      none:                     # none holds (AND NOT); optional

At least one of ``all`` / ``any`` is required. Each condition names one field and exactly one
operator from :data:`OPERATORS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Rule maturity, shared with detectors. ``shadow``: recorded and evaluated, never opens cases.
STATUSES: tuple[str, ...] = ("shadow", "test", "stable", "deprecated")
LEVELS: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")
TABLES: tuple[str, ...] = ("exchanges", "exchanges_enriched")
KINDS: tuple[str, ...] = ("relay", "subrouting", "subsidiary", "distillation", "ban_evasion", "jailbreak")

#: Operators and the value type each takes. ``any_*`` apply to list fields.
OPERATORS: dict[str, type | tuple[type, ...]] = {
    "equals": (str, int, float, bool),
    "startswith": str,
    "endswith": str,
    "contains": str,
    "regex": str,
    "in": list,
    "absent": bool,
    "gte": (int, float),
    "lte": (int, float),
    "any_equals": str,
    "any_contains": str,
    "any_regex": str,
    "len_gte": int,
}
LIST_OPERATORS = frozenset({"any_equals", "any_contains", "any_regex", "len_gte"})

#: Fields derived from canonical columns (name -> description); compiled in :mod:`.compile`.
DERIVED_FIELDS: dict[str, str] = {
    "first_user_text": "the first user turn (user_texts[0])",
    "last_user_text": "the last user turn",
    "all_user_text": "every user turn joined with newlines",
}

REQUIRED_KEYS: tuple[str, ...] = (
    "id", "title", "status", "level", "version", "description", "references", "falsepositives", "kind",
    "detection", "tests",
)  # fmt: skip
OPTIONAL_KEYS: tuple[str, ...] = ("author", "date", "modified", "tags", "table")


@dataclass(frozen=True, slots=True)
class Condition:
    """One field test."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Detection:
    """AND of ``all``, OR of ``any`` (when present), AND NOT of ``none``."""

    all: tuple[Condition, ...] = ()
    any: tuple[Condition, ...] = ()
    none: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleTest:
    """An inline test: a canonical-exchange-shaped event and whether the rule must match it."""

    name: str
    expect: bool
    event: dict[str, Any]


@dataclass(frozen=True)
class Rule:
    """A parsed, validated rule.

    Attributes:
        id: Stable UUID (never reused; a retired rule keeps it with status ``deprecated``).
        title: One line.
        status: One of :data:`STATUSES`.
        level: One of :data:`LEVELS`.
        version: Positive integer; bump on every change of detection or tests (the manifest checks).
        description: What the rule finds and why.
        references: Sources (research notes, upstream code paths, issues).
        falsepositives: Honest notes on who else matches.
        kind: Finding kind the rule supports.
        detection: The condition.
        tests: Inline tests.
        table: ``exchanges`` (default) or ``exchanges_enriched``.
        tags: Free tags (e.g. relay family).
        path: File the rule came from.
    """

    id: str
    title: str
    status: str
    level: str
    version: int
    description: str
    references: tuple[str, ...]
    falsepositives: tuple[str, ...]
    kind: str
    detection: Detection
    tests: tuple[RuleTest, ...]
    table: str = "exchanges"
    tags: tuple[str, ...] = ()
    author: str = ""
    path: Path | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """The file stem (human-friendly handle)."""
        return self.path.stem if self.path else self.id

    @property
    def fields(self) -> set[str]:
        """Every field the detection reads."""
        d = self.detection
        return {c.field for c in (*d.all, *d.any, *d.none)}
