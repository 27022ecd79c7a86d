"""Blocks of JSON Lines for the ingest fast path: one bytes buffer per block, not one object per line.

The reader thread inflates the file and cuts it into blocks of whole lines. A block is the lines'
bytes joined without their newlines, their offsets and their line numbers, so it crosses to a
worker process as three objects whatever the number of lines, and the worker hands it to Arrow
and DuckDB without copying line by line. The line rules are those of
:func:`stillwatch.ingest.readers.iter_lines`: blank lines are skipped (but counted), a trailing
``\\r`` is dropped, an oversized line and a damaged compressed stream become error items, and a
last line without a newline is still a line.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stillwatch.ingest.readers import DECOMPRESSION_ERRORS, RAW_KEEP_BYTES, RawItem, read_chunks

READ_BYTES = 32 * 1024 * 1024  # one read of inflated bytes; its whole lines make one or more blocks
CHUNK_LINES = 20_000  # at most this many lines per block
#: Bytes that ``bytes.strip()`` removes: a line starting with one may be blank.
_WHITESPACE = np.array([ord(c) for c in " \t\n\r\x0b\x0c"], dtype=np.uint8)


@dataclass
class LineBlock:
    """Lines of one block and the items already known to be bad.

    Attributes:
        numbers: 1-based line number of each line (int64).
        data: The lines' bytes, concatenated without separators.
        offsets: Line ``i`` is ``data[offsets[i]:offsets[i + 1]]`` (int64, one more than lines).
        bad: Error items (oversized lines, a damaged compressed stream).
    """

    numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    data: bytes = b""
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    bad: list[RawItem] = field(default_factory=list)

    @classmethod
    def from_lines(cls, numbers: list[int] | np.ndarray, lines: list[bytes],
                   bad: list[RawItem] | None = None) -> LineBlock:
        """A block of the given lines (taken as they are)."""
        offsets = np.zeros(len(lines) + 1, np.int64)
        np.cumsum(np.fromiter(map(len, lines), np.int64, len(lines)), out=offsets[1:])
        return cls(np.asarray(numbers, np.int64), b"".join(lines), offsets, list(bad or []))

    def __len__(self) -> int:
        return len(self.numbers)

    def line(self, i: int) -> bytes:
        """The bytes of line ``i`` of the block."""
        return self.data[self.offsets[i]:self.offsets[i + 1]]

    @property
    def lines(self) -> list[bytes]:
        """Every line as bytes (for tests and the rare per-line paths)."""
        return [self.line(i) for i in range(len(self))]


def _pack(pieces: list[bytes], first: int, max_line_bytes: int, bad: list[RawItem]) -> LineBlock:
    """One block from consecutive lines ``pieces`` (numbered from ``first``), rules applied.

    Only the lines that may need a rule (empty, oversized, a first byte that ``strip`` removes, a
    trailing ``\\r``) are looked at one by one; the block is joined again only if one changed.
    """
    n = len(pieces)
    numbers = np.arange(first, first + n, dtype=np.int64)
    block = LineBlock.from_lines(numbers, pieces, bad)
    lengths = np.diff(block.offsets)
    buf = np.frombuffer(block.data, np.uint8)
    nonempty = np.flatnonzero(lengths > 0)
    odd = np.zeros(n, dtype=bool)
    odd[lengths == 0] = True
    odd[lengths > max_line_bytes] = True
    odd[nonempty[np.isin(buf[block.offsets[nonempty]], _WHITESPACE)]] = True
    odd[nonempty[buf[block.offsets[nonempty + 1] - 1] == ord("\r")]] = True
    if not odd.any():
        return block
    keep_numbers: list[int] = []
    keep_lines: list[bytes] = []
    for i, piece in enumerate(pieces):
        line = piece.rstrip(b"\r") if odd[i] else piece
        if len(line) > max_line_bytes:
            bad.append(RawItem(int(numbers[i]), line[:RAW_KEEP_BYTES],
                               error=f"line_too_long:more than {max_line_bytes} bytes", raw_truncated=True))
        elif not odd[i] or line.strip():
            keep_numbers.append(int(numbers[i]))
            keep_lines.append(line)
    return LineBlock.from_lines(keep_numbers, keep_lines, bad)


def split_blocks(path: Path, max_line_bytes: int) -> Iterator[LineBlock]:
    """Yield the blocks of ``path`` (plain or gzip) in file order."""
    number = 0
    tail = b""
    skipping = False  # inside an oversized line, until its newline
    with closing(read_chunks(path, READ_BYTES)) as chunks:  # what was decoded before a damaged part is kept
        while True:
            bad: list[RawItem] = []
            try:
                data = next(chunks, b"")
            except DECOMPRESSION_ERRORS as exc:
                yield LineBlock(bad=[RawItem(number + 1, b"", error=f"truncated_or_corrupt_compression:{exc}")])
                return
            if not data:
                if tail and not skipping:
                    yield _pack([tail], number + 1, max_line_bytes, bad)
                return
            pieces = data.split(b"\n")
            pieces[0] = tail + pieces[0]  # not (tail + data): one copy of the read less
            tail = pieces.pop()
            if skipping and pieces:  # the end of the oversized line
                del pieces[0]
                skipping = False
            first = number + 1
            number += len(pieces)
            if len(tail) > max_line_bytes and not skipping:
                number += 1
                bad.append(RawItem(number, tail[:RAW_KEEP_BYTES],
                                   error=f"line_too_long:more than {max_line_bytes} bytes", raw_truncated=True))
                skipping, tail = True, b""
            elif skipping:
                tail = b""
            for start in range(0, max(len(pieces), 1), CHUNK_LINES):
                part = pieces[start:start + CHUNK_LINES]
                last = start + CHUNK_LINES >= len(pieces)
                block = _pack(part, first + start, max_line_bytes, bad if last else [])
                if len(block) or block.bad:
                    yield block


def read_blocks(path: Path, max_line_bytes: int) -> Iterator[LineBlock]:
    """:func:`split_blocks` on a background thread (inflating overlaps with the mapping)."""
    q: queue.Queue[LineBlock | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def run() -> None:
        try:
            for blk in split_blocks(path, max_line_bytes):
                while not stop.is_set():
                    try:
                        q.put(blk, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(exc)

    thread = threading.Thread(target=run, name="stillwatch-read", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
