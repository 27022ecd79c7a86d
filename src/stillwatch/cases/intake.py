"""Entry points that open the store and feed it files: used by ``make demo`` and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stillwatch.cases.db import open_store
from stillwatch.cases.workflow import ImportResult, import_clusters, import_findings, read_jsonl
from stillwatch.security.permissions import SYSTEM, Actor

if TYPE_CHECKING:
    from stillwatch.config import Settings


def open_cases_from_findings(
    settings: Settings,
    findings_path: Path | str,
    clusters_path: Path | str | None = None,
    *,
    actor: Actor = SYSTEM,
) -> ImportResult:
    """Open (or join) cases from a ``findings.jsonl`` file, creating the case store if needed.

    Idempotent: ``finding_id`` is stable, so running it again on the same or a newer file updates
    findings in place and opens no duplicate cases. If ``clusters_path`` is not given and a
    ``clusters.jsonl`` sits next to the findings file, the clusters are imported too (first, so that
    account findings join their cluster's case).

    Args:
        settings: stillwatch settings; the store is ``settings.case_store_url``.
        findings_path: findings-v1 JSON Lines (``.gz`` allowed) or a JSON array.
        clusters_path: clusters-v1 JSON Lines, optional.
        actor: Who is recorded in the audit log (default ``system``).

    Returns:
        What was opened, attached, updated, recorded as shadow, and every unreadable line.
    """
    findings_path = Path(findings_path)
    if clusters_path is None and (findings_path.parent / "clusters.jsonl").exists():
        clusters_path = findings_path.parent / "clusters.jsonl"
    store = open_store(settings.case_store_url)
    try:
        with store.session() as session:
            if clusters_path is not None:
                import_clusters(session, read_jsonl(Path(clusters_path)), actor)
            return import_findings(session, read_jsonl(findings_path), actor)
    finally:
        store.dispose()
