"""Directory layout of the data directory, and the single-writer lock."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stillwatch.exceptions import StoreError


class StoreLayout:
    """Paths inside the data directory.

    ``tables/<name>/`` holds each table's Parquet files (``day=YYYY-MM-DD/`` partitions for
    exchanges), ``_staging/<ingest_id>/`` holds an ingest in progress, ``catalog.duckdb`` the
    bookkeeping (files ingested, keys seen).
    """

    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir)
        self.tables = self.root / "tables"
        self.staging = self.root / "_staging"
        self.catalog = self.root / "catalog.duckdb"
        self.lock_file = self.root / ".writer.lock"

    def table(self, name: str) -> Path:
        """Directory of one table."""
        return self.tables / name

    def ensure(self) -> None:
        """Create the directories, failing with a clear error if the location is unwritable."""
        try:
            for path in (self.root, self.tables, self.staging):
                path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the data directory {self.root}: {exc.strerror}",
                hint="pass --data-dir to a writable folder or set STILLWATCH_DATA_DIR",
            ) from exc
        if not os.access(self.root, os.W_OK):
            raise StoreError(f"data directory {self.root} is not writable", hint="fix its permissions")

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the exclusive writer lock (one writing process per data directory)."""
        self.ensure()
        with self.lock_file.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise StoreError(
                    f"another stillwatch process is writing to {self.root}",
                    hint="wait for it to finish, then run again",
                ) from exc
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
