"""The account graph: typed, weighted edges (each keeps its reasons) and community detection.

Record edges (Splink) and behavioural edges are merged per pair; a pair's weight is the larger of
its record match probability and its behavioural score (capped at 1.5), and its reasons are the
union. Clusters are the connected components of the edge graph (the baseline), each large
component then split with Leiden (CPM, resolution set from the component's own density) so that a
bridge of one or two edges cannot glue two groups — or a stray benign account — together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

log = logging.getLogger(__name__)

EDGE_COLUMNS = ["a", "b", "weight", "kinds", "reasons", "evidence"]


@dataclass(frozen=True)
class GraphParams:
    """Parameters of clustering.

    Attributes:
        method: ``leiden`` (default) or ``components`` (baseline).
        leiden_min_size: Components at least this large are split with Leiden.
        density_factor: CPM resolution = this × the component's weighted edge density.
        seed: Leiden seed (results are repeatable).
        min_cluster: Smallest cluster reported.
    """

    method: str = "leiden"
    leiden_min_size: int = 6
    density_factor: float = 0.3
    seed: int = 7
    min_cluster: int = 2


def merge_edges(record: pd.DataFrame, behaviour: pd.DataFrame) -> pd.DataFrame:
    """One row per linked pair with weight, kinds (``record``/``behaviour``), reasons and evidence."""
    frames = []
    if record is not None and len(record):
        r = record.copy()
        r["kinds"] = [["record"]] * len(r)
        frames.append(r[["a", "b", "weight", "kinds", "reasons", "evidence"]])
    if behaviour is not None and len(behaviour):
        b = behaviour.copy()
        b["kinds"] = [["behaviour"]] * len(b)
        b["weight"] = b["weight"].clip(upper=1.5)
        frames.append(b[["a", "b", "weight", "kinds", "reasons", "evidence"]])
    if not frames:
        return pd.DataFrame(columns=EDGE_COLUMNS)
    allf = pd.concat(frames, ignore_index=True)
    out = allf.groupby(["a", "b"], sort=True).agg(
        weight=("weight", "max"),
        kinds=("kinds", lambda s: sorted({k for v in s for k in v})),
        reasons=("reasons", lambda s: list(dict.fromkeys(r for v in s for r in v))),
        evidence=("evidence", lambda s: [e for v in s for e in v]),
    )
    return out.reset_index()


def cluster_graph(edges: pd.DataFrame, params: GraphParams | None = None) -> dict[str, int]:
    """Assign accounts to clusters.

    Args:
        edges: Output of :func:`merge_edges`.
        params: Clustering parameters.

    Returns:
        ``account_id -> cluster number`` for accounts in clusters of at least ``min_cluster``.
    """
    import igraph as ig

    params = params or GraphParams()
    if edges is None or edges.empty:
        return {}
    names = sorted(set(edges["a"]) | set(edges["b"]))
    index = {n: i for i, n in enumerate(names)}
    g = ig.Graph(n=len(names), edges=list(zip(edges["a"].map(index), edges["b"].map(index), strict=True)))
    g.es["weight"] = edges["weight"].astype(float).tolist()
    groups: list[list[int]] = []
    for comp in g.connected_components():
        if len(comp) < params.min_cluster:
            continue
        if params.method == "components" or len(comp) < params.leiden_min_size:
            groups.append(list(comp))
            continue
        groups.extend(_leiden_split(g.induced_subgraph(comp), list(comp), params))
    groups = [grp for grp in groups if len(grp) >= params.min_cluster]
    groups.sort(key=lambda grp: (-len(grp), min(names[i] for i in grp)))
    return {names[i]: k for k, grp in enumerate(groups) for i in grp}


def _leiden_split(sub: object, members: list[int], params: GraphParams) -> list[list[int]]:
    import leidenalg

    n = sub.vcount()  # type: ignore[attr-defined]
    total_w = sum(sub.es["weight"])  # type: ignore[attr-defined]
    density = 2.0 * total_w / (n * (n - 1))
    part = leidenalg.find_partition(
        sub,
        leidenalg.CPMVertexPartition,
        weights="weight",
        resolution_parameter=params.density_factor * density,
        seed=params.seed,
        n_iterations=-1,
    )
    out = [[members[i] for i in comm] for comm in part]
    if len(out) > 1:
        log.info("link: component of %d accounts split into %s", n, sorted((len(c) for c in out), reverse=True)[:5])
    return out
