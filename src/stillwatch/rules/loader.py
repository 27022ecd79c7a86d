"""Load rule files: parse YAML with line numbers, run every validator, collect ALL errors.

:func:`load_rule` raises one :class:`~stillwatch.exceptions.RuleError` whose message lists every
problem of the file as ``path:line: [check] message``; :func:`load_rules` does the same across a
directory (plus cross-file checks such as duplicate ids).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from stillwatch.exceptions import RuleError
from stillwatch.rules.model import Condition, Detection, Rule, RuleTest
from stillwatch.rules.validators import VALIDATORS, DuplicateIdValidator, Issue, Validator

BUILTIN_PACKAGE = "stillwatch.rules.builtin"


def builtin_dir() -> Path:
    """Directory of the shipped rules."""
    return Path(str(resources.files(BUILTIN_PACKAGE)))


def _line_index(node: yaml.Node | None) -> dict[tuple[Any, ...], int]:
    """Map every key path of a composed YAML node to its 1-based line."""
    out: dict[tuple[Any, ...], int] = {}

    def walk(n: yaml.Node, path: tuple[Any, ...]) -> None:
        out.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
                out[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, (*path, i))

    if node is not None:
        walk(node, ())
    return out


def parse(text: str, path: str = "<string>") -> tuple[dict[str, Any], dict[tuple[Any, ...], int]]:
    """Parse one YAML document into a mapping and its line index.

    Raises:
        RuleError: The text is not YAML or not a mapping.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise RuleError(f"{where}: [yaml] {exc}", hint="fix the YAML syntax") from exc
    if not isinstance(raw, dict):
        raise RuleError(f"{path}: [yaml] a rule file must be a mapping", hint="see docs/rules.md")
    return raw, _line_index(node)


def validate(
    raw: dict[str, Any], lines: dict[tuple[Any, ...], int], validators: Iterable[Validator] | None = None
) -> list[Issue]:
    """Every issue of one parsed rule."""

    def line_of(path: tuple[Any, ...]) -> int | None:
        while path and path not in lines:
            path = path[:-1]
        return lines.get(path)

    issues: list[Issue] = []
    for v in validators if validators is not None else [cls() for cls in VALIDATORS]:
        issues.extend(v.validate(raw, line_of))
    return issues


def build(raw: dict[str, Any], path: Path | None) -> Rule:
    """A :class:`Rule` from a mapping that passed validation."""
    det = raw["detection"]

    def conds(items: list[dict[str, Any]] | None) -> tuple[Condition, ...]:
        out = []
        for c in items or []:
            op = next(k for k in c if k != "field")
            out.append(Condition(c["field"], op, c[op]))
        return tuple(out)

    return Rule(
        id=str(raw["id"]), title=raw["title"].strip(), status=raw["status"], level=raw["level"],
        version=int(raw["version"]), description=raw["description"].strip(),
        references=tuple(raw["references"]), falsepositives=tuple(raw["falsepositives"]), kind=raw["kind"],
        detection=Detection(conds(det.get("all")), conds(det.get("any")), conds(det.get("none"))),
        tests=tuple(RuleTest(t["name"], t["expect"], dict(t["event"])) for t in raw["tests"]),
        table=raw.get("table", "exchanges"), tags=tuple(raw.get("tags") or ()), author=str(raw.get("author", "")),
        path=path,
    )  # fmt: skip


def load_rule(source: Path | str, *, text: str | None = None) -> Rule:
    """Load and validate one rule file.

    Args:
        source: The file (or a display name when ``text`` is given).
        text: YAML text to parse instead of reading ``source``.

    Raises:
        RuleError: Every problem of the file, one per line.
    """
    path = Path(source)
    body = text if text is not None else path.read_text("utf-8")
    raw, lines = parse(body, str(path))
    issues = validate(raw, lines)
    if issues:
        raise RuleError(
            f"{len(issues)} problem(s) in {path}:\n" + "\n".join(i.render(str(path)) for i in issues),
            hint="fix every listed problem; see docs/rules.md",
        )
    return build(raw, path if text is None else None)


def load_rules(directory: Path | str | None = None) -> list[Rule]:
    """Load every ``*.yml``/``*.yaml`` rule in a directory (default: the built-in rules).

    Raises:
        RuleError: Every problem of every file, including duplicate ids across files.
    """
    folder = Path(directory) if directory is not None else builtin_dir()
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    dup = DuplicateIdValidator()
    problems: list[str] = []
    rules: list[Rule] = []
    for path in files:
        dup.current_path = str(path)
        try:
            raw, lines = parse(path.read_text("utf-8"), str(path))
        except RuleError as exc:
            problems.append(str(exc))
            continue
        issues = validate(raw, lines, [*(cls() for cls in VALIDATORS), dup])
        if issues:
            problems.extend(i.render(str(path)) for i in issues)
        else:
            rules.append(build(raw, path))
    problems.extend(issue.render(p) for p, issue in dup.finalize())
    if problems:
        raise RuleError(f"{len(problems)} problem(s) in rules under {folder}:\n" + "\n".join(problems),
                        hint="fix every listed problem; see docs/rules.md")  # fmt: skip
    return rules
