"""A compact snapshot of what batch stillwatch knows, for the hot path.

It holds the enforcement list (actions on accounts, keys, clusters, egress), the cached batch
scores of accounts, keys and clusters (from ``findings.jsonl`` or the ``findings`` table), cluster
memberships, and template ids named in findings. It is built off the hot path and swapped in
atomically by :class:`SnapshotProvider`, which refreshes it periodically in a background thread
and keeps the last good snapshot when a source (the case store) is unreachable. The warehouse is
never queried per request.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from stillwatch.exceptions import StoreError

if TYPE_CHECKING:
    from stillwatch.config import Settings

log = logging.getLogger(__name__)
_RANK = {a: i for i, a in enumerate(("warn", "throttle", "challenge", "suspend", "ban"))}


@lru_cache(maxsize=65_536)
def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The parsed address (cached: gateways see the same clients again and again), ``None`` if invalid."""
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


EnforcementSource = Callable[[], list[dict[str, Any]]]
FindingsSource = Callable[[], Iterable[Mapping[str, Any]]]
ClustersSource = Callable[[], Mapping[str, list[str]]]


@dataclass(frozen=True, slots=True)
class Enforced:
    """The strongest active enforcement action on one target."""

    action: str
    target_type: str
    target: str
    via_cluster: str | None = None
    case_id: Any = None


@dataclass(frozen=True, slots=True)
class Score:
    """A cached batch score and the finding kinds behind it."""

    score: float
    kinds: tuple[str, ...]


@dataclass
class Snapshot:
    """The immutable-by-convention snapshot read on every decision."""

    enforced: dict[tuple[str, str], Enforced] = field(default_factory=dict)
    egress_nets: list[tuple[Any, Enforced]] = field(default_factory=list)
    account_scores: dict[str, Score] = field(default_factory=dict)
    key_scores: dict[str, Score] = field(default_factory=dict)
    cluster_scores: dict[str, Score] = field(default_factory=dict)
    cluster_of: dict[str, str] = field(default_factory=dict)
    known_templates: dict[str, str] = field(default_factory=dict)
    built_at: float = 0.0
    loaded: bool = False

    def enforcement_for(self, target_type: str, target: str | None) -> Enforced | None:
        """The strongest action on a target (``None`` when there is none)."""
        if not target:
            return None
        return self.enforced.get((target_type, target))

    def egress_for(self, ip: str | None) -> Enforced | None:
        """The enforcement on an IP address, exact or by CIDR network."""
        if not ip:
            return None
        hit = self.enforced.get(("egress", ip))
        if hit or not self.egress_nets:
            return hit
        addr = _address(ip)
        if addr is None:
            return None
        best: Enforced | None = None
        for net, enf in self.egress_nets:
            if addr.version == net.version and addr in net and (best is None or _RANK[enf.action] > _RANK[best.action]):
                best = enf
        return best

    def to_json(self) -> bytes:
        """Serialise (for sharing one snapshot between gateway processes)."""
        return orjson.dumps(
            {
                "enforcement": [
                    {"target_type": e.target_type, "target": e.target, "action": e.action,
                     "via_cluster": e.via_cluster, "case_id": e.case_id}
                    for e in [*self.enforced.values(), *(e for _, e in self.egress_nets)]
                ],
                "account_scores": {k: [v.score, list(v.kinds)] for k, v in self.account_scores.items()},
                "key_scores": {k: [v.score, list(v.kinds)] for k, v in self.key_scores.items()},
                "cluster_scores": {k: [v.score, list(v.kinds)] for k, v in self.cluster_scores.items()},
                "cluster_of": self.cluster_of,
                "known_templates": self.known_templates,
                "built_at": self.built_at,
            }
        )  # fmt: skip

    @classmethod
    def from_json(cls, data: bytes | str) -> Snapshot:
        """Inverse of :meth:`to_json`."""
        obj = orjson.loads(data)
        snap = build_snapshot(obj.get("enforcement", []), [], {})
        snap.account_scores = {k: Score(float(v[0]), tuple(v[1])) for k, v in obj.get("account_scores", {}).items()}
        snap.key_scores = {k: Score(float(v[0]), tuple(v[1])) for k, v in obj.get("key_scores", {}).items()}
        snap.cluster_scores = {k: Score(float(v[0]), tuple(v[1])) for k, v in obj.get("cluster_scores", {}).items()}
        snap.cluster_of = dict(obj.get("cluster_of", {}))
        snap.known_templates = dict(obj.get("known_templates", {}))
        snap.built_at = float(obj.get("built_at", time.time()))
        return snap


def _merge(scores: dict[str, Score], key: str, score: float, kind: str) -> None:
    old = scores.get(key)
    if old is None:
        scores[key] = Score(score, (kind,))
    else:
        kinds = old.kinds if kind in old.kinds else (*old.kinds, kind)
        scores[key] = Score(max(old.score, score), kinds)


def build_snapshot(
    enforcement: Iterable[Mapping[str, Any]],
    findings: Iterable[Mapping[str, Any]],
    clusters: Mapping[str, list[str]] | None = None,
) -> Snapshot:
    """Build a snapshot from an enforcement list, findings-v1 objects and cluster memberships.

    Args:
        enforcement: Entries as returned by :func:`stillwatch.cases.enforcement.current_enforcement_list`
            (``target_type``, ``target``, ``action``, ``via_cluster``, ``case_id``).
        findings: findings-v1 objects; shadow findings are ignored.
        clusters: ``{cluster_id: [account_id, ...]}``.

    Returns:
        The snapshot; malformed entries are skipped (logged), never fatal.
    """
    snap = Snapshot(built_at=time.time(), loaded=True)
    for e in enforcement:
        try:
            ttype, target, action = str(e["target_type"]), str(e["target"]), str(e["action"])
            enf = Enforced(action, ttype, target, e.get("via_cluster"), e.get("case_id"))
            if action not in _RANK:
                raise ValueError(action)
        except (KeyError, TypeError, ValueError):
            log.warning("snapshot: skipped malformed enforcement entry %r", e)
            continue
        if ttype == "egress" and "/" in target:
            try:
                snap.egress_nets.append((ipaddress.ip_network(target, strict=False), enf))
            except ValueError:
                log.warning("snapshot: skipped bad egress network %r", target)
            continue
        old = snap.enforced.get((ttype, target))
        if old is None or _RANK[action] > _RANK[old.action]:
            snap.enforced[(ttype, target)] = enf
    for cid, members in (clusters or {}).items():
        for a in members:
            snap.cluster_of[str(a)] = str(cid)
    for f in findings:
        try:
            if f.get("shadow") or f.get("status") == "shadow":
                continue
            kind, entity, eid, score = str(f["kind"]), str(f["entity"]), str(f["entity_id"]), float(f["score"])
        except (KeyError, TypeError, ValueError):
            continue
        if entity == "account":
            _merge(snap.account_scores, eid, score, kind)
        elif entity == "api_key":
            _merge(snap.key_scores, eid, score, kind)
        elif entity == "cluster":
            _merge(snap.cluster_scores, eid, score, kind)
            for a in f.get("accounts") or []:
                snap.cluster_of.setdefault(str(a), eid)
        for ev in f.get("evidence") or []:
            if isinstance(ev, Mapping) and str(ev.get("feature", "")).endswith("template_id"):
                if isinstance(ev.get("value"), str):
                    snap.known_templates[ev["value"]] = kind
    return snap


def read_findings_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """findings-v1 objects from a JSONL file (bad lines skipped); empty when the file is absent."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_bytes().splitlines():
        if line.strip():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
    return out


def read_clusters_jsonl(path: str | Path) -> dict[str, list[str]]:
    """``{cluster_id: accounts}`` from a clusters.jsonl file; empty when absent."""
    p = Path(path)
    out: dict[str, list[str]] = {}
    if p.exists():
        for row in read_findings_jsonl(p):
            if "cluster_id" in row:
                out[str(row["cluster_id"])] = [str(a) for a in row.get("accounts") or []]
    return out


def sources_from_settings(settings: Settings) -> tuple[EnforcementSource, FindingsSource, ClustersSource]:
    """Default sources: the case store's enforcement list, ``<data_dir>/findings.jsonl`` and
    ``<data_dir>/clusters.jsonl`` (or the store's ``clusters`` table when that file is absent)."""
    from stillwatch.cases.enforcement import current_enforcement_list

    data = Path(settings.data_dir)

    def enforcement() -> list[dict[str, Any]]:
        return current_enforcement_list(settings)

    def findings() -> list[dict[str, Any]]:
        return read_findings_jsonl(data / "findings.jsonl")

    def clusters() -> Mapping[str, list[str]]:
        if (data / "clusters.jsonl").exists() or not (data / "catalog.duckdb").exists():
            return read_clusters_jsonl(data / "clusters.jsonl")
        from stillwatch.detect.runner import load_clusters
        from stillwatch.engine import get_engine

        eng = get_engine(settings)
        try:
            return load_clusters(eng)
        finally:
            eng.close()

    return enforcement, findings, clusters


class SnapshotProvider:
    """Holds the current snapshot and refreshes it in the background.

    Args:
        enforcement: Returns the enforcement list (may raise when the store is unreachable).
        findings: Returns findings-v1 objects.
        clusters: Returns cluster memberships.
        refresh_s: Seconds between background refreshes (0: only on :meth:`refresh`).
    """

    def __init__(
        self,
        enforcement: EnforcementSource,
        findings: FindingsSource | None = None,
        clusters: ClustersSource | None = None,
        *,
        refresh_s: float = 30.0,
    ) -> None:
        self._sources = (enforcement, findings or (lambda: []), clusters or (lambda: {}))
        self.refresh_s = refresh_s
        self.snapshot = Snapshot()
        self.last_error: str | None = None
        self.last_ok: float = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def static(cls, snapshot: Snapshot) -> SnapshotProvider:
        """A provider that always serves one snapshot (tests, or a snapshot file)."""
        prov = cls(lambda: [], refresh_s=0)
        prov.snapshot, prov.last_ok = snapshot, time.time()
        return prov

    def refresh(self) -> bool:
        """Rebuild the snapshot now; on failure keep the old one and record the error.

        Returns:
            Whether the refresh succeeded.
        """
        enf, fnd, cls_ = self._sources
        try:
            snap = build_snapshot(enf(), fnd(), cls_())
        except Exception as exc:  # noqa: BLE001 - any source failure keeps the last good snapshot
            self.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            log.warning("decision snapshot refresh failed, keeping the last one: %s", self.last_error)
            return False
        self.snapshot, self.last_ok, self.last_error = snap, time.time(), None
        return True

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the last successful refresh (infinite before the first one)."""
        return float("inf") if not self.last_ok else (now or time.time()) - self.last_ok

    def start(self) -> None:
        """Refresh once in the background now, then every ``refresh_s`` seconds (daemon thread)."""
        if self._thread is not None or self.refresh_s <= 0:
            return

        def loop() -> None:
            while not self._stop.is_set():
                self.refresh()
                self._stop.wait(self.refresh_s)

        self._thread = threading.Thread(target=loop, name="stillwatch-decide-snapshot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background refresh."""
        self._stop.set()


def load_snapshot_file(path: str | Path) -> Snapshot:
    """A snapshot saved with :meth:`Snapshot.to_json`.

    Raises:
        StoreError: The file cannot be read or parsed.
    """
    try:
        return Snapshot.from_json(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise StoreError(f"cannot read decision snapshot {path}: {exc}") from exc
