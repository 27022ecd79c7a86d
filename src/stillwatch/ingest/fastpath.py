"""The ingest fast path for provider-logs-v1 JSON Lines: DuckDB maps lines to canonical rows.

Python reads the (gzip) file in large blocks on a background thread and splits it into lines;
DuckDB parses and maps each block of lines with the SQL of :mod:`stillwatch.ingest.fastsql` on all
cores. Lines that SQL does not map (``fast_ok = false``: a broken rule, a parser divergence, fields
for ``extra``, IPv6 …) come back as :class:`RawItem` for the Python mapper, which lists their
problems and quarantines them or maps them; nothing is lost and both paths give the same rows.
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stillwatch.ingest.canonical import header_order_hash
from stillwatch.ingest.fastcols import message_columns
from stillwatch.ingest.fastsql import MACROS, SELECT, SELECT_ASSUMING_VALID, SELECT_GUARDED
from stillwatch.ingest.readers import DECOMPRESSION_ERRORS, RAW_KEEP_BYTES, RawItem, read_chunks
from stillwatch.ingest.worker import ChunkJob, ChunkResult, process_chunk, staging_schema
from stillwatch.schema.exchange import EXCHANGE_SCHEMA_VERSION
from stillwatch.store.daysink import DaySink

BLOCK_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 32 * 1024 * 1024
CHUNK_LINES = 20_000
MAX_BRACKETS = 1000  # fewer opening brackets than orjson's nesting limit (1024): cannot be too deep


@dataclass
class LineBlock:
    """Lines of one chunk: candidates for SQL, and items already known to be bad."""

    numbers: list[int] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    bad: list[RawItem] = field(default_factory=list)
    nbytes: int = 0


def _split_lines(path: Path, max_line_bytes: int) -> Iterator[LineBlock]:
    """Yield blocks of (number, line) pairs, with the same rules as :func:`readers.iter_lines`.

    Blank lines are skipped (but counted), oversized lines and a corrupt compressed stream become
    error items, a last line without a newline is still a line.
    """
    block = LineBlock()
    number = 0
    tail = b""
    skipping = False  # inside an oversized line, until its newline
    with closing(read_chunks(path, BLOCK_BYTES)) as chunks:  # what was decoded before a damaged part is kept
        while True:
            try:
                data = next(chunks, b"")
            except DECOMPRESSION_ERRORS as exc:
                block.bad.append(RawItem(number + 1, b"", error=f"truncated_or_corrupt_compression:{exc}"))
                break
            if not data:
                if tail and not skipping:
                    number += 1
                    _add_line(block, number, tail.rstrip(b"\r"), max_line_bytes)
                break
            pieces = (tail + data).split(b"\n")
            tail = pieces.pop()
            for piece in pieces:
                if skipping:
                    skipping = False
                    continue
                number += 1
                _add_line(block, number, piece.rstrip(b"\r"), max_line_bytes)
            if len(tail) > max_line_bytes and not skipping:
                number += 1
                block.bad.append(RawItem(number, tail[:RAW_KEEP_BYTES], error=f"line_too_long:more than "
                                         f"{max_line_bytes} bytes", raw_truncated=True))
                skipping, tail = True, b""
            elif skipping:
                tail = b""
            if block.nbytes >= CHUNK_BYTES or len(block.lines) >= CHUNK_LINES:
                yield block
                block = LineBlock()
    if block.lines or block.bad:
        yield block


def _add_line(block: LineBlock, number: int, line: bytes, max_line_bytes: int) -> None:
    if len(line) > max_line_bytes:
        block.bad.append(RawItem(number, line[:RAW_KEEP_BYTES],
                                 error=f"line_too_long:more than {max_line_bytes} bytes", raw_truncated=True))
    elif line.strip():
        block.numbers.append(number)
        block.lines.append(line)
        block.nbytes += len(line)


def read_blocks(path: Path, max_line_bytes: int) -> Iterator[LineBlock]:
    """:func:`_split_lines` on a background thread (decompression overlaps with DuckDB's work)."""
    q: queue.Queue[LineBlock | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def run() -> None:
        try:
            for blk in _split_lines(path, max_line_bytes):
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


@lru_cache(maxsize=65_536)
def _order_hash(joined: str) -> str:
    return header_order_hash(joined.split("\n"))


class FastMapper:
    """Maps blocks of provider-logs-v1 lines with DuckDB.

    Args:
        source: The file name recorded in ``source_file``.
        keep_raw: Keep the raw line in ``raw_request``.
        threads: DuckDB threads (0 = DuckDB's default: all cores).
    """

    def __init__(self, source: str, *, keep_raw: bool, threads: int = 0) -> None:
        self.source, self.keep_raw = source, keep_raw
        config: dict[str, str | bool | int | float | list[str]] = {}
        if threads:
            config["threads"] = threads
        self.con = duckdb.connect(config=config)
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(MACROS)

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.con.close()

    def _query(self) -> pa.Table:
        """Run the mapping query on ``chunk``: first assuming valid JSON, then with the validity pass."""
        for query in (SELECT_ASSUMING_VALID, SELECT):
            try:
                return self.con.execute(query).to_arrow_table()
            except duckdb.Error:  # a malformed line, or duplicate header names
                continue
        return self.con.execute(SELECT_GUARDED).to_arrow_table()

    def map(self, block: LineBlock, schema: pa.Schema) -> tuple[pa.RecordBatch | None, list[RawItem]]:
        """Map one block.

        Returns:
            The staged rows mapped by SQL (``schema``: canonical columns plus key and crc), and the
            items left for the Python mapper (bad lines first, then lines SQL did not map).
        """
        slow = list(block.bad)
        lines = block.lines
        if not lines:
            return None, slow
        numbers = np.asarray(block.numbers, dtype=np.int64)
        raw = pa.array(lines, pa.binary())
        # fewer brackets than orjson's nesting limit: cannot be too deep (else the Python mapper says so);
        # bytes.count is three times faster than Arrow's count_substring on these lines
        ok = pa.array([line.count(b"[") + line.count(b"{") < MAX_BRACKETS for line in lines])
        try:
            text = raw.cast(pa.string())
        except pa.ArrowInvalid:  # invalid UTF-8 somewhere: those lines go to the Python mapper
            ok = pc.and_(ok, pa.array([_is_utf8(b) for b in lines]))
            text = None
        keep = np.flatnonzero(ok.to_numpy(zero_copy_only=False))
        if text is None:
            text = raw.take(pa.array(keep)).cast(pa.string())
        elif len(keep) < len(lines):
            text = text.take(pa.array(keep))
        chunk = pa.table({"source_line": pa.array(numbers[keep]), "pos": pa.array(keep, pa.int64()), "raw": text})
        self.con.register("chunk", chunk)
        try:
            result = self._query()
        except duckdb.Error:  # unforeseen: the whole block takes the Python path
            result = None
        finally:
            self.con.unregister("chunk")
        if result is None:
            return None, [*slow, *(RawItem(int(numbers[i]), lines[i]) for i in range(len(lines)))]
        fast = result if pc.all(result["fast_ok"]).as_py() else result.filter(result["fast_ok"])
        columns, bad = message_columns(fast)
        if bad.any():
            good = pa.array(~bad)
            fast = fast.filter(good)
            columns = {k: v.filter(good) for k, v in columns.items()}
        pos = fast["pos"].to_numpy()
        fast_lines = [lines[i] for i in pos]
        left = np.ones(len(lines), dtype=bool)
        left[pos] = False
        slow.extend(RawItem(int(numbers[i]), lines[i]) for i in np.flatnonzero(left))
        if not fast_lines:
            return None, slow
        return self._complete(fast, columns, fast_lines, schema), slow

    def _complete(self, fast: pa.Table, columns: dict[str, pa.Array], lines: list[bytes],
                  schema: pa.Schema) -> pa.RecordBatch:
        """Add the columns SQL does not compute: header-order hash, raw request, crc, source."""
        n = fast.num_rows
        joined = pc.binary_join(fast["header_names"], "\n").to_pylist()
        lengths = pc.list_value_length(fast["header_names"]).to_pylist()
        hashes = [_order_hash(j) if k else None for j, k in zip(joined, lengths, strict=True)]  # [""] has a hash
        if self.keep_raw:  # as received: the day file's zstd column compression packs it (schema v2)
            raw_request = pa.array(lines, pa.binary())
        else:
            raw_request = pa.nulls(n, pa.binary())
        extra = {
            **columns,
            "header_order_hash": pa.array(hashes, pa.string()),
            "raw_request": raw_request,
            "extra": pa.nulls(n, pa.string()),
            "source_format": pa.array(["jsonl"] * n, pa.string()),
            "source_file": pa.array([self.source] * n, pa.string()),
            "schema_version": pa.array([EXCHANGE_SCHEMA_VERSION] * n, pa.int16()),
            "key": fast["request_id"],
            "crc": pa.array([zlib.crc32(b) for b in lines], pa.uint64()),
        }
        arrays = []
        for f in schema:
            col = extra[f.name] if f.name in extra else fast[f.name]
            arrays.append(col.cast(f.type) if col.type != f.type else col)
        return pa.Table.from_arrays(arrays, schema=schema).combine_chunks().to_batches()[0]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclass
class FastJob:
    """One block of lines for :func:`process_block` (in a worker process or in-process).

    With ``out`` set, the block's rows are written by the process that maps them, into day files
    ``<out.days>/day=D/part-<ingest_id>-<part>.parquet`` and the key file ``<out.keys>/part-<part>.parquet``
    (the rows never travel back to the parent process).
    """

    source: str
    ingest_id: str
    keep_raw: bool
    now: datetime
    block: LineBlock
    out: BlockOutput | None = None
    part: int = 0


@dataclass(frozen=True)
class BlockOutput:
    """Where :func:`process_block` writes rows: the staging day-partition and key folders."""

    days: Path
    keys: Path


_MAPPERS: dict[tuple[str, bool], FastMapper] = {}


def process_block(job: FastJob) -> list[ChunkResult]:
    """Map one block with SQL, and the lines SQL leaves with the Python mapper, in this process.

    Returns:
        The SQL-mapped rows, then the Python mapper's rows and quarantine for the other lines
        (with ``job.out``, the rows are already written and the results carry none).
    """
    mapper = _MAPPERS.get((job.source, job.keep_raw))
    if mapper is None:
        for old in _MAPPERS.values():
            old.close()
        _MAPPERS.clear()
        mapper = _MAPPERS[(job.source, job.keep_raw)] = FastMapper(job.source, keep_raw=job.keep_raw, threads=1)
    schema = staging_schema("exchanges")
    rows, slow = mapper.map(job.block, schema)
    results = [ChunkResult(rows, None, Counter(), rows.num_rows if rows is not None else 0)]
    if slow:
        results.append(process_chunk(ChunkJob("exchanges", "jsonl", job.source, job.ingest_id, job.keep_raw, job.now,
                                              slow)))
    if job.out is None:
        return results
    sink = DaySink(job.out.days, job.out.keys / f"part-{job.part}.parquet", schema,
                   f"part-{job.ingest_id}-{job.part}.parquet")
    try:
        for res in results:
            sink.write(res.rows)
    finally:
        sink.close()
    return [ChunkResult(None, res.quarantine, res.reasons, res.seen) for res in results]


def close_mappers() -> None:
    """Close the DuckDB connections of this process's mappers."""
    for mapper in _MAPPERS.values():
        mapper.close()
    _MAPPERS.clear()


def fast_results(path: Path, *, ingest_id: str, keep_raw: bool, max_line_bytes: int, now: datetime,
                 pool: Executor | None, workers: int, out: BlockOutput | None = None) -> Iterator[ChunkResult]:
    """Map ``path`` block by block (SQL first, the Python mapper for the rest), in file order.

    With a pool, blocks are mapped in the worker processes, at most ``2 * workers`` in flight
    (bounded memory); without one, in this process. With ``out``, each block's rows are written
    where they are mapped (see :class:`FastJob`) and the results carry only quarantine and counts.
    """
    jobs = (FastJob(str(path), ingest_id, keep_raw, now, block, out, part)
            for part, block in enumerate(read_blocks(path, max_line_bytes)))
    if pool is None:
        try:
            for job in jobs:
                yield from process_block(job)
        finally:
            close_mappers()
        return
    pending: deque[Future[list[ChunkResult]]] = deque()
    for job in jobs:
        pending.append(pool.submit(process_block, job))
        if len(pending) >= 2 * workers:
            yield from pending.popleft().result()
    while pending:
        yield from pending.popleft().result()
