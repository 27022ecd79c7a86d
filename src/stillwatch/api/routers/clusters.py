"""Clusters and campaigns (clusters-v1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import select

from stillwatch.api.deps import Limit, Offset, Require, StoreDep
from stillwatch.cases.common import get_or_404, paginate
from stillwatch.cases.models import Cluster
from stillwatch.cases.workflow import cluster_to_dict
from stillwatch.security.permissions import Actor

router = APIRouter(tags=["clusters"])


@router.get("/clusters")
def list_clusters(
    store: StoreDep, limit: Limit = 50, offset: Offset = 0, actor: Actor = Depends(Require("cluster.view"))
) -> dict[str, Any]:
    """Linked-account clusters."""
    stmt = select(Cluster).order_by(Cluster.cluster_id)
    with store.session() as session:
        return paginate(session, stmt, limit, offset, cluster_to_dict).as_dict()


@router.get("/campaigns")
def list_campaigns(
    store: StoreDep, limit: Limit = 50, offset: Offset = 0, actor: Actor = Depends(Require("cluster.view"))
) -> dict[str, Any]:
    """Clusters that carry campaign totals (exchanges, first and last seen, capabilities)."""
    stmt = select(Cluster).where(Cluster.campaign.is_not(None)).order_by(Cluster.cluster_id)
    with store.session() as session:
        page = paginate(session, stmt, limit, offset, cluster_to_dict)
        page.items = [c for c in page.items if c["campaign"]]
        return page.as_dict()


@router.get("/clusters/{cluster_id}")
def get_cluster(cluster_id: str, store: StoreDep, actor: Actor = Depends(Require("cluster.view"))) -> dict[str, Any]:
    """One cluster."""
    with store.session() as session:
        return cluster_to_dict(get_or_404(session, Cluster, cluster_id, "cluster"))
