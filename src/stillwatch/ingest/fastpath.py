"""The ingest fast path for provider-logs-v1 JSON Lines: DuckDB maps lines to canonical rows.

Python reads the (gzip) file on a background thread and cuts it into blocks of lines, one buffer
per block (:mod:`stillwatch.ingest.lineblocks`); DuckDB parses and maps each block with the SQL of
:mod:`stillwatch.ingest.fastsql` in the worker processes. Lines that SQL does not map
(``fast_ok = false``: a broken rule, a parser divergence, fields for ``extra``, IPv6 …) go as
:class:`RawItem` to the Python mapper, which lists their problems and quarantines them or maps
them; nothing is lost and both paths give the same rows.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
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
from stillwatch.ingest.lineblocks import LineBlock, read_blocks
from stillwatch.ingest.readers import RawItem, crc32
from stillwatch.ingest.worker import ChunkJob, ChunkResult, process_chunk, staging_schema
from stillwatch.schema.exchange import EXCHANGE_SCHEMA_VERSION
from stillwatch.store.daysink import DaySink

MAX_BRACKETS = 1000  # fewer opening brackets than orjson's nesting limit (1024): cannot be too deep


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
        n = len(block)
        if not n:
            return None, slow
        numbers, data, offsets = block.numbers, block.data, block.offsets
        raw = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])
        # fewer brackets than orjson's nesting limit: cannot be too deep (else the Python mapper says so);
        # bytes.count on the block's buffer is three times faster than Arrow's count_substring
        bounds = offsets.tolist()
        ok = pa.array([data.count(b"[", s, e) + data.count(b"{", s, e) < MAX_BRACKETS
                       for s, e in zip(bounds[:-1], bounds[1:], strict=True)])
        try:
            text = raw.cast(pa.string())
        except pa.ArrowInvalid:  # invalid UTF-8 somewhere: those lines go to the Python mapper
            ok = pc.and_(ok, pa.array([_is_utf8(block.line(i)) for i in range(n)]))
            text = None
        keep = np.flatnonzero(ok.to_numpy(zero_copy_only=False))
        if text is None:
            text = raw.take(pa.array(keep)).cast(pa.string())
        elif len(keep) < n:
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
            return None, [*slow, *(RawItem(int(numbers[i]), block.line(i)) for i in range(n))]
        fast = result if pc.all(result["fast_ok"]).as_py() else result.filter(result["fast_ok"])
        columns, bad = message_columns(fast)
        if bad.any():
            good = pa.array(~bad)
            fast = fast.filter(good)
            columns = {k: v.filter(good) for k, v in columns.items()}
        pos = fast["pos"].to_numpy()
        left = np.ones(n, dtype=bool)
        left[pos] = False
        slow.extend(RawItem(int(numbers[i]), block.line(int(i))) for i in np.flatnonzero(left))
        if not len(pos):
            return None, slow
        return self._complete(fast, columns, block, raw, pos, schema), slow

    def _complete(self, fast: pa.Table, columns: dict[str, pa.Array], block: LineBlock, raw: pa.Array,
                  pos: np.ndarray, schema: pa.Schema) -> pa.RecordBatch:
        """Add the columns SQL does not compute: header-order hash, raw request, crc, source.

        ``pos`` are the block positions of the rows of ``fast``; ``raw`` is the block's lines.
        """
        n = fast.num_rows
        joined = pc.binary_join(fast["header_names"], "\n").to_pylist()
        lengths = pc.list_value_length(fast["header_names"]).to_pylist()
        hashes = [_order_hash(j) if k else None for j, k in zip(joined, lengths, strict=True)]  # [""] has a hash
        if self.keep_raw:  # as received: the day file's zstd column compression packs it (schema v2)
            every = len(pos) == len(raw) and bool((pos == np.arange(len(pos))).all())
            raw_request = raw if every else raw.take(pa.array(pos))
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
            "crc": pa.array(_crcs(block, pos), pa.uint64()),
        }
        arrays = []
        for f in schema:
            col = extra[f.name] if f.name in extra else fast[f.name]
            arrays.append(col.cast(f.type) if col.type != f.type else col)
        return pa.Table.from_arrays(arrays, schema=schema).combine_chunks().to_batches()[0]


def _crcs(block: LineBlock, pos: np.ndarray) -> list[int]:
    """CRC-32 of the block's lines at ``pos`` (read in place from the block's buffer)."""
    view, offsets = memoryview(block.data), block.offsets
    return [crc32(view[s:e]) for s, e in zip(offsets[pos].tolist(), offsets[pos + 1].tolist(), strict=True)]


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
