"""Input format and target table detection by extension and content sniffing."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import orjson

from stillwatch.exceptions import InputFormatError
from stillwatch.ingest.litellm import read_litellm
from stillwatch.ingest.otel import read_otel
from stillwatch.ingest.readers import RawItem, open_maybe_gzip, read_csv, read_jsonl_raw, read_parquet

Format = Literal["jsonl", "csv", "parquet", "otel", "litellm"]
Table = Literal["exchanges", "accounts", "enforcement", "reports"]
Reader = Callable[[Path, int], Iterator[RawItem]]

READERS: dict[str, Reader] = {
    "jsonl": read_jsonl_raw,
    "csv": read_csv,
    "parquet": read_parquet,
    "otel": read_otel,
    "litellm": read_litellm,
}
FORMATS: tuple[str, ...] = tuple(READERS)
TABLES: tuple[str, ...] = ("exchanges", "accounts", "enforcement", "reports")
SNIFF_BYTES = 256 * 1024
_OTLP_START = re.compile(rb'\{\s*"resourceSpans"\s*:')


class NotAnInputError(InputFormatError):
    """The file is recognisably not log data (ground-truth labels, a JSON document of something else)."""


def table_for_keys(keys: set[str]) -> Table | None:
    """Guess the spec table from the field names of one record."""
    if {"entity", "label", "id"} <= keys:
        raise NotAnInputError("this file holds ground-truth labels, not logs",
                              hint="pass it to 'stillwatch eval --labels' instead")
    if "resourceSpans" in keys:
        return "exchanges"
    if "request_id" in keys and ("request" in keys or "http" in keys or "http.method" in keys):
        return "exchanges"
    if "report_id" in keys:
        return "reports"
    if "action" in keys and "account_id" in keys:
        return "enforcement"
    if "account_id" in keys and "created_at" in keys:
        return "accounts"
    return None


def _is_litellm(keys: set[str]) -> bool:
    return "call_type" in keys and bool(keys & {"messages", "model_group", "spend", "model_parameters"})


def _first_array_item(head: bytes) -> dict[str, object] | None:
    """The first object of a JSON array, if the sniffed head holds all of it; else None."""
    try:
        doc = orjson.loads(head)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        return doc[0]
    return None


def sniff(path: Path) -> tuple[Format, Table]:
    """Detect the format of ``path`` and the table its rows belong to.

    Raises:
        InputFormatError: The file cannot be opened or is empty of anything recognisable.
    """
    name = path.name.lower()
    for suffix in (".gz",):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            cols = set(pq.read_schema(path).names)
        except Exception as exc:
            raise InputFormatError(f"{path} is not a readable Parquet file: {exc}") from exc
        return "parquet", table_for_keys(cols) or "exchanges"
    with open_maybe_gzip(path) as fh:
        try:
            head = fh.read(SNIFF_BYTES)
        except (EOFError, OSError):
            head = b""
    if name.endswith(".csv"):
        first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
        cols = {c.strip().strip('"') for c in first.split(",")}
        return "csv", table_for_keys(cols) or "exchanges"
    stripped = head.lstrip()
    if _OTLP_START.match(stripped):  # an OTLP/JSON export starts with its resourceSpans key
        return "otel", "exchanges"
    if stripped.startswith(b"["):
        item0 = _first_array_item(head)
        if item0 is None or _is_litellm(set(item0)):
            return "litellm", "exchanges"
        raise NotAnInputError("this JSON array does not hold LiteLLM payloads or log records",
                              hint="ingest the provider-logs-v1 files next to it, or force --format")
    if stripped.startswith(b"{") and b"\n" in stripped and not stripped.split(b"\n", 1)[0].rstrip().endswith(b"}"):
        try:  # a pretty-printed JSON document, not JSON Lines
            doc = orjson.loads(head) if len(head) < SNIFF_BYTES else None
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and table_for_keys(set(doc)) is None:
            raise NotAnInputError("this is a single JSON document, not JSON Lines of log records",
                                  hint="ingest the provider-logs-v1 files next to it")
    for line in stripped.split(b"\n")[:20]:
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            keys = set(obj)
            if "resourceSpans" in keys:
                return "otel", "exchanges"
            if _is_litellm(keys):
                return "litellm", "exchanges"
            table = table_for_keys(keys)
            if table:
                return "jsonl", table
    return "jsonl", "exchanges"  # unknown content: every unreadable line is quarantined with its reason
