"""Role-assigning system prompts as hard negatives for the jailbreak classifier.

An application's system prompt assigns the model a role ("You are a travel guide.", "You are a
Linux terminal. I will type commands…"). Jailbreak templates assign roles too ("You are DAN…"),
so a classifier that has only seen personas in the "I want you to act as …" form of the
awesome-prompts corpora learns "you are <role>" as a jailbreak cue, and flags every exchange of an
application whose system prompt assigns one (docs/evaluation.md, session 7, item (b)4).

These rows restate the real persona prompts of ``awesome-prompts-en`` (CC0) and
``awesome-prompts-zh`` (MIT) in the form an application sends as its system prompt:

* ``identity`` — the role line alone: ``You are a Travel Guide.`` / ``你是一名翻译家。``;
* ``restated`` — the persona prompt with its request opener ("I want you to act as a", "Act as",
  "我想让你充当") replaced by the role assignment ("You are a", "你是"); the rest of the text is the
  corpus text as written.

Each row keeps the split unit of the persona it comes from (``persona_en:<act>``,
``persona_zh:<index>``), so a held-out persona is held out in both forms and grouped
cross-validation never scores a restatement of a persona it was trained on. Rows that are
near-copies of a jailbreak template are dropped by the trainer like every negative.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path

#: Negative groups built here, and the persona group whose split unit each row keeps.
SPLIT_AS = {"sysprompt_en": "persona_en", "sysprompt_zh": "persona_zh"}

_EN_OPENER = re.compile(
    r"^\s*(?:I want you to|I would like you to|I'd like you to|I need you to|Please)?\s*"
    r"(?:act|behave|serve|function)\s+(?:as|like)\s+(?:(?P<art>an?|the)\s+)?",
    re.IGNORECASE,
)
_ZH_OPENER = re.compile(
    r"^\s*(?:下面)?(?:我希望你|我想让你|我要你|请你|让你|你将)?(?:能)?(?:充当|担任|扮演|作为|假定自己是|来充当)"
)
_ZH_ACT = re.compile(r"^(?:充当|担任|扮演|作为)")
csv.field_size_limit(1 << 24)


def _article(role: str) -> str:
    return "an" if role[:1].lower() in "aeiou" else "a"


def _en_rows(data: Path) -> Iterator[tuple[str, str, str]]:
    with gzip.open(data / "awesome-prompts-en" / "prompts.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            item, prompt = row.get("act") or "", (row.get("prompt") or "").strip()
            act = item.strip()
            if not act or not prompt:
                continue
            yield item, f"You are {_article(act)} {act}.", "identity"
            m = _EN_OPENER.match(prompt)
            if m and m.end() < len(prompt):
                art = f"{m.group('art')} " if m.group("art") else ""
                yield item, f"You are {art}{prompt[m.end() :]}", "restated"


def _zh_rows(data: Path) -> Iterator[tuple[str, str, str]]:
    with open(data / "awesome-prompts-zh" / "prompts-zh.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    for i, row in enumerate(rows):
        act, prompt = _ZH_ACT.sub("", (row.get("act") or "").strip()), (row.get("prompt") or "").strip()
        if act:
            yield str(i), f"你是{act}。", "identity"
        m = _ZH_OPENER.match(prompt)
        if m and prompt:
            yield str(i), "你是" + prompt[m.end() :].lstrip(), "restated"


def sysprompt_negatives(data: Path) -> Iterator[tuple[str, str, str]]:
    """``(group, item, text)`` of role-assigning system prompts; ``item`` is the persona's split item.

    Args:
        data: The corpora folder.
    """
    seen: set[str] = set()
    for group, rows in (("sysprompt_en", _en_rows(data)), ("sysprompt_zh", _zh_rows(data))):
        for item, text, _form in rows:
            if text not in seen:
                seen.add(text)
                yield group, item, text


def sysprompt_files() -> list[str]:
    """Corpus files read here (relative to the corpora folder), for the manifest."""
    return ["awesome-prompts-en/prompts.csv.gz", "awesome-prompts-zh/prompts-zh.jsonl"]
