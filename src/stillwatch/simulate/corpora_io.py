"""Low-level readers shared by the corpora loaders: JSON Lines, CSV, JSON, with clear errors."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stillwatch.exceptions import InputFormatError

csv.field_size_limit(16 * 1024 * 1024)

Pair = tuple[str, str | None]
Pools = dict[str, list[Pair]]


def _open_text(path: Path) -> io.TextIOBase:
    if not path.is_file():
        raise InputFormatError(f"corpora file missing: {path}", hint="point --corpora at a complete data folder")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open("r", encoding="utf-8")


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSON Lines corpus file, plain or ``.gz`` (blank lines skipped).

    Raises:
        InputFormatError: A line is not a JSON object (the message names file and line).
    """
    with _open_text(path) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputFormatError(f"malformed JSON in {path} line {n}: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise InputFormatError(f"malformed row in {path} line {n}: not an object")
            yield row


def _csv(path: Path) -> Iterator[dict[str, str]]:
    with _open_text(path) as fh:
        yield from csv.DictReader(fh)


def _json(path: Path) -> Any:
    with _open_text(path) as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as exc:
            raise InputFormatError(f"malformed JSON in {path}: {exc.msg}") from exc


def _field(row: dict[str, Any], key: str, path: Path) -> Any:
    if key not in row:
        raise InputFormatError(f"malformed row in {path}: field {key!r} missing")
    return row[key]


def _is_cjk(text: str) -> bool:
    han = sum(1 for ch in text[:400] if "\u4e00" <= ch <= "\u9fff")
    kana = sum(1 for ch in text[:400] if "\u3040" <= ch <= "\u30ff")
    return han >= 8 and kana < 3


def _mcq(question: str, choices: list[str], letters: str = "ABCDE") -> str:
    lines = [question.strip()]
    for letter, choice in zip(letters, choices, strict=False):
        text = str(choice).strip()
        lines.append(text if text[:3].strip("()").strip() == letter else f"{letter}. {text}")
    return "\n".join(lines)


def _add(pools: Pools, name: str, prompt: Any, reply: Any = None) -> None:
    if isinstance(prompt, str) and prompt.strip():
        rep = reply if isinstance(reply, str) and reply.strip() else None
        pools.setdefault(name, []).append((prompt.strip(), rep))


_jsonl = iter_jsonl  # the simulator's own callers
