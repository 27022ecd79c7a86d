"""The detection run: build the per-account input frame for a window ending at ``until``, fit every
detector on all accounts (the baseline), score, and turn flagged rows into findings.

Only exchanges with ``ts < until`` are read. The account features come from the features
engineer's :func:`stillwatch.features.account_window.build` (called directly on the cut view, so a
replay step does not rewrite the feature tables) plus the detector modules' own extras.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd

from stillwatch.detect import devices, distillation, environments, operators, pools, relay, subrouting, subsidiary
from stillwatch.detect.evidence import RESALE_FAMILIES, Evidence, has_non_language_evidence
from stillwatch.detect.findings import Finding, to_arrow, write_jsonl
from stillwatch.detect.origin import direct_evidence, hourly_address_counts
from stillwatch.engine.batchpool import resolve_workers
from stillwatch.exceptions import NotFoundError

if TYPE_CHECKING:
    from stillwatch.config import Settings
    from stillwatch.engine import Engine

DEFAULT_WINDOW_DAYS = 28
ACCOUNT_COLS = ("account_id", "created_at", "declared_country", "billing_country", "parent_org", "parent_country")


@dataclass
class DetectionInput:
    """Everything the detectors read for one window."""

    frame: pd.DataFrame
    hourly: pd.DataFrame
    window_from: datetime
    window_to: datetime
    view: Any
    pools: dict[str, list[str]] = field(default_factory=dict)
    pool_frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    links: dict[str, dict[str, int]] = field(default_factory=dict)


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def resolve_until(engine: Engine, until: datetime | None) -> datetime:
    """``until`` in UTC, or the end of the last day with data."""
    if until is not None:
        return _utc(until)
    t = engine.table("exchanges_enriched")
    last = engine.execute(t.ts.max()).column(0)[0].as_py()
    if last is None:
        raise NotFoundError("exchanges_enriched is empty", hint="run `stillwatch ingest` and `stillwatch enrich`")
    last = _utc(last)
    return datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)


def _to_pandas(engine: Engine, expr: Any) -> pd.DataFrame:
    return engine.execute(expr).to_pandas()


def build_input(
    engine: Engine, settings: Settings, until: datetime, window_days: int = DEFAULT_WINDOW_DAYS
) -> DetectionInput:
    """The per-account frame and hourly counts for the window ``[until - window_days, until)``.

    Raises:
        NotFoundError: Enrichment has not run.
    """
    from stillwatch.enrich.timeprofile import calendar_table, offset_template_table
    from stillwatch.features import account_window
    from stillwatch.features.activity import fine_table
    from stillwatch.features.view import exchange_view, utc_literal

    if not engine.has_table("exchanges_enriched"):
        raise NotFoundError("table 'exchanges_enriched' has no data", hint="run `stillwatch enrich` first")
    start = until - timedelta(days=window_days)
    view = exchange_view(engine, until)
    data_start = engine.execute(view.ts.min()).column(0)[0].as_py()
    view = view.filter(view.ts >= utc_literal(start))
    first_day = _utc(data_start).date() if data_start else start.date()
    cal = calendar_table(start.date() - timedelta(days=1), until.date() + timedelta(days=1))
    offsets = ibis.memtable(offset_template_table())
    # the view is already cut to the window: every row is in it
    win = account_window.build(view, fine_table(view, ibis.literal(True)), cal, offsets, start, until, first_day)
    frame = _to_pandas(engine, win)
    extras = (relay.egress_sharing(view), relay.conversation_hopping(view), distillation.template_reuse(view),
              devices.device_parallelism(view))  # fmt: skip
    for extra in extras:
        frame = frame.merge(_to_pandas(engine, extra), on="account_id", how="left")
    frame = frame.merge(distillation.new_model_shift(engine, view, until), on="account_id", how="left")
    frame = frame.merge(environments.env_users(engine, start, until), on="account_id", how="left")
    if engine.has_table("accounts"):
        acc = engine.table("accounts")
        cols = [c for c in ACCOUNT_COLS if c in acc.columns]
        accounts = _to_pandas(engine, acc.select(*cols)).drop_duplicates("account_id", keep="last")
        frame = frame.merge(accounts, on="account_id", how="left")
    for c in ACCOUNT_COLS[1:]:
        if c not in frame.columns:
            frame[c] = None
    hourly_df = _to_pandas(engine, hourly_address_counts(view))
    direct = direct_evidence(view)
    # end users (metadata.user_id) per hour, exchanges without direct address evidence: the
    # per-user share estimate (detect.peruser) of accounts that pass their users' ids through
    uv = view.filter(view.md_device_id.notnull() & ~direct)
    user_hourly = _to_pandas(
        engine,
        uv.group_by(["account_id", uv.md_device_id.name("user"), uv.ts.truncate("h").name("hour_ts")]).aggregate(
            n=uv.count()
        ),
    )
    # distinct restricted client prefixes: one stable range is not end-user evidence (detect.origin)
    rv = view.filter(view.ip_restricted.fill_null(False))
    prefixes = _to_pandas(engine, rv.group_by("account_id").aggregate(restricted_prefixes=rv.ip_prefix.nunique()))
    frame = frame.merge(prefixes, on="account_id", how="left")
    frame["restricted_prefixes"] = frame["restricted_prefixes"].fillna(0)
    frame["restricted_addr_share"] = np.maximum(
        frame["ip_restricted_share"].fillna(0.0), frame["xff_restricted_share"].fillna(0.0)
    )
    frame = subrouting.add_origin_features(
        frame,
        hourly_df,
        settings.restricted_regions,
        start,
        until,
        workers=resolve_workers(settings.map_workers),
        user_hourly=user_hourly,
    )
    frame["entity_id"] = frame["account_id"]
    frame = frame.sort_values("account_id").reset_index(drop=True)
    egress, hops = (_to_pandas(engine, e) for e in pools.pool_edges(view))
    follow = frame["n_exchanges"].fillna(0) * frame["followup_share"].fillna(0)
    hops = pools.strong_hops(hops, egress, dict(zip(frame["account_id"], follow, strict=True)))
    links = pools.member_links(egress, hops)
    # hopping counts as resale only along a pool-grade edge (not a coincidental common conversation)
    frame["hop_partners"] = frame["account_id"].map(lambda a: links.get(a, {}).get("hop_partners", 0))
    frame["shared_egress_accounts"] = pools.lone_pair_egress(frame, links)  # a lone pair is no pool
    found = pools.components(pd.concat([egress[["a", "b"]], hops[["a", "b"]]], ignore_index=True))
    frame["pool_member"] = frame["account_id"].isin({a for m in found.values() for a in m})
    pf = pools.pool_frame(frame, hourly_df, found, subrouting.restricted_offsets(settings.restricted_regions))
    return DetectionInput(frame=frame, hourly=hourly_df, window_from=start, window_to=until, view=view,
                          pools=found, pool_frame=pf, links=links)  # fmt: skip


# ---------------------------------------------------------------------- detection
def default_detectors() -> dict[str, Any]:
    """The account-level detectors with their default parameters."""
    return {
        "relay": relay.RelayDetector(),
        "subrouting": subrouting.SubroutingDetector(),
        "subsidiary": subsidiary.SubsidiaryDetector(),
        "distillation": distillation.DistillationDetector(),
    }


def _samples(engine: Engine, view: Any, accounts: list[str], per: int = 20) -> dict[str, list[str]]:
    if not accounts:
        return {}
    t = view.filter(view.account_id.isin(accounts)).select("account_id", "request_id", "ts")
    rn = ibis.row_number().over(group_by=t.account_id, order_by=[ibis.desc(t.ts), t.request_id])
    df = engine.execute(t.mutate(rn=rn).filter(lambda x: x.rn < per)).to_pandas()
    return {a: g.sort_values("ts")["request_id"].tolist() for a, g in df.groupby("account_id")}


def _context_language(row: pd.Series) -> list[Evidence]:
    """Language context shown with (never instead of) the real evidence."""
    share = float(row.get("lang_zh_share") or 0)
    art = float(row.get("cn_mainland_artifact_share") or 0)
    if share < 0.3 and art < 0.05:
        return []
    return [Evidence("cn_mainland_artifact_share", art, "near 0 for most accounts",
                     f"context only: {share:.0%} Chinese first messages, {art:.0%} with mainland-specific tokens",
                     "language", 0.0)]  # fmt: skip


def _make(
    det: Any,
    row: pd.Series,
    score: float,
    items: list[Evidence],
    inp: DetectionInput,
    samples: dict[str, list[str]],
    estimate: dict[str, Any] | None = None,
) -> Finding | None:
    items = items + _context_language(row)
    if not has_non_language_evidence(items):
        return None
    return Finding(
        kind=det.kind, entity="account", entity_id=str(row["account_id"]), score=float(score),
        detector=det.describe(), evidence=items, exchanges=samples.get(row["account_id"], []),
        accounts=[str(row["account_id"])], window_from=inp.window_from, window_to=inp.window_to,
        status=det.status, estimate=estimate,
    )  # fmt: skip


def score_frame(frame: pd.DataFrame, restricted: list[str], detectors: dict[str, Any] | None = None) -> pd.DataFrame:
    """Fit every detector on all accounts of ``frame`` and add ``<kind>_score``/``<kind>_flag`` columns,
    then resolve overlapping kinds (subsidiary > relay > sub-routing for the same account).
    """
    detectors = detectors or default_detectors()
    frame = distillation.add_derived(frame)
    parent = frame["parent_country"].astype("string").str.upper()
    frame["parent_restricted"] = parent.isin([r.upper() for r in restricted]).fillna(False).astype(int)
    detectors["relay"].fit(frame)
    frame["fanout_z"] = detectors["relay"].fanout_strength(frame)
    for kind, det in detectors.items():
        det.fit(frame)
        frame[f"{kind}_score"] = det.score(frame)
        frame[f"{kind}_flag"] = det.predict(frame)
    sub = frame["subsidiary_flag"]
    mixed = frame["share_identifiable"].fillna(False).astype(bool) & (
        frame["share_high"] < detectors["relay"].max_restricted_share_for_subrouting
    )
    hops = frame["hop_n"].fillna(0) >= detectors["relay"].min_hops
    pooled = (frame["shared_egress_accounts"].fillna(1) >= 2) | hops
    if "pool_member" in frame.columns:  # tied to other accounts by egress, hops or retries (detect.pools)
        pooled |= frame["pool_member"].fillna(False).astype(bool)
    # subscription-pooling software: a subscription shared among people is resale whatever their
    # mix (the relay detector needs no origin evidence for it), so it is not re-filed as sub-routing
    pooled |= relay.subscription_software(frame, detectors["relay"].min_subscription_share)
    mixed &= ~pooled  # pooled accounts (shared egress, hopping conversations) are resale even when mixed
    relay_as_sub = frame["relay_flag"] & mixed & ~sub
    frame["relay_flag"] = frame["relay_flag"] & ~sub & ~mixed
    frame["subrouting_flag"] = (frame["subrouting_flag"] | relay_as_sub) & ~sub & ~frame["relay_flag"]
    # an account with both shapes: relay-software artifacts make it resale; without them an
    # extraction shape with coordination is a distillation account behind a proxy pool (its
    # "fan-out" is the languages and tasks of its script, not unrelated end users)
    software = pd.to_numeric(frame.get("relay_strong_hits", 0), errors="coerce").fillna(0) > 0
    frame["relay_flag"] &= ~(frame["distillation_flag"] & ~software)
    frame["distillation_flag"] = frame["distillation_flag"] & ~frame["relay_flag"]
    frame["distillation_flag"] = frame["distillation_flag"].astype(bool)
    return frame


def detect_frame(
    engine: Engine, inp: DetectionInput, restricted: list[str], detectors: dict[str, Any] | None = None
) -> list[Finding]:
    """Findings for one window from the prepared input."""
    detectors = detectors or default_detectors()
    frame = score_frame(inp.frame, restricted, detectors)
    flagged = frame[frame[[f"{k}_flag" for k in detectors]].any(axis=1)]
    pf = inp.pool_frame
    if not pf.empty and {"relay", "distillation"} <= detectors.keys():
        pf = pools.score_pools(pf, detectors)
        hit = pf[pf["relay_flag"] | pf["distillation_flag"]]
        members = sorted({a for m in hit["_members"] for a in m} - set(flagged["account_id"]))
    else:
        pf, members = pd.DataFrame(), []
    samples = _samples(engine, inp.view, flagged["account_id"].tolist() + members)
    findings: list[Finding] = []
    for kind, det in detectors.items():
        rows = frame[frame[f"{kind}_flag"]]
        if rows.empty:
            continue
        ev = det.evidence(rows)
        for (_, row), items in zip(rows.iterrows(), ev, strict=True):
            est = subrouting.describe_estimate(row, kind) if kind in ("subrouting", "subsidiary") else None
            score = float(row[f"{kind}_score"])
            if kind == "subrouting" and not items:
                continue
            if kind == "relay" and not any(e.family in RESALE_FAMILIES for e in items):
                continue  # origin evidence (clock, calendar, language) without resale evidence is not a relay
            if kind == "subrouting" and score < 0.5:  # re-labelled relay (mixed traffic): relay evidence explains it
                items = items + detectors["relay"].evidence(rows.loc[[row.name]])[0]
                score = max(score, float(row["relay_score"]))
            f = _make(det, row, score, items, inp, samples, est)
            if f is not None:
                findings.append(f)
    pooled = pools.pool_findings(pf, frame, inp.links, detectors, (inp.window_from, inp.window_to), samples)
    return pools.resale_over_subrouting(findings, pooled)


def cluster_findings(
    engine: Engine,
    inp: DetectionInput,
    clusters: dict[str, list[str]],
    restricted: list[str],
    detector: distillation.DistillationDetector | None = None,
) -> list[Finding]:
    """Distillation findings for linked clusters: the same signals summed over members.

    Members of a flagged cluster also get an account-level finding (entity ``account``) so that
    account-level review sees every member.
    """
    if not clusters:
        return []
    det = detector or distillation.DistillationDetector(min_exchanges=30)
    frame = distillation.add_derived(inp.frame)
    det.fit(frame)
    rows = []
    for cid, members in clusters.items():
        m = frame[frame["account_id"].isin(members)]
        if len(m) < 2:
            continue
        w = m["n_exchanges"].to_numpy(dtype=float)
        agg: dict[str, Any] = {"account_id": cid, "entity_id": cid, "n_exchanges": float(w.sum())}
        agg["pool_k_eff"] = float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() > 0 else 1.0
        for c in (*distillation.SHAPE, "xacct_template_share", "cap_max_share"):
            if c in m.columns:
                agg[c] = float(np.average(m[c].fillna(0.0), weights=w)) if w.sum() > 0 else 0.0
        # coordination must come from shared infrastructure or templates, not from being linked:
        # a lab's researchers linked into one cluster are not a campaign
        agg["shared_egress_accounts"] = float(m["shared_egress_accounts"].fillna(0).max())
        if float(distillation._col(m, "relay_strong_hits").sum()) > 0:
            continue  # relay software on its traffic: a relay pool, as for accounts and pools (score_frame)
        agg["_members"] = sorted(m["account_id"])
        rows.append(agg)
    if not rows:
        return []
    cf = pd.DataFrame(rows)
    cf["cap_max_name"] = ""
    flags, scores, evs = det.predict(cf), det.score(cf), det.evidence(cf)
    samples = _samples(engine, inp.view, [a for r in rows for a in r["_members"]], per=5)
    out = []
    for i, r in enumerate(rows):
        if not flags[i] or not has_non_language_evidence(evs[i]):
            continue
        ex = [x for a in r["_members"] for x in samples.get(a, [])]
        est = {"exchanges": int(r["n_exchanges"]), "accounts": len(r["_members"]),
               "span_days": (inp.window_to - inp.window_from).days, "capabilities": {}}  # fmt: skip
        desc = {**det.describe(), "name": "distillation_cluster"}
        out.append(
            Finding(
                "distillation",
                "cluster",
                r["account_id"],
                float(scores[i]),
                desc,
                evs[i],
                ex,
                r["_members"],
                inp.window_from,
                inp.window_to,
                status=det.status,
                estimate=est,
            )
        )
        member_ev = [
            Evidence(
                "cluster",
                r["account_id"],
                "accounts are normally unlinked",
                f"member of linked cluster {r['account_id']} ({len(r['_members'])} accounts) whose "
                "summed traffic has the distillation shape",
                "extraction",
                2.0,
            ),
            *evs[i],
        ]
        for a in r["_members"]:
            out.append(
                Finding(
                    "distillation",
                    "account",
                    a,
                    float(scores[i]),
                    desc,
                    member_ev,
                    samples.get(a, []),
                    [a],
                    inp.window_from,
                    inp.window_to,
                    status=det.status,
                )
            )
    return out


def load_clusters(engine: Engine, path: Path | str | None = None) -> dict[str, list[str]]:
    """Clusters from a ``clusters.jsonl`` file (findings-v1) or the linking engineer's ``clusters`` table."""
    import orjson

    if path is not None:
        out: dict[str, list[str]] = {}
        for line in Path(path).read_bytes().splitlines():
            if line.strip():
                obj = orjson.loads(line)
                out[str(obj["cluster_id"])] = [str(a) for a in obj.get("accounts") or []]
        return out
    if not engine.has_table("clusters"):
        return {}
    t = engine.table("clusters")
    df = engine.execute(t).to_pandas()
    if "accounts" in df.columns:
        return {str(r.cluster_id): [str(a) for a in r.accounts] for r in df.itertuples()}
    if "account_id" in df.columns:
        return {str(c): sorted(g["account_id"].astype(str)) for c, g in df.groupby("cluster_id")}
    return {}


def linked_findings(result: Any) -> list[Finding]:
    """Ban-evasion findings of a :class:`stillwatch.link.pipeline.LinkResult` as :class:`Finding` objects."""
    from stillwatch.link.ban_evasion import ban_evasion_findings

    found = []
    for d in ban_evasion_findings(result):
        for e in d.get("evidence", []):
            e.setdefault("family", "account")
        found.append(Finding.from_dict(d))
    return found


def _link(engine: Engine, settings: Settings, until: datetime) -> tuple[list[Finding], dict[str, list[str]]]:
    """Ban-evasion findings and clusters from :mod:`stillwatch.link`.

    A linking failure stops the run: detection never reports "no ban evasion" because a stage
    broke.
    """
    from stillwatch.link.pipeline import link_accounts

    result = link_accounts(engine, settings, until, write=False)
    return linked_findings(result), result.clusters_members()


def _jailbreak(
    engine: Engine, settings: Settings, until: datetime, window_days: int, cache: Any = None
) -> list[Finding]:
    """Jailbreak findings of :func:`stillwatch.detect.jailbreak_account.run` (a failure stops the run)."""
    from stillwatch.detect.jailbreak_account import run

    return list(run(engine, settings, until, window_days, cache=cache))


def run_detection(
    engine: Engine,
    settings: Settings,
    until: datetime | None = None,
    *,
    out: Path | str | None = None,
    clusters: Path | str | dict[str, list[str]] | None = None,
    link: bool = False,
    jailbreak: bool = False,
    window_days: int = DEFAULT_WINDOW_DAYS,
    write: bool = True,
    detectors: dict[str, Any] | None = None,
    jailbreak_cache: Any = None,
) -> list[Finding]:
    """Run every detector on the data before ``until`` and return the findings.

    Args:
        engine: DuckDB or Spark engine.
        settings: Settings (``restricted_regions`` is the only restricted list).
        until: Use only exchanges with ``ts < until``; default: end of the last day with data.
        out: Also write ``findings.jsonl`` here (default with ``write``: ``<data_dir>/findings.jsonl``).
        clusters: Clusters (path to ``clusters.jsonl`` or a dict); default: the ``clusters`` table.
        link: Run :mod:`stillwatch.link` for ban-evasion findings (and clusters when none are given).
        jailbreak: Also run the jailbreak detectors (exchange and account findings).
        window_days: Trailing window length.
        write: Write the ``findings`` store table and the JSONL file.
        detectors: Override the detectors (``{kind: detector}``).
        jailbreak_cache: A :class:`stillwatch.detect.jailbreak_cache.ScanCache`: the jailbreak
            exchange scores of whole days are computed once and reused (same findings).

    Returns:
        Findings, highest score first.
    """
    until = resolve_until(engine, until)
    inp = build_input(engine, settings, until, window_days)
    findings = detect_frame(engine, inp, settings.restricted_regions, detectors)
    if isinstance(clusters, dict):
        cl = clusters
    else:
        cl = load_clusters(engine, clusters)
    if link:
        ban, linked = _link(engine, settings, until)
        findings += ban
        cl = cl or linked
        ops = operators.operator_groups(ban)
        samples = _samples(engine, inp.view, sorted({a for o, g in ops.items() for a in (o, *g["returning"])}), per=5)
        have = {(f.kind, f.entity_id) for f in findings}
        findings += [f for f in operators.operator_findings(inp.frame, ban, (inp.window_from, inp.window_to), samples)
                     if f.entity == "cluster" or (f.kind, f.entity_id) not in have]  # fmt: skip
    if jailbreak:
        findings += _jailbreak(engine, settings, until, window_days, jailbreak_cache)
    have = {(f.kind, f.entity_id) for f in findings}
    for f in cluster_findings(engine, inp, cl, settings.restricted_regions):
        if f.entity == "cluster" or ("distillation", f.entity_id) not in have:
            findings.append(f)
    findings.sort(key=lambda f: (-f.score, f.kind, f.entity_id))
    if write:
        engine.write_table("findings", to_arrow(findings))
        write_jsonl(findings, out or Path(settings.data_dir) / "findings.jsonl")
    elif out is not None:
        write_jsonl(findings, out)
    return findings
