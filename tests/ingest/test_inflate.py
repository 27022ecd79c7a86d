"""The fast inflater (ISA-L) gives the same bytes as the standard library, damaged files included."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from stillwatch.ingest import readers
from stillwatch.ingest.readers import DECOMPRESSION_ERRORS, read_chunks


def _stdlib(path: Path, size: int) -> tuple[bytes, bool]:
    """What the standard library's gzip reader yields before it fails, and whether it failed."""
    out = bytearray()
    with gzip.open(path, "rb") as fh:
        try:
            while data := fh.read1(size):  # type: ignore[attr-defined]
                out += data
        except DECOMPRESSION_ERRORS:
            return bytes(out), True
    return bytes(out), False


def _chunks(path: Path, size: int) -> tuple[bytes, bool]:
    out = bytearray()
    chunks: list[bytes] = []
    try:
        for data in read_chunks(path, size):
            assert len(data) <= size
            chunks.append(data)
            out += data
    except DECOMPRESSION_ERRORS:
        return bytes(out), True
    assert all(len(data) == size for data in chunks[:-1])  # full chunks, whatever read1 returns
    return bytes(out), False


def _payload(n: int) -> bytes:
    rng = random.Random(n)
    return b"".join(b'{"i": %d, "t": "%s"}\n' % (i, rng.randbytes(40).hex().encode()) for i in range(n))


@pytest.mark.parametrize("fast", [True, False], ids=["isal", "stdlib-fallback"])
@pytest.mark.parametrize("cut", [None, 0.5, 0.97, "corrupt"])
def test_read_chunks_equals_stdlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool,
                                   cut: float | str | None) -> None:
    if not fast:
        monkeypatch.setattr(readers, "_FastGzipFile", None)
    else:  # isal is a declared dependency: its absence is a broken install, not a reason to skip
        assert readers._FastGzipFile is not None, "isal is not installed; run make install"
    data = gzip.compress(_payload(20_000))
    if cut == "corrupt":
        data = data[:1000] + b"\x00garbage" * 50 + data[1400:]
    elif cut is not None:
        data = data[: int(len(data) * float(cut))]
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(data)
    for size in (4096, 1 << 20):
        got, failed = _chunks(path, size)
        want, want_failed = _stdlib(path, size)
        assert failed == want_failed == (cut is not None)
        assert got == want  # a damaged file: exactly what the standard library keeps
        if cut is None:
            assert got == want == _payload(20_000)


def test_read_chunks_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(_payload(500))
    assert b"".join(read_chunks(path, 1000)) == _payload(500)


def test_crc32_is_zlibs() -> None:
    import zlib

    from stillwatch.ingest.readers import crc32

    for data in (b"", b"a", _payload(300), bytes(range(256)) * 50):
        assert crc32(data) == zlib.crc32(data) and crc32(memoryview(data)[1:]) == zlib.crc32(data[1:])
