"""Replay checkpoints: a long replay (28 daily steps at ``small`` scale) resumes where it stopped.

Every replay step runs detection on the data before its own ``until`` and nothing else, so the
steps are independent: a resumed replay that skips the steps already done gives the same
``first_flagged_at`` and the same last-step findings as an uninterrupted one.

The checkpoint is a JSON Lines file: a header (format version, step, data span, the detection
options and a fingerprint of the store's table files), then one line per completed step with
its ``until``, wall and CPU seconds and the findings first seen at that step (``kind``,
``entity``, ``entity_id``). The findings of the last completed step are kept next to it
(``<name>.last.jsonl``, findings-v1) so an interrupted replay can be evaluated as far as it got.
A checkpoint written for another store state, step or options is refused.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from stillwatch.detect.findings import Finding, parse_ts, read_jsonl, write_jsonl
from stillwatch.exceptions import ConfigError

if TYPE_CHECKING:
    from stillwatch.engine import Engine

FORMAT = 1
Key = tuple[str, str, str]


def store_fingerprint(engine: Engine) -> str:
    """Hash of the names, sizes and modification times of the store's table files (not ``findings``)."""
    root = engine.tables_dir
    h = hashlib.blake2b(digest_size=10)
    for f in sorted(root.rglob("*.parquet")) if root.is_dir() else []:
        rel = f.relative_to(root)
        if rel.parts[0] == "findings" or rel.parts[0].startswith("."):
            continue
        st = f.stat()
        h.update(f"{rel}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def header(engine: Engine, step: Any, span: tuple[datetime, datetime], options: dict[str, Any]) -> dict[str, Any]:
    """The header a checkpoint of this replay must carry."""
    plain = {k: v for k, v in sorted(options.items()) if v is None or isinstance(v, bool | int | float | str)}
    plain.update({k: str(v) for k, v in options.items() if isinstance(v, Path)})
    return {"format": FORMAT, "step": str(step), "span": [span[0].isoformat(), span[1].isoformat()],
            "options": plain, "store": store_fingerprint(engine)}  # fmt: skip


class Checkpoint:
    """Read and extend one replay checkpoint file.

    Args:
        path: The checkpoint file (created when missing).
        head: :func:`header` of the replay.

    Raises:
        ConfigError: The file belongs to another replay (store, step, span or options differ).
    """

    def __init__(self, path: Path | str, head: dict[str, Any]) -> None:
        self.path = Path(path)
        self.last_path = self.path.with_name(self.path.name + ".last.jsonl")
        self.done: dict[datetime, dict[str, Any]] = {}
        self.first: dict[Key, datetime] = {}
        if self.path.is_file() and self.path.stat().st_size:
            lines = [orjson.loads(x) for x in self.path.read_bytes().splitlines() if x.strip()]
            if lines[0] != orjson.loads(orjson.dumps(head)):
                raise ConfigError(
                    f"checkpoint {self.path} was written for another replay (store, step, span or options differ)",
                    hint="delete it or pass another --checkpoint path",
                )
            for rec in lines[1:]:
                until = parse_ts(rec["until"])
                assert until is not None
                self.done[until] = rec
                for k in rec["new"]:
                    self.first.setdefault((str(k[0]), str(k[1]), str(k[2])), until)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(orjson.dumps(head) + b"\n")

    def record(self, until: datetime, found: list[Finding], new: list[Key], seconds: float, cpu: float) -> None:
        """Append a completed step (the last-step findings first, then the step line)."""
        write_jsonl(found, self.last_path)  # atomic
        rec = {"until": until.isoformat(), "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
               "findings": len(found), "new": [list(k) for k in new]}  # fmt: skip
        with self.path.open("ab") as fh:
            fh.write(orjson.dumps(rec) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.done[until] = rec

    def last_findings(self) -> list[Finding]:
        """Findings of the last completed step (empty when none is recorded)."""
        return read_jsonl(self.last_path) if self.last_path.is_file() else []
