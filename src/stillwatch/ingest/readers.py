"""Readers for provider-logs-v1 files: JSON Lines (plain or gzip), CSV with a header, Parquet.

A reader yields :class:`RawItem` objects: the 1-based line (or row) number, the raw bytes, and
either the parsed object or the reason it could not be read. Readers never raise for a bad line;
they raise :class:`InputFormatError` only when the whole file cannot be opened.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from stillwatch.exceptions import InputFormatError

try:  # ISA-L's inflate: about 3x zlib's speed on provider logs; the same gzip format and GzipFile API
    from isal import isal_zlib
    from isal.igzip import IGzipFile as _FastGzipFile

    _IsalError: type[Exception] = isal_zlib.error  # type: ignore[assignment]  # the stub calls it an instance
    #: CRC-32 (zlib's polynomial, the same values as :func:`zlib.crc32`), ISA-L's when installed (3x faster).
    crc32 = isal_zlib.crc32
except ImportError:  # pragma: no cover - isal ships wheels for the usual platforms; else stdlib gzip only
    _FastGzipFile = None  # type: ignore[assignment,misc]
    _IsalError = zlib.error
    crc32 = zlib.crc32

RAW_KEEP_BYTES = 64 * 1024  # raw text kept in quarantine for an oversized line
#: What a damaged or truncated compressed stream raises while it is read.
DECOMPRESSION_ERRORS: tuple[type[Exception], ...] = (EOFError, zlib.error, _IsalError, OSError)


@dataclass(slots=True)
class RawItem:
    """One input line or row.

    Attributes:
        line: 1-based line or row number in the file.
        raw: The raw bytes as read (cut to RAW_KEEP_BYTES for oversized lines).
        obj: Parsed object, or None when unreadable.
        error: Why the item could not be read (``code:detail``), or None.
        raw_truncated: Whether ``raw`` was cut.
    """

    line: int
    raw: bytes
    obj: Any = None
    error: str | None = None
    raw_truncated: bool = False


def open_maybe_gzip(path: Path, *, fast: bool = False) -> IO[bytes]:
    """Open a file for binary reading, transparently decompressing gzip.

    Args:
        path: The file.
        fast: Inflate with ISA-L when it is installed (see :func:`read_chunks`, which also keeps
            what the standard library would keep from a damaged stream).
    """
    try:
        fh: IO[bytes] = path.open("rb")
    except OSError as exc:
        raise InputFormatError(f"cannot open {path}: {exc.strerror}", hint="check the path and permissions") from exc
    head = fh.read(2)
    fh.seek(0)
    if head == b"\x1f\x8b":
        if fast and _FastGzipFile is not None:
            return _FastGzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    return fh


def _full_chunks(read1: Callable[[int], bytes], size: int, *, keep_partial: bool) -> Iterator[bytes]:
    """Chunks of exactly ``size`` bytes (the last one shorter) from a ``read1``-style reader.

    ``read1`` may return less than asked (the standard library's gzip returns about 30 KB at a
    time); the pieces are joined. On an error, with ``keep_partial`` the bytes read so far are
    yielded before the error is raised again.
    """
    parts: list[bytes] = []
    have = 0
    try:
        while data := read1(size - have):
            parts.append(data)
            have += len(data)
            if have >= size:
                yield parts[0] if len(parts) == 1 else b"".join(parts)
                parts, have = [], 0
    except DECOMPRESSION_ERRORS:
        if keep_partial and parts:
            yield b"".join(parts)
        raise
    if parts:
        yield b"".join(parts)


def read_chunks(path: Path, size: int) -> Generator[bytes, None, None]:
    """Yield the decompressed bytes of ``path`` (plain or gzip) in chunks of ``size`` (the last shorter).

    The fast inflater gives up earlier than zlib on a damaged stream (it loses the part of its
    last chunk decoded before the damage), so on an error the file is read again with the
    standard library from where the fast reader stopped: a damaged file yields exactly the bytes
    the standard library yields, then its error is raised.

    Raises:
        One of :data:`DECOMPRESSION_ERRORS` where the stream is damaged or truncated.
    """
    done = 0
    with open_maybe_gzip(path, fast=True) as fh:
        fast = _FastGzipFile is not None and isinstance(fh, _FastGzipFile)
        try:
            for chunk in _full_chunks(getattr(fh, "read1", fh.read), size, keep_partial=not fast):
                done += len(chunk)
                yield chunk
            return
        except DECOMPRESSION_ERRORS:
            if not fast:
                raise
    with open_maybe_gzip(path) as fh:
        while done:  # what the fast reader already gave
            skipped = fh.read(min(done, size))
            if not skipped:
                return
            done -= len(skipped)
        yield from _full_chunks(fh.read1, size, keep_partial=True)  # type: ignore[attr-defined]


def iter_lines(fh: IO[bytes], max_line_bytes: int) -> Iterator[RawItem]:
    """Yield lines with their numbers; oversized lines and a truncated gzip stream become errors."""
    number = 0
    while True:
        try:
            line = fh.readline(max_line_bytes + 1)
        except DECOMPRESSION_ERRORS as exc:
            yield RawItem(number + 1, b"", error=f"truncated_or_corrupt_compression:{exc}")
            return
        if not line:
            return
        number += 1
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            kept = line[:RAW_KEEP_BYTES]
            try:  # skip the rest of the oversized line
                while True:
                    more = fh.readline(max_line_bytes)
                    if not more or more.endswith(b"\n"):
                        break
            except DECOMPRESSION_ERRORS:
                pass
            yield RawItem(number, kept, error=f"line_too_long:more than {max_line_bytes} bytes", raw_truncated=True)
            continue
        yield RawItem(number, line.rstrip(b"\r\n"))


def parse_json_line(item: RawItem) -> RawItem:
    """Parse the JSON in a line item (in place); blank lines are skipped by the caller."""
    if item.error is not None:
        return item
    try:
        item.obj = orjson.loads(item.raw)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        code = "invalid_utf8" if "utf-8" in msg.lower() or "utf8" in msg.lower() else "invalid_json"
        if "recursion" in msg.lower() or "depth limit" in msg.lower():
            code = "json_too_deep"
        item.error = f"{code}:{msg[:200]}"
    return item


def read_jsonl(path: Path, max_line_bytes: int, *, parse: bool = True) -> Iterator[RawItem]:
    """Read a JSON Lines file (plain or gzip).

    Args:
        path: The file.
        max_line_bytes: Longer lines are quarantined.
        parse: Parse each line here; with False the caller (an ingest worker) parses it.
    """
    with open_maybe_gzip(path) as fh:
        for item in iter_lines(fh, max_line_bytes):
            if item.error is None and not item.raw.strip():
                continue
            yield parse_json_line(item) if parse else item


def read_jsonl_raw(path: Path, max_line_bytes: int) -> Iterator[RawItem]:
    """Read JSON Lines without parsing (parsing happens in the ingest workers)."""
    return read_jsonl(path, max_line_bytes, parse=False)


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """Turn dotted keys (``http.method``) into nested objects; JSON-looking cells are parsed."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None or value == "":
            continue
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        node = out
        parts = str(key).split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                node[part] = nxt
            node = nxt
        node[parts[-1]] = value
    return out


_CSV_NUMERIC = {
    "response.status": int,
    "response.latency_ms": float,
    "response.usage.input_tokens": int,
    "response.usage.output_tokens": int,
}
CSV_REQUIRED_EXCHANGE = ("ts", "request_id", "account_id", "api_key_id", "client_ip", "http.method",
                         "http.path", "request", "response.status")


def read_csv(path: Path, max_line_bytes: int) -> Iterator[RawItem]:
    """Read a CSV export with a header row; dotted column names map to nested fields."""
    csv.field_size_limit(max_line_bytes)
    with open_maybe_gzip(path) as raw_fh:
        text = io.TextIOWrapper(raw_fh, encoding="utf-8", errors="strict", newline="")
        try:
            reader = csv.reader(text)
            header = next(reader, None)
        except (UnicodeDecodeError, csv.Error) as exc:
            yield RawItem(1, b"", error=f"unreadable_csv_header:{exc}")
            return
        if not header:
            return
        header = [h.strip() for h in header]
        looks_like_exchanges = "request_id" in header or "request" in header
        missing = [c for c in CSV_REQUIRED_EXCHANGE if c not in header] if looks_like_exchanges else []
        if missing:
            yield RawItem(1, ",".join(header).encode(), error=f"missing_columns:{','.join(missing)}")
            return
        number = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (UnicodeDecodeError, csv.Error) as exc:
                number += 1
                yield RawItem(number, b"", error=f"unreadable_csv_row:{exc}")
                return
            number += 1
            raw = ",".join(cells).encode("utf-8", "surrogatepass")
            if len(cells) != len(header):
                yield RawItem(number, raw, error=f"wrong_cell_count:{len(cells)} cells, header has {len(header)}")
                continue
            flat: dict[str, Any] = {}
            bad = None
            for key, cell in zip(header, cells, strict=True):
                conv = _CSV_NUMERIC.get(key)
                if conv is not None and cell != "":
                    try:
                        flat[key] = conv(cell)
                    except ValueError:
                        bad = f"bad_number:{key}={cell[:20]!r}"
                        flat[key] = cell
                else:
                    flat[key] = cell
            item = RawItem(number, raw, obj=unflatten(flat))
            if bad and key in CSV_REQUIRED_EXCHANGE:
                item.error = bad
            yield item


_JSON_PATHS = (("request",), ("http",), ("response",), ("http", "headers"), ("http", "header_order"))


def _decode_json_cells(obj: dict[str, Any]) -> None:
    """Parse object-typed fields that a warehouse export stored as JSON text (in place)."""
    for path in _JSON_PATHS:
        node: Any = obj
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(path[-1]), str):
            try:
                node[path[-1]] = orjson.loads(node[path[-1]])
            except orjson.JSONDecodeError:
                pass


def read_parquet(path: Path, max_line_bytes: int) -> Iterator[RawItem]:
    """Read a Parquet file with provider-logs-v1 columns (nested structs or dotted names)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise InputFormatError(f"{path} is not a readable Parquet file: {exc}") from exc
    number = 0
    for batch in pf.iter_batches(batch_size=10_000):
        for rec in batch.to_pylist():
            number += 1
            obj = unflatten(rec) if any("." in k for k in rec) else {k: v for k, v in rec.items() if v is not None}
            for key, value in list(obj.items()):
                if hasattr(value, "isoformat"):
                    obj[key] = value.isoformat()
            _decode_json_cells(obj)
            raw = orjson.dumps(obj, default=str)
            yield RawItem(number, raw[:RAW_KEEP_BYTES] if len(raw) > max_line_bytes else raw, obj=obj,
                          raw_truncated=len(raw) > max_line_bytes)
