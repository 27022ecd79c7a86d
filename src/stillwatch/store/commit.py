"""Crash-safe commit of one ingested file.

Protocol (every step is idempotent, so a run killed at any point is completed by the next):

1. The reader writes ``rows.parquet`` and ``quarantine.parquet`` into ``_staging/<ingest_id>/``.
2. ``prepare``: DuckDB drops keys already stored (or repeated in the file), routes conflicting
   duplicates (same key, different content) to quarantine, and writes the final Parquet files into
   ``_staging/<ingest_id>/out/``; then ``READY`` (a JSON manifest with the counts) is written.
3. ``publish``: files in ``out/`` are renamed into ``tables/`` (a rename whose source is gone was done).
4. The catalog inserts the keys and the file record in one transaction: the commit point.
5. The staging folder is removed.

A staging folder without ``READY`` is discarded and redone; one with ``READY`` is finished.
Readers run :func:`recover` when they open the store, so they never see a half-published file set
for long.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from stillwatch.ingest.canonical import utc_now
from stillwatch.store.catalog import Catalog
from stillwatch.store.layout import StoreLayout


def _crash_point(name: str) -> None:
    """Test hook: ``STILLWATCH_CRASH_AT=<name>`` kills the process with SIGKILL at that point."""
    if os.environ.get("STILLWATCH_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Manifest:
    """What a prepared staging folder will publish."""

    ingest_id: str
    fingerprint: str
    path: str
    fmt: str
    table: str
    rows_loaded: int
    rows_quarantined: int
    duplicates: int


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class StagedIngest:
    """One file's staging folder.

    Args:
        layout: The store layout.
        ingest_id: Stable id derived from the file fingerprint.

    Rows staged by this run go under a folder of its own (``run-<random>``): a worker process of a
    killed run that is still finishing a block writes there, never into a later run's files.
    """

    def __init__(self, layout: StoreLayout, ingest_id: str) -> None:
        self.layout = layout
        self.ingest_id = ingest_id
        self.dir = layout.staging / ingest_id
        self.rows = self.dir / "rows.parquet"
        self.quarantine = self.dir / "quarantine.parquet"
        self.out = self.dir / "out"
        self.ready = self.dir / "READY"
        self.classified = self.dir / "classified.parquet"
        run = self.dir / f"run-{uuid.uuid4().hex[:12]}"
        self.days = run / "days"  # exchanges: rows already in their final day files (daysink)
        self.keys = run / "keys"  # exchanges: (key, crc, source_line) files, one per writer

    def reset(self) -> None:
        """Start from an empty staging folder."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)

    def _classify(self, catalog: Catalog, table: str, source: Path) -> None:
        """Label every staged row ``new``, ``duplicate`` or ``conflict`` in one pass.

        A row is new when its key is neither stored nor earlier in the file; a duplicate when the
        earlier copy has the same content CRC; a conflict (quarantined) when the content differs.
        The narrow result is written next to the rows so a recovery can reuse it.
        """
        table_sql = table.replace("'", "''")
        catalog.con.execute(
            f"""COPY (
                WITH s AS (
                    SELECT key, crc, source_line,
                           row_number() OVER (PARTITION BY key ORDER BY source_line) AS rn,
                           first_value(crc) OVER (PARTITION BY key ORDER BY source_line) AS first_crc
                    FROM read_parquet({_q(source)})
                ), k AS (SELECT key, any_value(crc) AS stored_crc FROM seen_keys WHERE tbl = '{table_sql}' GROUP BY key)
                SELECT s.key, s.crc, s.source_line,
                       CASE WHEN k.stored_crc IS NULL AND s.rn = 1 THEN 'new'
                            WHEN coalesce(k.stored_crc, s.first_crc) = s.crc THEN 'duplicate'
                            ELSE 'conflict' END AS status
                FROM s LEFT JOIN k ON k.key = s.key
            ) TO {_q(self.classified)} (FORMAT parquet)"""
        )

    def _staged_in_days(self) -> bool:
        """Whether this run's rows are in day files with key files (exchanges) rather than ``rows.parquet``."""
        return any(self.keys.glob("*.parquet"))

    def _rows_with(self, status: str, columns: str = "r.*") -> str:
        rows = _q(self.rows)
        if self._staged_in_days():
            rows = f"{_q(self.days / '*' / '*.parquet')}, hive_partitioning = true"
            columns = columns.replace("r.key", "r.request_id")
        return (
            f"SELECT {columns} FROM read_parquet({rows}) r "
            f"JOIN read_parquet({_q(self.classified)}) c ON c.source_line = r.source_line "
            f"WHERE c.status = '{status}'"
        )

    def _write_conflicts(self, catalog: Catalog, table: str) -> None:
        """Quarantine rows for keys seen before with different content."""
        now = utc_now().isoformat()
        # exchanges: raw_request is the line as received (schema version 2)
        raw_col, raw_enc = ("r.raw_request", "identity") if table == "exchanges" else ("NULL::BLOB", "none")
        cols = (
            f"'{self.ingest_id}' AS ingest_id, r.source_file, r.source_line, "
            "'conflicting_duplicate' AS kind, "
            "'conflicting_duplicate:key ' || r.key || ' already seen with different content' AS reason, "
            f"{raw_col} AS raw, '{raw_enc}' AS raw_encoding, false AS raw_truncated, "
            f"TIMESTAMPTZ '{now}' AS quarantined_at"
        )
        catalog.con.execute(f"COPY ({self._rows_with('conflict', cols)}) TO {_q(self.dir / 'conflicts.parquet')} "
                            "(FORMAT parquet)")

    def _prepare_days(self, catalog: Catalog, *, everything_new: bool) -> None:
        """Day files written by :class:`~stillwatch.store.daysink.DaySink` into ``out/exchanges``.

        When every staged row is new the files are moved as they are (no second read or write);
        otherwise each day file is rewritten without the rows that were not new.
        """
        target = self.out / "exchanges"
        for src in sorted(self.days.glob("day=*/*.parquet")):
            dst = target / src.parent.name / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if everything_new:
                os.replace(src, dst)
                continue
            select = (f"SELECT r.* FROM read_parquet({_q(src)}) r "
                      f"SEMI JOIN (SELECT source_line FROM read_parquet({_q(self.classified)}) WHERE status = 'new') c "
                      "ON c.source_line = r.source_line")
            if catalog.con.execute(f"SELECT count(*) FROM ({select})").fetchone() != (0,):
                catalog.con.execute(f"COPY ({select}) TO {_q(dst)} (FORMAT parquet, COMPRESSION zstd)")

    def prepare(self, catalog: Catalog, *, fingerprint: str, path: str, fmt: str, table: str,
                quarantined: int) -> Manifest:
        """Deduplicate, write final files into ``out/`` and mark the folder READY."""
        con = catalog.con
        self.out.mkdir(exist_ok=True)
        loaded = duplicates = conflicts = 0
        in_days = self._staged_in_days()
        if in_days or self.rows.exists():
            self._classify(catalog, table, self.keys / "*.parquet" if in_days else self.rows)
            counts = dict(con.execute(
                f"SELECT status, count(*) FROM read_parquet({_q(self.classified)}) GROUP BY status").fetchall())
            loaded, duplicates, conflicts = (int(counts.get(k, 0)) for k in ("new", "duplicate", "conflict"))
            if in_days:
                if conflicts:  # before the day files move: the conflicting rows are read from them
                    self._write_conflicts(catalog, table)
                self._prepare_days(catalog, everything_new=not (duplicates or conflicts))
                conflicts_done = True
            else:
                conflicts_done = False
                select_new = self._rows_with("new", "r.* EXCLUDE (key, crc)")
                if loaded:
                    pattern = f"part-{self.ingest_id}-{{i}}"
                    if table == "exchanges":
                        con.execute(
                            f"COPY ({select_new}) TO {_q(self.out / 'exchanges')} "
                            f"(FORMAT parquet, PARTITION_BY (day), FILENAME_PATTERN '{pattern}', COMPRESSION zstd)"
                        )
                    else:
                        (self.out / table).mkdir(parents=True, exist_ok=True)
                        con.execute(
                            f"COPY ({select_new}) TO {_q(self.out / table / f'part-{self.ingest_id}.parquet')} "
                            "(FORMAT parquet, COMPRESSION zstd)"
                        )
            if conflicts and not conflicts_done:
                self._write_conflicts(catalog, table)
        qdir = self.out / "quarantine"
        qparts = [p for p in (self.quarantine, self.dir / "conflicts.parquet") if p.exists()]
        if qparts:
            qdir.mkdir(parents=True, exist_ok=True)
            files = ", ".join(_q(p) for p in qparts)
            con.execute(
                f"COPY (SELECT * FROM read_parquet([{files}], union_by_name = true)) "
                f"TO {_q(qdir / f'part-{self.ingest_id}.parquet')} (FORMAT parquet)"
            )
        manifest = Manifest(self.ingest_id, fingerprint, path, fmt, table, loaded, quarantined + conflicts,
                            duplicates)
        _crash_point("before_ready")
        tmp = self.ready.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(manifest)))
        os.replace(tmp, self.ready)
        return manifest

    def publish(self, catalog: Catalog) -> Manifest:
        """Move prepared files into the tables and commit the catalog; idempotent."""
        manifest = Manifest(**json.loads(self.ready.read_text()))
        moved = 0
        for src in sorted(self.out.rglob("*.parquet")):
            dst = self.layout.tables / src.relative_to(self.out)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            moved += 1
            if moved == 1:
                _crash_point("mid_publish")
        _crash_point("before_catalog")
        new_keys_sql = (
            f"SELECT key, crc FROM read_parquet({_q(self.classified)}) WHERE status = 'new'"
            if self.classified.exists() else "SELECT NULL::VARCHAR AS key, NULL::UBIGINT AS crc WHERE false"
        )
        catalog.record_commit(
            fingerprint=manifest.fingerprint, ingest_id=manifest.ingest_id, path=manifest.path,
            fmt=manifest.fmt, table=manifest.table, new_keys_sql=new_keys_sql,
            rows_loaded=manifest.rows_loaded, rows_quarantined=manifest.rows_quarantined,
            duplicates=manifest.duplicates, committed_at=utc_now(),
        )
        _crash_point("before_cleanup")
        shutil.rmtree(self.dir, ignore_errors=True)
        return manifest


def recover(layout: StoreLayout, catalog: Catalog) -> list[str]:
    """Finish or discard every staging folder left by an interrupted run.

    Returns:
        Human-readable notes of what was done.
    """
    notes: list[str] = []
    if not layout.staging.is_dir():
        return notes
    for folder in sorted(p for p in layout.staging.iterdir() if p.is_dir()):
        staged = StagedIngest(layout, folder.name)
        if staged.ready.exists():
            manifest = staged.publish(catalog)
            notes.append(f"completed interrupted ingest of {manifest.path}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            notes.append(f"discarded unfinished staging {folder.name}")
    return notes
