"""``link_accounts``: record + behavioural links → graph → stable clusters → store tables.

Writes two store tables through :meth:`Engine.write_table`:

* ``links`` — one row per linked pair: ``a, b, weight, kinds, reasons, evidence`` (JSON),
  ``cluster_id`` (when both ends share one);
* ``clusters`` — one row per member: ``cluster_id, account_id, size, campaign`` (JSON summary).

Labels are never read. Nothing at or after ``until`` is used: accounts created later are
ignored, enforcement after ``until`` is unknown, and only exchanges with ``ts < until`` count.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from stillwatch.exceptions import NotFoundError
from stillwatch.link.ban_evasion import enforced_accounts
from stillwatch.link.behaviour import BehaviourParams, behaviour_links
from stillwatch.link.campaign import summarise
from stillwatch.link.clusters import assign_ids
from stillwatch.link.graph import GraphParams, cluster_graph, merge_edges
from stillwatch.link.normalize import CleanReport, clean_accounts
from stillwatch.link.records import RecordParams, record_links
from stillwatch.link.tokens import Activity, load_activity, utc

if TYPE_CHECKING:
    from stillwatch.config import Settings
    from stillwatch.engine import Engine

log = logging.getLogger(__name__)

LINKS_TABLE = "links"
CLUSTERS_TABLE = "clusters"


@dataclass(frozen=True)
class LinkParams:
    """All linking parameters (defaults are the tuned values; see docs/linking.md)."""

    record: RecordParams = field(default_factory=RecordParams)
    behaviour: BehaviourParams = field(default_factory=BehaviourParams)
    graph: GraphParams = field(default_factory=GraphParams)
    use_spark_for_records: bool = True


@dataclass
class LinkResult:
    """Everything one linking run produced.

    Attributes:
        accounts: Cleaned account records (created before ``until``).
        activity: Tokens, minutes and per-account activity read from exchanges.
        record_edges: Splink pairs.
        behaviour_edges: Behavioural pairs.
        edges: Merged edges (one per pair).
        membership: ``account_id -> cluster number``.
        cluster_ids: ``cluster number -> stable cluster id``.
        campaigns: ``cluster_id -> campaign summary``.
        enforced: Accounts suspended or banned before ``until``.
        until: The cut-off used.
        params: The parameters used.
        clean_report: What normalisation nulled.
        seconds: Wall time per stage.
        weak_links: Pairs below the edge thresholds but with evidence on two or more fields or
            families (used only to tie new accounts to enforced ones).
    """

    accounts: pd.DataFrame
    activity: Activity
    record_edges: pd.DataFrame
    behaviour_edges: pd.DataFrame
    edges: pd.DataFrame
    membership: dict[str, int]
    cluster_ids: dict[int, str]
    campaigns: dict[str, dict[str, Any]]
    enforced: pd.DataFrame
    until: datetime | None
    params: LinkParams
    clean_report: CleanReport
    seconds: dict[str, float] = field(default_factory=dict)
    weak_links: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["a", "b", "weight", "kinds", "reasons"])
    )
    _samples: dict[str, list[str]] = field(default_factory=dict)

    def clusters_members(self) -> dict[str, list[str]]:
        """``cluster_id -> sorted member account ids``."""
        out: dict[str, list[str]] = {}
        for acct, k in self.membership.items():
            out.setdefault(self.cluster_ids[k], []).append(acct)
        return {k: sorted(v) for k, v in sorted(out.items())}

    def cluster_of(self, account_id: str) -> str | None:
        """The stable cluster id of an account, if clustered."""
        k = self.membership.get(account_id)
        return None if k is None else self.cluster_ids[k]

    def params_dict(self) -> dict[str, Any]:
        """Parameters as plain JSON-able values."""
        return asdict(self.params)

    def sample_exchanges(self, account_id: str, limit: int = 50) -> list[str]:
        """A few request ids of an account (filled by the pipeline when exchanges exist)."""
        return self._samples.get(account_id, [])[:limit]

    def cluster_rows(self) -> list[dict[str, Any]]:
        """``clusters.jsonl`` rows (findings-v1): cluster_id, accounts, links, campaign."""
        members = self.clusters_members()
        by_cluster: dict[str, list[dict[str, Any]]] = {c: [] for c in members}
        for e in self.edges.itertuples(index=False):
            ca, cb = self.cluster_of(e.a), self.cluster_of(e.b)
            if ca is not None and ca == cb:
                by_cluster[ca].append(
                    {"a": e.a, "b": e.b, "reason": "; ".join(e.reasons), "weight": round(float(e.weight), 4)}
                )
        rows = []
        for cid, accts in members.items():
            camp = self.campaigns.get(cid, {})
            rows.append(
                {
                    "cluster_id": cid,
                    "accounts": accts,
                    "links": by_cluster[cid],
                    "campaign": {k: v for k, v in camp.items()} if camp.get("exchanges") else None,
                }
            )
        rows.sort(key=lambda r: (-len(members[str(r["cluster_id"])]), str(r["cluster_id"])))
        return rows


#: Record reasons that identify an owner on their own (a free-mail domain, an e-mail local-part
#: shape or a phone country does not).
STRONG_RECORD_REASONS: frozenset[str] = frozenset(
    {"same payment fingerprint", "same organisation name", "similar organisation name"}
)  # fmt: skip
NETWORK_RECORD_REASONS: frozenset[str] = frozenset({"same sign-up IP", "sign-up IP same /24"})
#: A sign-up address (or /24) that is an egress of at least this many accounts in the traffic is
#: shared infrastructure (a public-cloud NAT, a campus), not an identity.
SHARED_EGRESS_ACCOUNTS = 10


def _shared_egress(activity: Activity) -> set[str]:
    t = activity.tokens
    if t.empty:
        return set()
    t = t[t["type"].isin(["ip", "net"])]
    df = t.groupby("token")["account_id"].nunique()
    return set(df[df >= SHARED_EGRESS_ACCOUNTS].index)


def _weak_record_ok(rec: pd.DataFrame, accounts: pd.DataFrame, shared: set[str]) -> pd.Series:
    """Whether each weak record link holds an identifying field that is not shared infrastructure."""
    ip = dict(zip(accounts["account_id"], accounts.get("signup_ip", pd.Series(dtype=object)), strict=False))
    net = dict(zip(accounts["account_id"], accounts.get("signup_prefix", pd.Series(dtype=object)), strict=False))
    ok = []
    for a, b, reasons in zip(rec["a"], rec["b"], rec["reasons"], strict=True):
        rs = set(reasons)
        if rs & STRONG_RECORD_REASONS:
            ok.append(True)
        elif "same sign-up IP" in rs:
            ok.append(ip.get(a) not in shared and net.get(a) not in shared)
        elif "sign-up IP same /24" in rs:
            ok.append(net.get(a) not in shared and net.get(b) not in shared)
        else:
            ok.append(False)
    return pd.Series(ok, index=rec.index, dtype=bool)


def _record_backed(pairs: pd.DataFrame, accounts: pd.DataFrame, shared: set[str]) -> pd.Series:
    """Whether the two accounts of each pair agree on an identifying record field.

    Card, folded organisation name (spaces ignored), or sign-up IP / /24 when that
    address is not a busy shared egress. Used to accept content + client behaviour (the operator's
    templates and stack) as a weak ban-evasion link: two independent lines of evidence.
    """
    acc = accounts.set_index("account_id")
    out = pd.Series(False, index=pairs.index)
    for col in ("payment_fingerprint", "org_key", "signup_ip", "signup_prefix"):
        if col not in acc:
            continue
        vals = acc[col]
        if col == "org_key":  # "atlassail capital" vs "atlassailcapital": the same name re-typed
            vals = vals.where(vals.isna(), vals.astype(str).str.replace(" ", "", regex=False))
        va = pairs["a"].map(vals)
        vb = pairs["b"].map(vals)
        same = va.notna() & (va == vb)
        if col in ("signup_ip", "signup_prefix"):
            same &= ~va.isin(shared)
        out |= same.fillna(False).astype(bool)
    return out


def _weak_links(
    rec: pd.DataFrame, beh: pd.DataFrame, params: LinkParams, accounts: pd.DataFrame, activity: Activity
) -> pd.DataFrame:
    """Links too weak for the graph that may still tie a new account to an enforced one.

    Record links need an identifying field (card, organisation, e-mail pattern, or a sign-up
    address that is not a busy shared egress); behavioural ones need identity, egress or timing
    evidence, or an identifying record agreement backing their content + client evidence.
    """
    frames = []
    shared = _shared_egress(activity)
    if len(rec):
        r = rec[(rec["weight"] < params.record.threshold) & (rec["reasons"].map(len) >= 1)].copy()
        if len(r):
            r = r[_weak_record_ok(r, accounts, shared)]
        r["kinds"] = [["record"]] * len(r)
        frames.append(r[["a", "b", "weight", "kinds", "reasons"]])
    if len(beh):
        b = beh[~beh["edge"] & (beh["families"] >= 2)].copy()
        if len(b) and "identifying" in b:
            b = b[b["identifying"].astype(bool) | _record_backed(b, accounts, shared)]
        b["kinds"] = [["behaviour"]] * len(b)
        b["weight"] = b["weight"] / max(params.behaviour.threshold, 1e-9)
        frames.append(b[["a", "b", "weight", "kinds", "reasons"]])
    if not frames:
        return pd.DataFrame(columns=["a", "b", "weight", "kinds", "reasons"])
    return pd.concat(frames, ignore_index=True)


def _load_accounts(engine: Engine, until: datetime | None) -> pd.DataFrame:
    if not engine.has_table("accounts"):
        raise NotFoundError("table 'accounts' has no data", hint="ingest accounts.jsonl first")
    t = engine.table("accounts")
    df = engine.execute(t).to_pandas()
    if until is not None and "created_at" in df:
        created = pd.to_datetime(df["created_at"], utc=True, errors="coerce")
        df = df[created.isna() | (created < pd.Timestamp(utc(until)))]
    return df


def _spark_session(engine: Engine, params: LinkParams) -> Any | None:
    if engine.name != "spark" or not params.use_spark_for_records:
        return None
    session = engine.session  # type: ignore[attr-defined]
    jars = session.sparkContext.getConf().get("spark.jars", "") or ""
    if "similarity" not in jars:
        log.warning("link: Spark session has no splink similarity jar (spark.jars); record linkage runs on DuckDB")
        return None
    return session


def _previous(engine: Engine) -> pd.DataFrame | None:
    if not engine.has_table(CLUSTERS_TABLE):
        return None
    t = engine.table(CLUSTERS_TABLE)
    return engine.execute(t.select("cluster_id", "account_id")).to_pandas()


def _samples(engine: Engine, accounts: list[str], until: datetime | None, per: int = 50) -> dict[str, list[str]]:
    if not accounts or not engine.has_table("exchanges_enriched"):
        return {}
    import ibis

    t = engine.table("exchanges_enriched")
    if until is not None:
        t = t.filter(t.ts < ibis.literal(utc(until), type="timestamp('UTC')"))
    t = t.filter(t.account_id.isin(accounts)).select("account_id", "request_id", "ts")
    rn = ibis.row_number().over(group_by=t.account_id, order_by=t.ts)
    df = engine.execute(t.mutate(rn=rn).filter(lambda x: x.rn < per)).to_pandas()
    return {a: g.sort_values("ts")["request_id"].tolist() for a, g in df.groupby("account_id")}


def link_accounts(
    engine: Engine,
    settings: Settings | None = None,
    until: datetime | None = None,
    *,
    params: LinkParams | None = None,
    write: bool = True,
) -> LinkResult:
    """Link accounts into clusters and write the ``links`` and ``clusters`` tables.

    Args:
        engine: DuckDB or Spark engine.
        settings: Settings (unused beyond the engine's; accepted for a uniform stage signature).
        until: Use only data before this instant (naive means UTC).
        params: Linking parameters.
        write: Write the store tables (``False`` for dry runs and sign-up scoring).

    Returns:
        A :class:`LinkResult`.

    Raises:
        NotFoundError: There is no ``accounts`` table.
    """
    del settings
    params = params or LinkParams()
    until = utc(until)
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    accounts, report = clean_accounts(_load_accounts(engine, until))
    enforcement = engine.execute(engine.table("enforcement")).to_pandas() if engine.has_table("enforcement") else None
    enforced = enforced_accounts(enforcement, until)
    secs["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rec = record_links(accounts, params.record, spark=_spark_session(engine, params))
    secs["records"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    activity = load_activity(engine, until)
    secs["activity"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    beh = behaviour_links(
        activity.tokens,
        activity.minutes,
        params.behaviour,
        extra_pairs=rec[["a", "b"]] if len(rec) else None,
        protect=set(enforced["account_id"]),
    )
    secs["behaviour"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    strong_beh = beh[beh["edge"]] if len(beh) else beh
    if len(rec):
        backed = set(zip(strong_beh["a"], strong_beh["b"], strict=True)) if len(strong_beh) else set()
        is_backed = [(a, b) in backed for a, b in zip(rec["a"], rec["b"], strict=True)]
        strong_rec = rec[(rec["weight"] >= params.record.threshold) | pd.Series(is_backed, index=rec.index)]
    else:
        strong_rec = rec
    edges = merge_edges(strong_rec, strong_beh)
    weak = _weak_links(rec, beh, params, accounts, activity)
    membership = cluster_graph(edges, params.graph)
    created = dict(zip(accounts["account_id"], accounts["created_at"], strict=True))
    ids = assign_ids(membership, created, _previous(engine))
    secs["graph"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    members = pd.DataFrame([(a, ids[k]) for a, k in membership.items()], columns=["account_id", "cluster_id"])
    campaigns = summarise(engine, members, until) if len(members) else {}
    secs["campaigns"] = time.perf_counter() - t0
    result = LinkResult(
        accounts,
        activity,
        strong_rec,
        strong_beh,
        edges,
        membership,
        ids,
        campaigns,
        enforced,
        until,
        params,
        report,
        secs,
        weak_links=weak,
    )
    flagged = set(members["account_id"]) if len(members) else set()
    result._samples = _samples(engine, sorted(flagged), until)
    if write:
        t0 = time.perf_counter()
        write_tables(engine, result)
        secs["write"] = time.perf_counter() - t0
    log.info(
        "link: %d accounts, %d record + %d behaviour edges, %d clusters",
        len(accounts),
        len(rec),
        len(beh),
        len(set(ids.values())),
    )
    return result


def write_tables(engine: Engine, result: LinkResult) -> None:
    """Write the ``links`` and ``clusters`` store tables."""
    e = result.edges
    links = pa.table(
        {
            "a": pa.array(e["a"].astype(str).tolist() if len(e) else [], pa.string()),
            "b": pa.array(e["b"].astype(str).tolist() if len(e) else [], pa.string()),
            "weight": pa.array(e["weight"].astype(float).tolist() if len(e) else [], pa.float64()),
            "kinds": pa.array([list(x) for x in e["kinds"]] if len(e) else [], pa.list_(pa.string())),
            "reasons": pa.array([list(x) for x in e["reasons"]] if len(e) else [], pa.list_(pa.string())),
            "evidence": pa.array([json.dumps(x, default=str) for x in e["evidence"]] if len(e) else [], pa.string()),
            "cluster_id": pa.array(
                [
                    result.cluster_of(a) if result.cluster_of(a) == result.cluster_of(b) else None
                    for a, b in zip(e["a"], e["b"], strict=True)
                ]
                if len(e)
                else [],
                pa.string(),
            ),
        }
    )
    engine.write_table(LINKS_TABLE, links)
    members = result.clusters_members()
    rows = [
        (cid, a, len(m), json.dumps(result.campaigns.get(cid, {}), default=str))
        for cid, m in members.items()
        for a in m
    ]
    clusters = pa.table(
        {
            "cluster_id": pa.array([r[0] for r in rows], pa.string()),
            "account_id": pa.array([r[1] for r in rows], pa.string()),
            "size": pa.array([r[2] for r in rows], pa.int64()),
            "campaign": pa.array([r[3] for r in rows], pa.string()),
        }
    )
    engine.write_table(CLUSTERS_TABLE, clusters)
