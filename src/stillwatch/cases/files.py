"""Reading JSON Lines files and reporting what an import did."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stillwatch.cases.common import InvalidInputError
from stillwatch.exceptions import InputFormatError, NotFoundError


@dataclass
class ImportResult:
    """What an import of findings did.

    Attributes:
        opened: Ids of cases opened.
        attached: Number of new findings attached to an existing case.
        updated: Number of findings already known (updated in place).
        shadow: Number of findings from shadow detectors (recorded, no case).
        errors: ``(line, reason)`` for each finding that could not be read (nothing else is lost).
    """

    opened: list[int] = field(default_factory=list)
    attached: int = 0
    updated: int = 0
    shadow: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "opened": self.opened,
            "attached": self.attached,
            "updated": self.updated,
            "shadow": self.shadow,
            "errors": [{"line": n, "reason": r} for n, r in self.errors],
        }


def read_jsonl(path: Path) -> list[tuple[int, Any]]:
    """Read a JSON Lines file (``.gz`` allowed) or a JSON array into ``(line, value)`` pairs.

    Lines that are not JSON come back as ``(line, InvalidInputError)`` so callers can report them.

    Raises:
        NotFoundError: If the file does not exist.
        InputFormatError: If it cannot be read at all.
    """
    if not path.exists():
        raise NotFoundError(f"file {path} does not exist", hint="check the path")
    try:
        raw = gzip.open(path, "rt", encoding="utf-8").read() if path.suffix == ".gz" else path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"cannot read {path}: {exc}") from exc
    if raw.lstrip().startswith("["):
        try:
            return list(enumerate(json.loads(raw), start=1))
        except json.JSONDecodeError as exc:
            raise InputFormatError(f"{path} is not valid JSON: {exc}") from exc
    out: list[tuple[int, Any]] = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            out.append((n, InvalidInputError(f"not JSON: {exc.msg}")))
    return out
