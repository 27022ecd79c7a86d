"""The DuckDB catalog: which files were ingested and which record keys were seen.

The catalog is the commit point of an ingest: a file's rows count as stored once its
``ingested_files`` row and its keys are inserted in one transaction (see :mod:`stillwatch.store.commit`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from stillwatch.exceptions import StoreError

_DDL = """
CREATE TABLE IF NOT EXISTS ingested_files (
    fingerprint VARCHAR PRIMARY KEY,
    ingest_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    duplicates_skipped BIGINT NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_keys (
    tbl VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    crc UBIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (k VARCHAR PRIMARY KEY, v VARCHAR);
"""

CATALOG_VERSION = "1"


class Catalog:
    """A connection to the store's catalog file.

    Args:
        path: The ``catalog.duckdb`` file.
        read_only: Open without write access (for status and readers).
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        try:
            if read_only and not path.exists():
                self.con = duckdb.connect(":memory:")
            else:
                self.con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open catalog {path}: {exc}", hint="is another process writing?") from exc
        self.con.execute("SET TimeZone = 'UTC'")
        # Bounded memory for the commit queries (they spill to disk beyond this).
        self.con.execute("SET memory_limit = '1GB'")
        self.con.execute("SET preserve_insertion_order = false")
        if not read_only or not path.exists():
            self.con.execute(_DDL)
            self.con.execute("INSERT OR IGNORE INTO meta VALUES ('catalog_version', ?)", [CATALOG_VERSION])

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def committed(self, fingerprint: str) -> dict[str, Any] | None:
        """The ingest record of a file fingerprint, if it was committed."""
        cur = self.con.execute("SELECT * FROM ingested_files WHERE fingerprint = ?", [fingerprint])
        row = cur.fetchone()
        if row is None:
            return None
        cols = [d[0] for d in cur.description]
        return dict(zip(cols, row, strict=True))

    def files(self) -> list[dict[str, Any]]:
        """All committed files, newest first."""
        cur = self.con.execute("SELECT * FROM ingested_files ORDER BY committed_at DESC")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def key_count(self, table: str) -> int:
        """Number of distinct keys stored for a table."""
        row = self.con.execute("SELECT count(*) FROM seen_keys WHERE tbl = ?", [table]).fetchone()
        return int(row[0]) if row else 0

    def record_commit(
        self,
        *,
        fingerprint: str,
        ingest_id: str,
        path: str,
        fmt: str,
        table: str,
        new_keys_sql: str,
        rows_loaded: int,
        rows_quarantined: int,
        duplicates: int,
        committed_at: datetime,
    ) -> None:
        """Insert the file's keys and its ingest record in one transaction (idempotent)."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            if self.committed(fingerprint) is None:
                con.execute(f"INSERT INTO seen_keys SELECT ? AS tbl, key, crc FROM ({new_keys_sql})", [table])
                con.execute(
                    "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [fingerprint, ingest_id, path, fmt, table, rows_loaded, rows_quarantined, duplicates,
                     committed_at],
                )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
