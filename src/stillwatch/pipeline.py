"""The main job: ingest → enrich → features → link → detect, on stored data.

Each stage is also a CLI command; this module runs them in order for ``make demo`` and for
``stillwatch run``. Every stage takes ``until`` (data at or after it is never read).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from stillwatch.config import Settings
from stillwatch.engine import get_engine
from stillwatch.ingest.pipeline import IngestSummary, ingest

Step = Callable[[str], None]


@dataclass
class PipelineResult:
    """What one pipeline run produced, with the wall time of each stage."""

    ingest: IngestSummary | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    clusters: list[dict[str, Any]] = field(default_factory=list)
    findings_path: Path | None = None
    clusters_path: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".partial")
    with tmp.open("wb") as fh:
        for row in rows:
            fh.write(orjson.dumps(row, default=str) + b"\n")
    tmp.replace(path)
    return path


def run_pipeline(settings: Settings, inputs: Iterable[Path | str] = (), *, until: datetime | None = None,
                 out_dir: Path | None = None, step: Step | None = None) -> PipelineResult:
    """Run the pipeline over ``inputs`` (already-stored data is reused) and write findings.

    Args:
        settings: Settings (data dir, engine, restricted regions).
        inputs: Files or folders to ingest first (may be empty).
        until: Only data before this instant is analysed.
        out_dir: Where ``findings.jsonl`` and ``clusters.jsonl`` go (default: the data dir).
        step: Called with a short label as each stage starts (for progress output).

    Returns:
        The ingest summary, findings and clusters (findings-v1 dicts) and stage timings.
    """
    from stillwatch.detect import run_detection
    from stillwatch.detect.findings import to_arrow, write_jsonl
    from stillwatch.detect.runner import linked_findings
    from stillwatch.enrich.pipeline import enrich
    from stillwatch.features.pipeline import build_features
    from stillwatch.link.pipeline import link_accounts

    say = step or (lambda _label: None)
    result = PipelineResult()
    out = Path(out_dir or settings.data_dir)

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        say(name)
        start = time.perf_counter()
        value = fn()
        result.seconds[name] = round(time.perf_counter() - start, 2)
        return value

    inputs = list(inputs)
    if inputs:
        result.ingest = timed("ingest", lambda: ingest(settings, inputs))
    with get_engine(settings) as engine:
        timed("enrich", lambda: enrich(engine, settings, until=until))
        timed("features", lambda: build_features(engine, settings, until=until))
        linked = timed("link", lambda: link_accounts(engine, settings, until=until))
        findings = timed("detect", lambda: run_detection(
            engine, settings, until=until, clusters=linked.clusters_members(), jailbreak=True, write=False))
        findings += linked_findings(linked)  # ban evasion, from the same linking run
        findings.sort(key=lambda f: (-f.score, f.kind, f.entity_id))
        engine.write_table("findings", to_arrow(findings))
    result.findings = [f.to_dict() for f in findings]
    result.clusters = linked.cluster_rows()
    result.findings_path = write_jsonl(findings, out / "findings.jsonl")
    result.clusters_path = _write_jsonl(out / "clusters.jsonl", result.clusters)
    return result
