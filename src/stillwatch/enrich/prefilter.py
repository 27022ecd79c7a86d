"""Sound literal pre-filters for the cue and capability regexes.

Python's ``re`` tries every alternative of a large alternation at every position of the text;
most texts match none of the cue and capability patterns, so most of that work is wasted. A
pre-filter answers "cannot match" cheaply and otherwise lets the regex decide, so results are
unchanged:

* every branch of a pattern's top-level alternation needs its top-level literal runs (e.g.
  ``\\bsolve\\b`` needs ``solve``); the pattern can match only if, for some branch, all its
  runs occur in the text;
* comparison is on *folded* text: ``re``'s own case rules for ``IGNORECASE`` (simple lower
  case plus ``re``'s extra equivalence classes such as s/ſ, i/ı, σ/ς), applied character by
  character, so a case-insensitive match always implies a folded substring;
* a pattern with a branch that has no literal run (``\\d+\\s*[+\\-*/^=]\\s*\\d+``) gets no
  pre-filter and always runs.

:class:`PatternSet` goes further for a fixed set of patterns: their top-level branches become
regexes of their own (``re.search(A|B)`` finds a match exactly when ``A`` or ``B`` does), the
literal runs of every branch go into one Aho-Corasick automaton (``pyahocorasick``) that finds
all of them in one pass over the folded text, and only branches whose runs all occur (or that
have none) are searched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

#: Folding of ``re``'s extra case-equivalence classes to one member (the smallest).
_FOLD_TABLE: dict[int, int] = {}
try:
    from re._casefix import _EXTRA_CASES  # type: ignore[import-not-found]

    for _lo, _others in _EXTRA_CASES.items():
        _rep = min((_lo, *_others))
        for _cp in (_lo, *_others):
            if _cp != _rep:
                _FOLD_TABLE[_cp] = _rep
except ImportError:  # pragma: no cover - an interpreter without the table: no extra folding
    pass
_FOLD_CHARS = re.compile("[" + "".join(re.escape(chr(c)) for c in _FOLD_TABLE) + "]") if _FOLD_TABLE else None


def fold(text: str) -> str:
    """Text folded the way ``re`` compares characters under ``IGNORECASE``, one to one.

    ``str.lower`` is the simple lower-case mapping except for U+0130 (İ), whose full mapping
    has two characters; it is replaced by ``I`` first (same simple lower case, ``i``).
    """
    low = text.replace("\u0130", "I").lower()
    if _FOLD_CHARS is not None and not low.isascii() and _FOLD_CHARS.search(low):
        low = low.translate(_FOLD_TABLE)
    return low


@lru_cache(maxsize=256)
def branch_runs(pattern: str, flags: int) -> tuple[tuple[str, ...], ...] | None:
    """Per top-level branch, the folded literal runs it needs; ``None`` when some branch has none
    (or the pattern cannot be analysed): no pre-filter then."""
    try:
        from re import _constants, _parser  # type: ignore[attr-defined]

        data = list(_parser.parse(pattern, flags).data)
        branch_at = [i for i, (op, _) in enumerate(data) if op is _constants.BRANCH]
        if len(branch_at) == 1:  # prefix items (factored out by the parser), alternation, suffix items
            i = branch_at[0]
            common = _runs(data[:i], _constants.LITERAL) + _runs(data[i + 1 :], _constants.LITERAL)
            branches = [_runs(list(b.data), _constants.LITERAL) + common for b in data[i][1][1]]
        else:
            branches = [_runs(data, _constants.LITERAL)]
        if not all(branches):
            return None
        return tuple(tuple(b) for b in branches)
    except Exception:  # noqa: BLE001 - no pre-filter, the regex decides
        return None


def _runs(items: list[tuple[Any, Any]], literal: object) -> list[str]:
    """Folded runs of consecutive top-level literals."""
    runs, cur = [], ""
    for op, av in items:
        if op is literal:
            cur += chr(av)
        elif cur:
            runs.append(fold(cur))
            cur = ""
    if cur:
        runs.append(fold(cur))
    return runs


def search(rx: re.Pattern[str], text: str, folded: str) -> bool:
    """``bool(rx.search(text))``, skipping the regex when its literals are absent from ``folded``.

    Args:
        rx: A compiled pattern.
        text: The text.
        folded: :func:`fold` of ``text``.
    """
    plan = _plan(rx.pattern, rx.flags)
    if plan is not None:
        singles, multis = plan
        if not any(map(folded.__contains__, singles)) and not any(
            all(r in folded for r in branch) for branch in multis
        ):
            return False
    return rx.search(text) is not None


@lru_cache(maxsize=256)
def _plan(pattern: str, flags: int) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]] | None:
    """:func:`branch_runs` split into one-run branches (checked in one C-level pass) and the rest."""
    runs = branch_runs(pattern, flags)
    if runs is None:
        return None
    return tuple(b[0] for b in runs if len(b) == 1), tuple(b for b in runs if len(b) > 1)


def split_branches(pattern: str) -> list[str] | None:
    """The top-level alternatives of a pattern's source, or ``None`` when splitting could change
    what a part means (inline flags, back-references, named-group references, unbalanced text).

    Each returned part compiles on its own with the pattern's flags, and the pattern matches a
    text exactly when one of the parts does.
    """
    if "(?" in pattern.replace("(?:", "") or re.search(r"\\[1-9]|\(\?P=", pattern):
        return None
    parts, start, depth, i, in_class = [], 0, 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":  # a leading ] is a literal member
                i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return None if depth or in_class else parts


class PatternSet:
    """Several named regexes searched together: one literal pass, then only hopeful branches.

    ``matching(text, folded)`` equals ``[name for name, rx in patterns if rx.search(text)]``.

    Args:
        patterns: ``(name, compiled pattern)`` pairs, in the order answers are listed.
    """

    def __init__(self, patterns: Sequence[tuple[str, re.Pattern[str]]]) -> None:
        import ahocorasick

        self.names = tuple(name for name, _ in patterns)
        run_ids: dict[str, int] = {}
        #: Per pattern, its branches: (compiled branch, run ids it needs or None = always searched).
        self._branches: list[list[tuple[re.Pattern[str], frozenset[int] | None]]] = []
        for _, rx in patterns:
            parts = split_branches(rx.pattern)
            branches: list[tuple[re.Pattern[str], frozenset[int] | None]] = []
            for part in parts if parts is not None else [rx.pattern]:
                try:
                    brx = re.compile(part, rx.flags) if parts is not None and len(parts) > 1 else rx
                except re.error:  # cannot happen for a faithful split; stay with the whole pattern
                    branches = [(rx, None)]
                    break
                runs = branch_runs(part, rx.flags)
                need = None
                if runs is not None and len(runs) == 1:
                    need = frozenset(run_ids.setdefault(r, len(run_ids)) for r in runs[0])
                branches.append((brx, need))
            self._branches.append(branches)
        #: Branches searched on every text, and the others under the first run each needs.
        self._always = [(k, brx) for k, bs in enumerate(self._branches) for brx, need in bs if need is None]
        self._by_run: dict[int, list[tuple[int, re.Pattern[str], frozenset[int]]]] = {r: [] for r in run_ids.values()}
        for k, bs in enumerate(self._branches):
            for brx, need in bs:
                if need is not None:
                    self._by_run[min(need)].append((k, brx, need))
        self._automaton: Any = None
        if run_ids:
            automaton = ahocorasick.Automaton()
            for run, rid in run_ids.items():
                automaton.add_word(run, rid)
            automaton.make_automaton()
            self._automaton = automaton

    def found_runs(self, folded: str) -> set[int]:
        """Ids of the literal runs that occur in ``folded``."""
        if self._automaton is None or not folded:
            return set()
        return {rid for _, rid in self._automaton.iter(folded)}

    def matching(self, text: str, folded: str) -> list[str]:
        """Names of the patterns that match ``text`` (``folded`` is :func:`fold` of it)."""
        found = self.found_runs(folded)
        hit: set[int] = set()
        for k, brx in self._always:
            if k not in hit and brx.search(text) is not None:
                hit.add(k)
        for rid in found:
            for k, brx, need in self._by_run[rid]:
                if k not in hit and need <= found and brx.search(text) is not None:
                    hit.add(k)
        return [self.names[k] for k in sorted(hit)]
