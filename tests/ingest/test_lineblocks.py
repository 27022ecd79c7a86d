"""Blocks of lines for the fast path follow the line rules of the line reader, across read boundaries."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from stillwatch.ingest import lineblocks
from stillwatch.ingest.lineblocks import LineBlock, split_blocks

MAX = 40
_LINES = st.one_of(
    st.sampled_from([b"", b" ", b"\t", b"  \r", b"\r", b'{"a":1}', b'{"a":1}\r', b' {"a":2}', b"x\r\r", b"\x0c"]),
    st.binary(max_size=MAX - 2).map(lambda b: b.replace(b"\n", b"")),
    st.integers(MAX + 2, 3 * MAX).map(lambda k: b"y" * k),  # oversized (no \r at the limit)
)


def _reference(data: bytes) -> tuple[list[tuple[int, bytes]], list[int]]:
    """The line rules on the whole file at once: (number, line) kept, numbers of oversized lines."""
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    kept, bad = [], []
    for number, piece in enumerate(pieces, 1):
        line = piece.rstrip(b"\r")
        if len(line) > MAX:
            bad.append(number)
        elif line.strip():
            kept.append((number, line))
    return kept, bad


def _blocks(path: Path) -> tuple[list[tuple[int, bytes]], list[int], list[LineBlock]]:
    blocks = list(split_blocks(path, MAX))
    kept = [(int(n), line) for b in blocks for n, line in zip(b.numbers, b.lines, strict=True)]
    bad = sorted(i.line for b in blocks for i in b.bad)
    return kept, bad, blocks


@hsettings(max_examples=200, deadline=None)
@given(lines=st.lists(_LINES, max_size=25), final_newline=st.booleans(), read=st.integers(8, 120),
       per_block=st.integers(1, 6), gz=st.booleans())
def test_split_blocks_follow_the_line_rules(lines: list[bytes], final_newline: bool, read: int, per_block: int,
                                            gz: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    assume(gz or not data.startswith(b"\x1f\x8b"))  # a plain file with gzip's magic is read as gzip
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(lineblocks, "READ_BYTES", read)
        mp.setattr(lineblocks, "CHUNK_LINES", per_block)
        path = Path(tmp) / ("x.jsonl.gz" if gz else "x.jsonl")
        path.write_bytes(gzip.compress(data) if gz else data)
        kept, bad, blocks = _blocks(path)
    assert (kept, bad) == _reference(data)
    assert all(len(b) <= per_block for b in blocks)
    assert all(i.error and i.error.startswith("line_too_long") and i.raw_truncated for b in blocks for i in b.bad)


def test_damaged_gzip_keeps_the_lines_before_the_damage(tmp_path: Path) -> None:
    data = b"".join(b'{"i": %d}\n' % i for i in range(50_000))
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(gzip.compress(data)[:100_000])
    blocks = list(split_blocks(path, MAX))
    kept = [line for b in blocks for line in b.lines]
    errors = [i.error for b in blocks for i in b.bad]
    assert 0 < len(kept) < 50_000 and kept == data.split(b"\n")[: len(kept)]
    assert len(errors) == 1 and str(errors[0]).startswith("truncated_or_corrupt_compression")
