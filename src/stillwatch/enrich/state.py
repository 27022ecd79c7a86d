"""Incremental bookkeeping: which day partitions changed since a stage last ran.

A partition's fingerprint is a hash of its Parquet files' names, sizes and modification times,
so it is engine-independent and costs a directory listing. Each stage keeps a small JSON
manifest under ``<data_dir>/state/`` mapping day to the fingerprint it last consumed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stillwatch.exceptions import ConfigError, StoreError

if TYPE_CHECKING:
    from stillwatch.engine import Engine


def partition_fingerprints(engine: Engine, table: str) -> dict[str, str]:
    """``{"YYYY-MM-DD": fingerprint}`` for every ``day=`` partition of a store table."""
    path = engine.table_path(table)
    out: dict[str, str] = {}
    if not path.is_dir():
        return out
    for part in sorted(path.glob("day=*")):
        if not part.is_dir():
            continue
        h = hashlib.blake2b(digest_size=8)
        for f in sorted(part.rglob("*.parquet")):
            st = f.stat()
            h.update(f"{f.relative_to(part)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        out[part.name.split("=", 1)[1][:10]] = h.hexdigest()
    return out


def days_until(days: dict[str, str], until: datetime | None) -> dict[str, str]:
    """Keep only days before ``until`` (the day of ``until`` itself is kept, cut by ts later)."""
    if until is None:
        return dict(days)
    last = until.date()
    return {d: fp for d, fp in days.items() if date.fromisoformat(d) <= last}


class Manifest:
    """A stage's record of the partition fingerprints it consumed.

    Args:
        data_dir: The store directory.
        stage: Stage name (file ``state/<stage>.json``).
    """

    def __init__(self, data_dir: Path, stage: str) -> None:
        self.path = Path(data_dir) / "state" / f"{stage}.json"
        self.days: dict[str, str] = {}
        if self.path.exists():
            try:
                self.days = dict(json.loads(self.path.read_text("utf-8")).get("days", {}))
            except (OSError, ValueError):
                self.days = {}

    def changed(self, current: dict[str, str]) -> list[str]:
        """Days whose fingerprint differs from (or is missing in) the manifest, sorted."""
        return sorted(d for d, fp in current.items() if self.days.get(d) != fp)

    def save(self, current: dict[str, str]) -> None:
        """Record the fingerprints now consumed (merged over the old ones)."""
        self.days.update(current)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"days": self.days}, indent=1, sort_keys=True), "utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            raise StoreError(f"cannot write manifest {self.path}: {exc.strerror}") from exc


def check_text_sample_rate(data_dir: Path, rate: float, *, has_texts: bool) -> None:
    """Record a store's ``text_sample_rate``, or refuse another one than it was analysed at.

    ``texts`` only grows and a text is never analysed twice, so mixing rates in one store would
    leave its shares estimated over an undefined sample. A store with texts and no record was
    analysed at 1.0 (before the setting existed).

    Raises:
        ConfigError: ``rate`` differs from the store's.
        StoreError: The record cannot be written.
    """
    path = Path(data_dir) / "state" / "texts.json"
    recorded: float | None = None
    if path.exists():
        try:
            recorded = float(json.loads(path.read_text("utf-8"))["text_sample_rate"])
        except (OSError, ValueError, KeyError, TypeError):
            recorded = None
    if recorded is None and has_texts:
        recorded = 1.0
    if recorded is not None and recorded != rate:
        raise ConfigError(
            f"this store's texts were analysed at text_sample_rate {recorded:g}, not {rate:g}",
            hint="keep the store's rate, or enrich into a new data directory",
        )
    if recorded is None or not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"text_sample_rate": rate}), "utf-8")
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror}") from exc
