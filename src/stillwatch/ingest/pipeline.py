"""Ingest files into the store: read, map, validate, quarantine, de-duplicate, commit.

Each file is streamed in batches into a staging folder and committed through
:mod:`stillwatch.store.commit`, so memory stays bounded whatever the file size, a re-ingested
file (same bytes, any name) adds nothing, and a killed run leaves a consistent store.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from stillwatch.config import Settings
from stillwatch.exceptions import InputFormatError
from stillwatch.ingest.canonical import to_canonical, utc_now
from stillwatch.ingest.formats import READERS, TABLES, sniff
from stillwatch.ingest.records import record_key, to_record
from stillwatch.schema.exchange import EXCHANGE_SCHEMA
from stillwatch.schema.records import QUARANTINE_SCHEMA, RECORD_TABLES
from stillwatch.store.catalog import Catalog
from stillwatch.store.commit import StagedIngest, recover
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


def _staging_schema(table: str) -> pa.Schema:
    base = EXCHANGE_SCHEMA if table == "exchanges" else RECORD_TABLES[table][0]
    return base.append(pa.field("key", pa.string())).append(pa.field("crc", pa.uint64()))


class _BatchWriter:
    """Accumulates rows and writes them to a Parquet file in batches."""

    def __init__(self, path: Path, schema: pa.Schema, batch_rows: int) -> None:
        self.path, self.schema, self.batch_rows = path, schema, batch_rows
        self.rows: list[dict[str, Any]] = []
        self.writer: pq.ParquetWriter | None = None
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        batch = pa.RecordBatch.from_pylist(self.rows, schema=self.schema)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self.writer.write_batch(batch)
        self.count += len(self.rows)
        self.rows = []

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.close()


def _ingest_one(path: Path, settings: Settings, layout: StoreLayout, catalog: Catalog, *,
                table_hint: str | None, fmt_hint: str | None, progress: Progress | None) -> FileResult:
    fp = fingerprint(path)
    fmt, table = sniff(path)
    fmt = fmt_hint or fmt
    table = table_hint or table
    done = catalog.committed(fp)
    if done is not None:
        return FileResult(str(path), done["format"], done["table_name"], "already_ingested")
    result = FileResult(str(path), fmt, table, "loaded")
    staged = StagedIngest(layout, fp[:24])
    staged.reset()
    cfg = settings.ingest
    rows = _BatchWriter(staged.rows, _staging_schema(table), cfg.batch_rows)
    quarantine = _BatchWriter(staged.quarantine, QUARANTINE_SCHEMA, cfg.batch_rows)
    compressor = zstandard.ZstdCompressor(level=3)
    now = utc_now()
    source = str(path)

    def to_quarantine(line: int, raw: bytes, reason: str, truncated: bool) -> None:
        code = reason.split(":", 1)[0]
        result.reasons[code] += 1
        quarantine.add({"ingest_id": staged.ingest_id, "source_file": source, "source_line": line,
                        "kind": code, "reason": reason[:2000], "raw": raw, "raw_encoding": "identity",
                        "raw_truncated": truncated,
                        "quarantined_at": now})

    reader = READERS[fmt]
    seen = 0
    for item in reader(path, cfg.max_line_bytes):
        seen += 1
        if progress is not None and seen % 10_000 == 0:
            progress(10_000)
        if item.error is not None:
            to_quarantine(item.line, item.raw, item.error, item.raw_truncated)
            continue
        if table == "exchanges":
            row, problems = to_canonical(item.obj)
        else:
            row, problems = to_record(table, item.obj)
        if row is None:
            to_quarantine(item.line, item.raw, "; ".join(problems), item.raw_truncated)
            continue
        row["source_file"] = source
        row["source_line"] = item.line
        row["crc"] = zlib.crc32(item.raw)
        if table == "exchanges":
            row["key"] = row["request_id"]
            row["raw_request"] = compressor.compress(item.raw) if cfg.keep_raw_request else None
            row["source_format"] = fmt
        else:
            row["key"] = record_key(table, row)
        rows.add(row)
    if progress is not None:
        progress(seen % 10_000)
    rows.close()
    quarantine.close()
    if not staged.rows.exists():
        staged.rows.unlink(missing_ok=True)
    manifest = staged.prepare(catalog, fingerprint=fp, path=source, fmt=fmt, table=table,
                              quarantined=quarantine.count)
    staged.publish(catalog)
    result.loaded = manifest.rows_loaded
    result.duplicates = manifest.duplicates
    conflicts = manifest.rows_quarantined - quarantine.count
    if conflicts:
        result.reasons["conflicting_duplicate"] += conflicts
    result.quarantined = manifest.rows_quarantined
    return result


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
    with layout.writer_lock(), Catalog(layout.catalog) as catalog:
        summary.recovered = recover(layout, catalog)
        for path in files:
            try:
                summary.files.append(_ingest_one(path, settings, layout, catalog, table_hint=table,
                                                 fmt_hint=fmt, progress=progress))
            except InputFormatError as exc:
                summary.files.append(FileResult(str(path), fmt or "?", table or "?", "failed", error=exc.one_line()))
    return summary
