"""Deterministic, streaming, all-or-nothing output of a simulation.

Files are written into a hidden ``.partial`` folder inside the output directory and moved into
place only when every file is complete, so an interrupted run never leaves files that look
finished. Gzip headers carry no time stamp or file name, so the same seed gives the same bytes.
"""

from __future__ import annotations

import gzip
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from stillwatch.exceptions import StoreError

OUTPUT_FILES = ("exchanges.jsonl.gz", "accounts.jsonl", "enforcement.jsonl", "reports.jsonl", "labels.jsonl")
_MASK = (1 << 64) - 1


def dumps(row: dict[str, Any]) -> bytes:
    """One JSON line (orjson, keys in insertion order)."""
    return orjson.dumps(row) + b"\n"


class OutputDir:
    """A transaction over the output directory.

    Args:
        out_dir: Where the files end up; created if missing.

    Raises:
        StoreError: the directory cannot be created or written.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=".stillwatch-simulate-", suffix=".partial", dir=self.out_dir))
        except OSError as exc:
            raise StoreError(
                f"cannot write to output directory {self.out_dir}: {exc.strerror or exc}",
                hint="choose a writable --out",
            ) from exc
        if not os.access(self.out_dir, os.W_OK):
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise StoreError(f"output directory {self.out_dir} is not writable", hint="choose a writable --out")

    def path(self, name: str) -> Path:
        """Path of ``name`` inside the partial folder."""
        return self.tmp / name

    def gzip_writer(self, name: str) -> IO[bytes]:
        """A deterministic gzip stream (level 1, no mtime, no name)."""
        raw = open(self.path(name), "wb")  # noqa: SIM115 - closed with the gzip stream
        gz = gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=1, mtime=0)
        gz.myfileobj = raw  # type: ignore[assignment]  # GzipFile.close() closes myfileobj
        return gz  # type: ignore[return-value]

    def write_lines(self, name: str, rows: Iterable[dict[str, Any]]) -> int:
        """Write ``rows`` as JSON Lines; returns the count."""
        n = 0
        with open(self.path(name), "wb") as fh:
            for row in rows:
                fh.write(dumps(row))
                n += 1
        return n

    def write_json(self, name: str, obj: Any) -> None:
        """Write one pretty JSON document."""
        self.path(name).write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")

    def commit(self) -> None:
        """Move every finished file into the output directory."""
        for item in sorted(self.tmp.iterdir()):
            os.replace(item, self.out_dir / item.name)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def abort(self) -> None:
        """Remove the partial folder."""
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if et is None:
            self.commit()
        else:
            self.abort()


class BackgroundWriter:
    """Write byte chunks from a thread (zlib releases the GIL, so compression overlaps generation).

    Args:
        sink: The stream to write to; closed by :meth:`close`.
    """

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=3)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="simulate-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            chunk = self.queue.get()
            if chunk is None:
                return
            if self.error is None:
                try:
                    self.sink.write(chunk)
                except BaseException as exc:  # surfaced by write()/close()
                    self.error = exc

    def write(self, chunk: bytes) -> None:
        """Queue a chunk (blocks when the queue is full: bounded memory)."""
        if self.error is not None:
            raise StoreError(f"writing simulated exchanges failed: {self.error}") from self.error
        self.queue.put(chunk)

    def close(self) -> None:
        """Flush, join the thread and close the sink."""
        self.queue.put(None)
        self.thread.join()
        self.sink.close()
        if self.error is not None:
            raise StoreError(f"writing simulated exchanges failed: {self.error}") from self.error


class RequestIds:
    """Unique, non-sequential-looking request ids, fully determined by the seed and the order."""

    def __init__(self, seed: int) -> None:
        self.n = 0
        self.salt = (seed * 0xD1B54A32D192ED03 + 0x2545F4914F6CDD1D) & _MASK

    def next(self) -> str:
        """The next id (a bijection of the counter, so ids never collide)."""
        self.n += 1
        x = ((self.n * 0x9E3779B97F4A7C15) ^ self.salt) & _MASK
        x = (x * 0xBF58476D1CE4E5B9) & _MASK
        return f"req_{x:016x}{self.n & 0xFFFF:04x}"
