"""Clusters (clusters-v1): linked accounts and campaign totals."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from stillwatch.cases.common import InvalidInputError, check_text, iso
from stillwatch.cases.files import ImportResult
from stillwatch.cases.models import Cluster, utcnow
from stillwatch.security.permissions import Actor, check


def import_clusters(session: Session, clusters: Iterable[Any], actor: Actor) -> ImportResult:
    """Record clusters-v1 dicts (upsert by ``cluster_id``).

    Raises:
        PermissionDeniedError: Unless the actor may ``case.import``.
    """
    check(actor, "case.import")
    result = ImportResult()
    for n, item in enumerate(clusters, start=1):
        line, raw = item if isinstance(item, tuple) else (n, item)
        try:
            if isinstance(raw, Exception):
                raise raw
            if not isinstance(raw, dict):
                raise InvalidInputError("a cluster must be a JSON object")
            cid = check_text(raw.get("cluster_id"), "cluster_id", max_len=200)
            accounts = raw.get("accounts")
            if not isinstance(accounts, list):
                raise InvalidInputError("accounts must be an array")
        except InvalidInputError as exc:
            result.errors.append((line, str(exc)))
            continue
        row = session.get(Cluster, cid)
        values = {"accounts": accounts, "links": raw.get("links") or [], "campaign": raw.get("campaign")}
        if row is None:
            session.add(Cluster(cluster_id=cid, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            result.updated += 1
        session.flush()
    return result


def cluster_to_dict(c: Cluster) -> dict[str, Any]:
    """JSON-ready form of a cluster."""
    return {
        "cluster_id": c.cluster_id,
        "accounts": c.accounts,
        "links": c.links,
        "campaign": c.campaign,
        "updated_at": iso(c.updated_at),
    }
