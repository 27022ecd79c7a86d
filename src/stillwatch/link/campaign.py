"""Campaign summaries of clusters, shaped like the public distillation reports.

For every cluster: accounts, exchanges, first and last seen, span in days, exchanges per account
per day, capabilities targeted (share of exchanges whose first user turn or system prompt shows
each capability; chain-of-thought elicitation share), models used and the share of traffic moved
to a newly launched model within 24 hours of its first appearance, egress countries and ASNs,
and the most used prompt templates.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from stillwatch.link.tokens import utc

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from stillwatch.engine import Engine

log = logging.getLogger(__name__)
TOP = 5
_DAY_S = 86400


def _view(engine: Engine, members: pd.DataFrame, until: datetime | None) -> ir.Table | None:
    if not engine.has_table("exchanges_enriched"):
        return None
    t = engine.table("exchanges_enriched")
    if until is not None:
        t = t.filter(t.ts < ibis.literal(utc(until), type="timestamp('UTC')"))
    m = ibis.memtable(members[["account_id", "cluster_id"]].rename(columns={"account_id": "_acct"}))
    t = t.join(m, t.account_id == m._acct).drop("_acct")
    if engine.has_table("texts"):
        texts = engine.table("texts")
        caps = [c for c in texts.columns if c.startswith("cap_")]
        u = texts.select(
            texts.text_hash.name("_h"),
            texts.template_id.name("u_template"),
            texts.has_cot_cue.name("u_cot"),
            *[texts[c] for c in caps],
        ).distinct(on="_h")
        t = t.left_join(u, t.first_user_hash == u._h).drop("_h")
    return t


def _ts(value: object) -> pd.Timestamp:
    """A UTC timestamp (Spark hands back naive UTC values, DuckDB aware ones)."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _shares(df: pd.DataFrame, key: str, value: str, top: int = TOP) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for cid, grp in df.groupby("cluster_id"):
        tot = grp["n"].sum()
        grp = grp.sort_values(["n", value], ascending=[False, True]).head(top)
        out[str(cid)] = {str(v): round(float(n) / tot, 4) for v, n in zip(grp[value], grp["n"], strict=True) if tot}
    return out


def summarise(engine: Engine, members: pd.DataFrame, until: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Campaign summary per cluster.

    Args:
        engine: The engine.
        members: ``account_id, cluster_id`` rows.
        until: Only exchanges with ``ts < until`` count.

    Returns:
        ``cluster_id -> summary dict`` (clusters without exchanges get only ``accounts``).
    """
    out: dict[str, dict[str, Any]] = {
        str(c): {"accounts": int(n)} for c, n in members.groupby("cluster_id")["account_id"].nunique().items()
    }
    t = _view(engine, members, until)
    if t is None or members.empty:
        return out
    cap_cols = [c for c in t.columns if c.startswith("cap_")]
    aggs: dict[str, Any] = {
        "exchanges": t.count(),
        "active_accounts": t.account_id.nunique(),
        "first_seen": t.ts.min(),
        "last_seen": t.ts.max(),
        "active_days": t.day.nunique(),
        "relay_share": t.relay_hit.fill_null(False).cast("float64").mean(),
        "agent_share": t.agent_shaped.fill_null(False).cast("float64").mean(),
    }
    if "u_cot" in t.columns:
        aggs["cot_share"] = t.u_cot.fill_null(False).cast("float64").mean()
        for c in cap_cols:
            aggs[c] = t[c].fill_null(False).cast("float64").mean()
    base = engine.execute(t.group_by("cluster_id").aggregate(**aggs)).to_pandas()
    models = engine.execute(t.group_by(["cluster_id", "model"]).aggregate(n=t.count())).to_pandas()
    countries = engine.execute(t.group_by(["cluster_id", "ip_country"]).aggregate(n=t.count())).to_pandas()
    asns = engine.execute(t.group_by(["cluster_id", "ip_asn_name"]).aggregate(n=t.count())).to_pandas()
    tpl = None
    if "u_template" in t.columns:
        tt = t.filter(t.u_template.notnull())
        tpl = engine.execute(tt.group_by(["cluster_id", "u_template"]).aggregate(n=tt.count())).to_pandas()
    switch = _launch_switch(engine, t, until)
    m_sh = _shares(models, "cluster_id", "model")
    c_sh = _shares(countries.fillna("unknown"), "cluster_id", "ip_country")
    a_sh = _shares(asns.fillna("unknown"), "cluster_id", "ip_asn_name")
    t_sh = _shares(tpl, "cluster_id", "u_template") if tpl is not None and len(tpl) else {}
    for _, row in base.iterrows():
        cid = str(row["cluster_id"])
        first, last = _ts(row["first_seen"]), _ts(row["last_seen"])
        span = max((last - first).total_seconds() / _DAY_S, 1 / 24)
        n_acc = out.get(cid, {}).get("accounts", int(row["active_accounts"]))
        caps = {c[4:]: round(float(row[c]), 4) for c in cap_cols if float(row[c] or 0) > 0}
        out.setdefault(cid, {}).update(
            {
                "exchanges": int(row["exchanges"]),
                "active_accounts": int(row["active_accounts"]),
                "first_seen": first.isoformat(),
                "last_seen": last.isoformat(),
                "span_days": round(span, 2),
                "exchanges_per_account_day": round(float(row["exchanges"]) / max(1, n_acc) / max(1.0, span), 2),
                "capabilities": dict(sorted(caps.items(), key=lambda kv: -kv[1])),
                "cot_share": round(float(row.get("cot_share") or 0.0), 4),
                "relay_share": round(float(row.get("relay_share") or 0.0), 4),
                "agent_share": round(float(row.get("agent_share") or 0.0), 4),
                "models": m_sh.get(cid, {}),
                "egress_countries": c_sh.get(cid, {}),
                "egress_asns": a_sh.get(cid, {}),
                "templates": t_sh.get(cid, {}),
                "launch_switch": switch.get(cid, {}),
            }
        )
    return out


def _launch_switch(engine: Engine, t: ir.Table, until: datetime | None) -> dict[str, dict[str, Any]]:
    """Per cluster and newly launched model: share of the cluster's traffic on it in the 24 h after launch.

    A model is "launched" when it first appears in the whole data more than three days after the
    data begins (no release calendar is needed).
    """
    allx = engine.table("exchanges_enriched")
    if until is not None:
        allx = allx.filter(allx.ts < ibis.literal(utc(until), type="timestamp('UTC')"))
    firsts = engine.execute(allx.group_by("model").aggregate(first=allx.ts.min())).to_pandas()
    start = engine.execute(allx.ts.min()).column(0)[0].as_py()
    if start is None or firsts.empty:
        return {}
    start = _ts(start)
    launches = firsts[pd.to_datetime(firsts["first"], utc=True) > start + pd.Timedelta(days=3)]
    out: dict[str, dict[str, Any]] = {}
    for _, row in launches.iterrows():
        lo = _ts(row["first"]).to_pydatetime()
        hi = lo + pd.Timedelta(hours=24)
        w = t.filter(
            (t.ts >= ibis.literal(lo, type="timestamp('UTC')")) & (t.ts < ibis.literal(hi, type="timestamp('UTC')"))
        )
        agg = engine.execute(
            w.group_by("cluster_id").aggregate(n=w.count(), on_new=(w.model == row["model"]).cast("float64").sum())
        ).to_pandas()
        for _, r in agg.iterrows():
            if r["n"] and r["on_new"]:
                out.setdefault(str(r["cluster_id"]), {})[str(row["model"])] = {
                    "launched": _ts(row["first"]).isoformat(),
                    "share_next_24h": round(float(r["on_new"]) / float(r["n"]), 4),
                }
    return out
