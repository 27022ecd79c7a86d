"""Ingest files into the store: read, map, validate, quarantine, de-duplicate, commit.

Each file is streamed in batches into a staging folder and committed through
:mod:`stillwatch.store.commit`, so memory stays bounded whatever the file size, a re-ingested
file (same bytes, any name) adds nothing, and a killed run leaves a consistent store.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stillwatch.config import Settings
from stillwatch.exceptions import InputFormatError
from stillwatch.ingest.canonical import utc_now
from stillwatch.ingest.fastpath import BlockOutput, fast_results
from stillwatch.ingest.formats import READERS, TABLES, NotAnInputError, sniff
from stillwatch.ingest.readers import RawItem
from stillwatch.ingest.worker import ChunkJob, ChunkResult, process_chunk, staging_schema
from stillwatch.schema.records import QUARANTINE_SCHEMA
from stillwatch.store.catalog import Catalog
from stillwatch.store.commit import StagedIngest, recover
from stillwatch.store.daysink import DaySink
from stillwatch.store.layout import StoreLayout

Progress = Callable[[int], None]


@dataclass
class FileResult:
    """What happened to one input file."""

    path: str
    format: str
    table: str
    status: str  # loaded | already_ingested | failed
    loaded: int = 0
    quarantined: int = 0
    duplicates: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    error: str | None = None


@dataclass
class IngestSummary:
    """Totals over all files of one ingest run."""

    files: list[FileResult] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        """Rows stored."""
        return sum(f.loaded for f in self.files)

    @property
    def quarantined(self) -> int:
        """Rows sent to quarantine."""
        return sum(f.quarantined for f in self.files)

    @property
    def duplicates(self) -> int:
        """Rows skipped because their key was already stored with the same content."""
        return sum(f.duplicates for f in self.files)

    def reasons(self) -> Counter[str]:
        """Quarantine reasons (the code before the colon) over all files."""
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.reasons)
        return total


def fingerprint(path: Path) -> str:
    """SHA-256 of the file's bytes (the identity used for idempotent re-ingest)."""
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise InputFormatError(f"cannot read {path}: {exc.strerror}", hint="check the path") from exc
    return h.hexdigest()


CHUNK_ITEMS = 4_000
POOL_MIN_BYTES = 8 * 1024 * 1024  # smaller files are processed in-process


class _ParquetSink:
    """Appends Arrow batches to one Parquet file, created on the first batch."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self.writer: pq.ParquetWriter | None = None
        self.count = 0

    def write(self, batch: pa.RecordBatch | None) -> None:
        if batch is None or batch.num_rows == 0:
            return
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self.writer.write_batch(batch)
        self.count += batch.num_rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _chunks(items: Iterator[RawItem], size: int) -> Iterator[list[RawItem]]:
    chunk: list[RawItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run_jobs(jobs: Iterator[ChunkJob], pool: Executor | None, workers: int) -> Iterator[ChunkResult]:
    """Run chunk jobs in order, with at most ``2 * workers`` in flight (bounded memory)."""
    if pool is None:
        for job in jobs:
            yield process_chunk(job)
        return
    pending: deque[Future[ChunkResult]] = deque()
    for job in jobs:
        pending.append(pool.submit(process_chunk, job))
        if len(pending) >= 2 * workers:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _ingest_one(path: Path, settings: Settings, layout: StoreLayout, catalog: Catalog, pool: Executor | None,
                workers: int, *, table_hint: str | None, fmt_hint: str | None,
                progress: Progress | None) -> FileResult:
    fp = fingerprint(path)
    sniffed_fmt, sniffed_table = sniff(path)
    fmt: str = fmt_hint or sniffed_fmt
    table: str = table_hint or sniffed_table
    done = catalog.committed(fp)
    if done is not None:
        return FileResult(str(path), done["format"], done["table_name"], "already_ingested")
    result = FileResult(str(path), fmt, table, "loaded")
    staged = StagedIngest(layout, fp[:24])
    staged.reset()
    cfg = settings.ingest
    rows: _ParquetSink | DaySink
    if table == "exchanges":
        rows = DaySink(staged.days, staged.keys / "main.parquet", staging_schema(table),
                       f"part-{staged.ingest_id}-main.parquet")
    else:
        rows = _ParquetSink(staged.rows, staging_schema(table))
    quarantine = _ParquetSink(staged.quarantine, QUARANTINE_SCHEMA)
    use_pool = pool if path.stat().st_size >= POOL_MIN_BYTES else None
    now = utc_now()
    results: Iterator[ChunkResult]
    if fmt == "jsonl" and table == "exchanges" and cfg.fast_path:
        results = fast_results(path, ingest_id=staged.ingest_id, keep_raw=cfg.keep_raw_request,
                               max_line_bytes=cfg.max_line_bytes, now=now, pool=use_pool, workers=workers,
                               out=BlockOutput(staged.days, staged.keys))  # rows written where they are mapped
    else:
        jobs = (ChunkJob(table, fmt, str(path), staged.ingest_id, cfg.keep_raw_request, now, chunk)
                for chunk in _chunks(READERS[fmt](path, cfg.max_line_bytes), CHUNK_ITEMS))
        results = _run_jobs(jobs, use_pool, workers)
    try:
        for res in results:
            rows.write(res.rows)
            quarantine.write(res.quarantine)
            result.reasons.update(res.reasons)
            if progress is not None:
                progress(res.seen)
    finally:
        rows.close()
        quarantine.close()
    manifest = staged.prepare(catalog, fingerprint=fp, path=str(path), fmt=fmt, table=table,
                              quarantined=quarantine.count)
    staged.publish(catalog)
    result.loaded = manifest.rows_loaded
    result.duplicates = manifest.duplicates
    conflicts = manifest.rows_quarantined - quarantine.count
    if conflicts:
        result.reasons["conflicting_duplicate"] += conflicts
    result.quarantined = manifest.rows_quarantined
    return result


def _ready(_: int) -> bool:
    return True


def _start_pool(workers: int) -> Executor:
    """Start the worker processes now, before any DuckDB connection (and its threads) exists.

    ``fork`` is used so that library callers need no ``if __name__ == "__main__"`` guard (``spawn``
    would re-import their script); forking before the catalog is opened keeps the children clean.
    """
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    list(pool.map(_ready, range(workers)))
    return pool


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files named, plus the files inside named directories (sorted); missing paths raise."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(c for c in p.rglob("*") if c.is_file() and not c.name.startswith(".")))
        elif p.is_file():
            out.append(p)
        else:
            raise InputFormatError(f"{p} does not exist", hint="check the path")
    return out


def ingest(settings: Settings, paths: Iterable[Path | str], *, table: str | None = None,
           fmt: str | None = None, progress: Progress | None = None) -> IngestSummary:
    """Ingest files into the store.

    Args:
        settings: Settings (``data_dir``, ``ingest``).
        paths: Files or directories.
        table: Force the target table (``exchanges``, ``accounts``, ``enforcement``, ``reports``).
        fmt: Force the format (``jsonl``, ``csv``, ``parquet``, ``otel``, ``litellm``).
        progress: Called with the number of items read since the last call.

    Returns:
        What was loaded, quarantined (by reason) and skipped.
    """
    if table is not None and table not in TABLES:
        raise InputFormatError(f"unknown table {table!r}", hint=f"use one of {', '.join(TABLES)}")
    if fmt is not None and fmt not in READERS:
        raise InputFormatError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(READERS)}")
    files = expand_paths(paths)
    layout = StoreLayout(settings.data_dir)
    summary = IngestSummary()
    workers = settings.ingest.workers or os.cpu_count() or 1
    big = any(p.stat().st_size >= POOL_MIN_BYTES for p in files)
    pool = _start_pool(workers) if big and workers > 1 else None
    try:
        with layout.writer_lock(), Catalog(layout.catalog) as catalog:
            summary.recovered = recover(layout, catalog)
            for path in files:
                try:
                    summary.files.append(_ingest_one(path, settings, layout, catalog, pool, workers,
                                                     table_hint=table, fmt_hint=fmt, progress=progress))
                except NotAnInputError as exc:
                    summary.files.append(FileResult(str(path), "-", "-", "skipped", error=exc.one_line()))
                except InputFormatError as exc:
                    summary.files.append(FileResult(str(path), fmt or "?", table or "?", "failed",
                                                    error=exc.one_line()))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return summary
