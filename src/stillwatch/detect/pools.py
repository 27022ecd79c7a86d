"""Account pools: accounts tied together by shared egress addresses or hopping conversations.

Relays and distillation hydras both run *pools* of accounts (research/relay-intel.md §0 item 3;
research/anchors-detection.md, "cross-cutting" items 1–3): one relay host or proxy exit carries
many accounts, and a pooled relay fails conversations over from one account to another. Each
member can look unremarkable — a few dozen exchanges on its first day, about 26 a day in the
28.8M report — while the pool's summed traffic carries the evidence. This module builds the pools
and a per-pool frame in the same columns as the per-account frame, so the account detectors can
score a pool the way they score an account and evidence is available on a member's first day.

Edges (never language, never the declared country):

* **shared egress** — two accounts each sending at least ``min_exchanges`` exchanges from the same
  public address (an address that carries at most ``max_ip_accounts`` accounts: a carrier NAT
  is not a pool — unless both relay there: relay software, forwarded restricted-region
  addresses, or end users' conversations continuing across the accounts of the address's
  network, :func:`stillwatch.detect.hops.host_hops`); a
  newcomer with fewer exchanges joins an address that already carries several such accounts
  when most of its own traffic comes from it (a pool member first seen late in the day);
* **hopping conversation** — follow-up turns of the same conversations (system prompt + first
  user turn) on both accounts within an hour, or a follow-up on one account that continues the
  latest turn the other sent (:func:`stillwatch.detect.hops.continued_turns`: turn 1 on A, turn 2
  on B), on at least ``min_convs`` distinct conversations;
* **retry** — the same turn (same conversation, same message count) on both accounts within
  ``retry_s`` seconds, at least ``min_hops`` times: relay software retrying failed requests on
  another pooled account.

Hop and retry edges are then filtered for coincidence (:func:`strong_hops`): a material share of
the accounts' follow-ups, and two different shared-egress groups are joined only by several
hopping pairs, not one.
"""

from __future__ import annotations

import copy
from typing import Any

import ibis
import numpy as np
import pandas as pd

from stillwatch.detect.hops import components, continued_turns, host_hops, strong_hops

__all__ = [
    "components", "lone_pair_egress", "member_links", "pool_edges", "pool_findings", "pool_frame", "score_pools",
    "strong_hops",
]  # fmt: skip

#: Count features summed over members; shares are volume-weighted means.
SUM_COLS = ("n_exchanges", "relay_strong_hits", "hop_n")
MEAN_COLS = (
    "restricted_addr_share", "ip_restricted_share", "xff_restricted_share", "relay_hit_share",
    "max_tokens_default_share", "zero_width_share", "hosting_share", "vpn_proxy_share", "followup_share",
    "top_template_share", "cot_share", "bench_share", "max_tokens_pinned_share", "new_model_share",
    "xacct_template_share", "lang_zh_share", "cn_mainland_artifact_share",
)  # fmt: skip


def pool_edges(
    view: Any,
    min_exchanges: int = 2,
    max_ip_accounts: int = 50,
    min_newcomer_accounts: int = 3,
    min_retries: int = 2,
    min_hops: int = 2,
    min_convs: int = 2,
    within_s: int = 3600,
    retry_s: int = 30,
) -> tuple[Any, Any]:
    """Ibis expressions for the two edge kinds (each ``a, b, weight`` with ``a < b``).

    Args:
        view: The exchange view cut to the window.
        min_exchanges: Exchanges each account needs on a shared address.
        max_ip_accounts: Addresses carrying more accounts on one UTC day are ignored (carrier
            NAT, big proxies), except between accounts relaying there (at least ``min_exchanges``
            exchanges from the address with a strong relay-software indicator, or forwarding a
            restricted-region address).
        min_retries: Retried turns a pair needs (one identical turn on two busy accounts within
            seconds happens by chance); one is enough when both accounts run relay software
            (strong indicator on ``min_exchanges`` of their exchanges), which retries on a
            *random* other pooled account and so ties a pair about once.
        min_newcomer_accounts: An account with fewer than ``min_exchanges`` exchanges on an
            address is tied to it when the address carries at least this many accounts with
            ``min_exchanges`` or more and at least half of the account's exchanges come from it.
        min_hops: Hopping exchanges a pair needs.
        min_convs: Distinct hopping conversations a pair needs (two strangers can open the same
            common conversation once; a pool fails over many).
        within_s: Two turns of one conversation on two accounts this close in time are a hop.
        retry_s: The same turn of one conversation on two accounts this close is a retry.

    Returns:
        ``(egress_edges, hop_edges)``; hop edges carry ``retry`` (true for retry edges).
    """
    t = view.filter(~view.ip_kind.isin(["unknown", "private", "reserved"]) & (view.client_ip != "unknown"))
    strong = t.relay_strong_hit.fill_null(False) if "relay_strong_hit" in t.columns else ibis.literal(False)
    fwd = t.xff_restricted.fill_null(False) if "xff_restricted" in t.columns else ibis.literal(False)
    per = t.group_by(["account_id", "client_ip"]).aggregate(
        n=t.count(), n_sw=ibis.ifelse(strong, 1, 0).sum(), n_fwd=ibis.ifelse(fwd, 1, 0).sum()
    )
    # on an address carrying more than max_ip_accounts accounts (a carrier NAT, a commercial VPN
    # exit, a serverless platform's egress) strangers meet, so only accounts that relay there are
    # tied: at least min_exchanges of their exchanges from the address match a strong
    # relay-software indicator (accounts pooled on one relay host; research/relay-intel.md §1.1),
    # or forward a restricted-region end user's address (X-Forwarded-For; §2.1 T6) — a NAT or a
    # VPN exit adds no forwarded-for header, and strangers on a platform's egress do not each
    # forward restricted-region users. A count, not a share: some programs show a strong
    # indicator on a few of their requests only (seed 1: litellm relays on 1-11 %, new-api
    # 10-19 %, CLIProxyAPI 12-62 %), and no benign account shows one.
    # or continue end users' conversations across the accounts of the address (a relay host
    # balancing requests over its pool; strangers behind a NAT do not: detect.hops)
    per = per.left_join(host_hops(t, within_s), ["account_id", "client_ip"]).drop("account_id_right", "client_ip_right")
    relays = (per.n_sw >= min_exchanges) | (per.n_fwd >= min_exchanges) | (per.n_hop.fill_null(0) >= 1)
    per = per.mutate(sw=relays, est=per.n >= min_exchanges)
    est = per.filter(per.est)
    ip_n = est.group_by("client_ip").aggregate(k=est.account_id.nunique(), k_sw=ibis.ifelse(est.sw, 1, 0).sum())
    # "many accounts" is counted per day: people sharing an address at the same time (a NAT). A
    # count over the whole window grows with its length and with account churn — a hydra
    # rotating accounts through its proxy exits crossed 50 within ten days on seed 1 and its pool
    # fell apart mid-window.
    daily = t.group_by(["client_ip", "day"]).aggregate(k_d=t.account_id.nunique())
    peak = daily.group_by("client_ip").aggregate(k_day=daily.k_d.max())
    ip_n = ip_n.join(peak, "client_ip")
    crowded = ip_n.k_day > max_ip_accounts
    ip_n = ip_n.filter((ip_n.k >= 2) & (~crowded | (ip_n.k_sw >= 2))).mutate(crowded=crowded)
    tot = t.group_by("account_id").aggregate(n_tot=t.count())
    per = per.join(ip_n, "client_ip").join(tot, "account_id")
    # a newcomer (fewer than min_exchanges there, e.g. an account first seen late in the day)
    # joins an address that already carries min_newcomer_accounts established accounts when
    # most of its own traffic comes from it: a pool's new member has evidence on its first day
    newcomer = ~per.est & (per.k >= min_newcomer_accounts) & ~per.crowded & (per.n * 2 >= per.n_tot)
    # the hopping turns that tied an account on a crowded address go into its evidence
    host = ibis.ifelse(per.crowded, per.n_hop.fill_null(0), 0)
    per = per.filter((per.est & (~per.crowded | per.sw)) | newcomer).select("account_id", "client_ip", host=host)
    other = per.view()
    eg = per.join(other, [per.client_ip == other.client_ip, per.account_id < other.account_id])
    eg = eg.select(a=per.account_id, b=other.account_id, ip=per.client_ip, host_a=per.host, host_b=other.host)
    egress = eg.group_by(["a", "b"]).aggregate(
        weight=eg.ip.nunique().cast("int64"), host_a=eg.host_a.max().cast("int64"), host_b=eg.host_b.max().cast("int64")
    )

    f = view.filter(view.is_followup.fill_null(False) & view.first_user_hash.notnull())
    f = f.select("account_id", "message_count", conv=f.sys_hash.fill_null("") + ":" + f.first_user_hash,
                 sec=f.ts.epoch_seconds().cast("float64"))  # fmt: skip
    conv_n = f.group_by("conv").aggregate(k=f.account_id.nunique())
    f = f.join(conv_n.filter((conv_n.k >= 2) & (conv_n.k <= 20)), "conv").select(
        "account_id", "message_count", "conv", "sec"
    )
    g = f.view()
    hp = f.join(g, [f.conv == g.conv, f.account_id < g.account_id, (f.sec - g.sec).abs() <= within_s])
    hp = hp.select(a=f.account_id, b=g.account_id, conv=f.conv)
    # a follow-up continuing the latest turn another account sent (turn 1 on A, turn 2 on B): a hop
    # even when the conversation has one follow-up and each account has its own address
    ct = continued_turns(view, within_s)
    lo, hi = ibis.least(ct.account_id, ct.prev_account), ibis.greatest(ct.account_id, ct.prev_account)
    hp = hp.union(ct.select(a=lo, b=hi, conv=ct.conv), distinct=False)
    hops = hp.group_by(["a", "b"]).aggregate(weight=hp.count().cast("int64"), convs=hp.conv.nunique().cast("int64"))
    hops = hops.filter((hops.weight >= min_hops) & (hops.convs >= min_convs)).mutate(retry=False)
    # the same turn of the same conversation on two accounts seconds apart: a relay retrying a
    # failed request on another pooled account (research/relay-intel.md §1.1: one-api, CRS, CPA)
    rt = f.join(g, [f.conv == g.conv, f.message_count == g.message_count, f.account_id < g.account_id,
                    (f.sec - g.sec).abs() <= retry_s])  # fmt: skip
    rt = rt.select(a=f.account_id, b=g.account_id, conv=f.conv)
    retries = rt.group_by(["a", "b"]).aggregate(weight=rt.count().cast("int64"), convs=rt.conv.nunique().cast("int64"))
    # one identical turn on two busy accounts within seconds happens by chance (a popular client's
    # default conversation); a relay failing over retries again and again. One retry is enough
    # between two accounts that both run relay software (strong indicator on min_exchanges of
    # their exchanges): software retries a failed request on a *random* other pooled account, so
    # a pair of one relay's accounts rarely shares two retries in a day.
    vs = view.relay_strong_hit.fill_null(False) if "relay_strong_hit" in view.columns else ibis.literal(False)
    sw_acc = view.group_by("account_id").aggregate(n_sw=ibis.ifelse(vs, 1, 0).sum())
    sw_acc = sw_acc.filter(sw_acc.n_sw >= min_exchanges).select("account_id")
    sa, sb = sw_acc.select(a=sw_acc.account_id, sw_a=True), sw_acc.select(b=sw_acc.account_id, sw_b=True)
    retries = retries.left_join(sa, "a").left_join(sb, "b")
    both_sw = retries.sw_a.fill_null(False) & retries.sw_b.fill_null(False)
    retries = retries.filter((retries.weight >= min_retries) | both_sw).select("a", "b", "weight", "convs")
    return egress, hops.union(retries.mutate(retry=True))


def _clock_fit(counts: np.ndarray) -> tuple[int | None, float]:
    """Best UTC offset and fit of 24 hourly counts against the enrichment's diurnal template
    (the same statistic as the account feature ``utc_offset_fit``)."""
    from stillwatch.enrich.timeprofile import OFFSETS, diurnal_weights  # noqa: PLC0415

    tot = counts.sum()
    if tot <= 0:
        return None, 0.0
    p = counts / tot
    denom = float((p * p).sum() - 1.0 / 24.0)
    if denom <= 1e-12:
        return None, 0.0
    w = np.asarray(diurnal_weights())
    best, fit = None, -np.inf
    for off in OFFSETS:
        v = float(np.dot(p, w[(np.arange(24) + off) % 24]) / np.sqrt(denom))
        if v > fit + 1e-12:
            best, fit = off, v
    return best, float(fit)


def pool_frame(
    frame: pd.DataFrame, hourly: pd.DataFrame, pools: dict[str, list[str]], restricted_offsets: dict[str, float]
) -> pd.DataFrame:
    """One row per pool in the per-account columns the detectors read.

    Counts are summed, shares volume-weighted; the pool's clock (``best_utc_offset``,
    ``utc_offset_fit``, ``tz_restricted``) is fitted on the members' summed hourly counts, so a
    pool of low-volume accounts has a clock as soon as the pool has volume. ``pool_size``,
    ``pool_k_eff`` (effective number of accounts, ``(Σn)² / Σn²`` over member volumes) and
    ``shared_egress_accounts`` (the largest member value) describe the pool.

    Args:
        frame: Per-account frame (the runner's, after origin features).
        hourly: ``account_id, hour_ts, n``.
        pools: ``{pool_id: members}``.
        restricted_offsets: UTC offset per restricted region.

    Returns:
        A frame with ``account_id`` = ``entity_id`` = the pool id and ``_members``.
    """
    from stillwatch.detect.subrouting import circ_dist  # noqa: PLC0415

    if not pools:
        return pd.DataFrame()
    idx = frame.set_index("account_id")
    hod = hourly.assign(h=pd.to_datetime(hourly["hour_ts"], utc=True).dt.hour)
    hod = hod.pivot_table(index="account_id", columns="h", values="n", aggfunc="sum", fill_value=0)
    hod = hod.reindex(columns=range(24), fill_value=0)
    rows = []
    for pid, members in pools.items():
        m = idx.loc[[a for a in members if a in idx.index]]
        if len(m) < 2:
            continue
        w = pd.to_numeric(m["n_exchanges"], errors="coerce").fillna(0).to_numpy(dtype=float)
        row: dict[str, Any] = {"account_id": pid, "entity_id": pid, "_members": sorted(m.index), "pool_size": len(m)}
        # effective number of accounts behind the pooled shares (Kish): a pool of one busy account
        # and a few near-silent ones is about one account
        row["pool_k_eff"] = float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() > 0 else 1.0
        for c in (*SUM_COLS, *[c for c in m.columns if c.startswith("relay_hits_")]):
            if c in m.columns:
                row[c] = float(pd.to_numeric(m[c], errors="coerce").fillna(0).sum())
        for c in MEAN_COLS:
            if c in m.columns and w.sum() > 0:
                row[c] = float(np.average(pd.to_numeric(m[c], errors="coerce").fillna(0.0), weights=w))
        n_follow = float((pd.to_numeric(m.get("followup_share"), errors="coerce").fillna(0) * w).sum())
        row["hop_share"] = row.get("hop_n", 0.0) / n_follow if n_follow > 0 else 0.0
        row["shared_egress_accounts"] = float(pd.to_numeric(m["shared_egress_accounts"], errors="coerce").max() or 0)
        caps = [c for c in m.columns if c.startswith("cap_") and c.endswith("_share")]
        if caps and w.sum() > 0:
            capw = {c: float(np.average(m[c].fillna(0.0), weights=w)) for c in caps}
            name = max(capw, key=lambda k: capw[k])
            row["cap_max_share"], row["cap_max_name"] = capw[name], name[4:-6]
        counts = hod.reindex([a for a in m.index]).fillna(0).to_numpy().sum(axis=0)
        best, fit = _clock_fit(counts)
        row["best_utc_offset"], row["utc_offset_fit"] = best, fit
        local = pd.to_numeric(m.get("local_offset"), errors="coerce").dropna()
        lo = float(local.mode().iloc[0]) if len(local) else None
        tz = 0.0
        if best is not None and lo is not None and restricted_offsets:
            near = min(circ_dist(best, r) for r in restricted_offsets.values()) <= 1
            if near and circ_dist(best, lo) >= 3:
                tz = float(np.clip((fit - 0.3) / 0.15, 0, 4))
        row["tz_restricted"], row["local_offset"] = tz, lo
        row["declared_country"] = m["declared_country"].mode().iloc[0] if m["declared_country"].notna().any() else None
        rows.append(row)
    return pd.DataFrame(rows)


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series(0.0, index=df.index)
    return pd.to_numeric(df[col], errors="coerce").fillna(0.0)


def member_links(egress: pd.DataFrame, hops: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per account: how many pool partners it has through shared egress and through hops, and
    (``host_hop_turns``, only when > 0) its follow-up turns that continued on other accounts of
    a crowded address's network — the reason it is tied there (:func:`detect.hops.host_hops`)."""
    out: dict[str, dict[str, int]] = {}
    for kind, df in (("egress_partners", egress), ("hop_partners", hops)):
        for a, b in zip(df["a"].astype(str), df["b"].astype(str), strict=True):
            for x in (a, b):
                d = out.setdefault(x, {"egress_partners": 0, "hop_partners": 0})
                d[kind] += 1
    for side in ("a", "b"):
        if f"host_{side}" in egress.columns:
            turns = egress.groupby(egress[side].astype(str))[f"host_{side}"].max()
            for x, n in turns[turns > 0].items():
                out[x]["host_hop_turns"] = max(out[x].get("host_hop_turns", 0), int(n))
    return out


def lone_pair_egress(frame: pd.DataFrame, links: dict[str, dict[str, int]]) -> pd.Series:
    """``shared_egress_accounts`` with lone pairs counted as unshared.

    Two accounts meeting on one address (a household, an office NAT, a VPN exit, a cloud host
    two researchers rent from) are not a pool (:func:`_tied`), so the account detectors must not
    read that address as pooling, origin or coordination evidence either. An account whose
    addresses carry at most one other account (``shared_egress_accounts`` = 2), with at most one
    egress partner and no conversation hopping to or retried on another account, gets 1. Three
    accounts on an address, partners on two addresses, or any hop keep the shared value.

    Args:
        frame: Account rows (``account_id``, ``shared_egress_accounts``).
        links: :func:`member_links`.

    Returns:
        The adjusted ``shared_egress_accounts``, aligned with ``frame``.
    """
    col = "shared_egress_accounts"
    raw = frame[col] if col in frame.columns else pd.Series(np.nan, frame.index)
    ids = frame["account_id"].astype(str)
    partners = ids.map(lambda a: links.get(a, {}).get("egress_partners", 0))
    hopped = ids.map(lambda a: links.get(a, {}).get("hop_partners", 0))
    lone = (_num(frame, col) == 2) & (partners <= 1) & (hopped == 0)
    return raw.where(~lone, 1)


def pool_detector(detectors: dict[str, Any], kind: str) -> Any:
    """The fitted account detector of ``kind`` as used on pool rows.

    A pool's shares are averages over its members (one member's script diluted by the others'),
    so for distillation the second extraction sign may be weaker (``min_second=0.5``) than for a
    single account; the fitted baseline is the accounts' one.
    """
    det = detectors[kind]
    if kind == "distillation" and hasattr(det, "min_second"):
        det = copy.copy(det)
        det.min_second = 0.5
    return det


def score_pools(pf: pd.DataFrame, detectors: dict[str, Any]) -> pd.DataFrame:
    """Score pool rows with the account detectors (already fitted on the accounts of the window).

    A pool is a relay pool or a distillation pool, not both: relay-software artifacts make it
    relay; otherwise an extraction shape with coordination makes it distillation (a hydra's proxy
    pool fails over conversations like a relay pool does, but its traffic is scripted extraction,
    not many unrelated end users).

    Returns:
        ``pf`` with ``relay_score``/``relay_flag`` and ``distillation_score``/``distillation_flag``.
    """
    pf = pf.copy()
    pf["no_followup_share"] = 1.0 - pd.to_numeric(pf.get("followup_share", 0.0), errors="coerce").fillna(0.0)
    for kind in ("relay", "distillation"):
        det = pool_detector(detectors, kind)
        pf[f"{kind}_score"] = det.score(pf)
        pf[f"{kind}_flag"] = det.predict(pf)
    strong_sw = _num(pf, "relay_strong_hits") > 0
    # the pool exists because its members share egress or conversations, so shared egress cannot
    # also be its origin evidence: a relay pool needs relay software or restricted-region evidence
    origin = (_num(pf, "tz_restricted") >= 1.0) | (_num(pf, "restricted_addr_share") >= 0.005)
    pf["relay_flag"] &= (strong_sw | origin) & (strong_sw | ~pf["distillation_flag"])
    pf["distillation_flag"] &= ~pf["relay_flag"]
    return pf


def _tied(ln: dict[str, int], size: int) -> bool:
    """Whether a member is tied to its pool firmly enough to carry the pool's evidence: a
    conversation that hopped or was retried across accounts, egress shared with two or more other
    members, or shared egress inside a pool of three or more. A lone pair of accounts meeting on
    one address (a VPN exit, an office NAT) is not enough."""
    eg = ln.get("egress_partners", 0)
    return ln.get("hop_partners", 0) >= 1 or eg >= 2 or (eg >= 1 and size >= 3)


def pool_findings(
    pf: pd.DataFrame,
    frame: pd.DataFrame,
    links: dict[str, dict[str, int]],
    detectors: dict[str, Any],
    window: tuple[Any, Any],
    samples: dict[str, list[str]],
) -> list[Any]:
    """Cluster findings for flagged pools and account findings for their members.

    A pool none of whose members is firmly tied to it (:func:`_tied`: two accounts meeting on one
    address) gets no finding at all — the cluster finding names its members, and the analyst who
    opens it acts on them. A member already flagged by any account detector keeps that finding
    (its own evidence is the more specific one); other members firmly tied get an account
    finding whose evidence is the pool's summed evidence plus how the member is tied to it and
    how many exchanges of its own the window holds (a newcomer's tie rests on few exchanges).

    Args:
        pf: Pool frame scored by :func:`score_pools`.
        frame: The scored account frame (``<kind>_flag`` columns).
        links: :func:`member_links`.
        detectors: The fitted detectors.
        window: ``(window_from, window_to)``.
        samples: Sample request ids per account.
    """
    from stillwatch.detect.evidence import Evidence, has_non_language_evidence  # noqa: PLC0415
    from stillwatch.detect.findings import Finding  # noqa: PLC0415

    if pf.empty:
        return []
    kinds = [c[:-5] for c in frame.columns if c.endswith("_flag") and c[:-5] in detectors]
    own = dict(zip(frame["account_id"], _num(frame, "n_exchanges"), strict=True))
    taken = set(frame.loc[frame[[f"{k}_flag" for k in kinds]].any(axis=1), "account_id"])
    # an account flagged only as sub-routing (mixed traffic) whose pool is a relay pool is resale
    # all the same (as in the runner's relay/sub-routing split): it gets the relay finding, which
    # replaces its sub-routing finding (resale_over_subrouting)
    only_sub = [k for k in kinds if k != "subrouting"]
    taken_relay = (
        set(frame.loc[frame[[f"{k}_flag" for k in only_sub]].any(axis=1), "account_id"]) if only_sub else set()
    )
    out: list[Any] = []
    for kind in ("relay", "distillation"):
        rows = pf[pf[f"{kind}_flag"]]
        if rows.empty:
            continue
        det = pool_detector(detectors, kind)
        desc = {**det.describe(), "name": f"{det.name}_pool"}
        for (_, row), ev in zip(rows.iterrows(), det.evidence(rows), strict=True):
            pid, members, size = row["account_id"], list(row["_members"]), int(row["pool_size"])
            if not any(_tied(links.get(a, {}), size) for a in members):
                continue  # a lone pair meeting on one address (a household, an office NAT) is no pool
            items = [Evidence(f"pool.{e.feature}", e.value, e.baseline, f"summed over the {size} accounts of the "
                              f"pool: {e.why}", e.family, e.strength) for e in ev]  # fmt: skip
            if not has_non_language_evidence(items):
                continue
            score = float(row[f"{kind}_score"])
            est = {"exchanges": int(row["n_exchanges"]), "accounts": size,
                   "span_days": (window[1] - window[0]).days, "capabilities": {}}  # fmt: skip
            ex = [x for a in members for x in samples.get(a, [])[:5]][:50]
            out.append(Finding(kind, "cluster", pid, score, desc, items, ex, members, window[0], window[1],
                               status=det.status, estimate=est))  # fmt: skip
            for a in members:
                ln = links.get(a, {})
                if a in (taken_relay if kind == "relay" else taken) or not _tied(ln, size):
                    continue
                fam = "network" if ln.get("egress_partners") else "multi_user"
                member = Evidence(
                    "pool_membership", {"pool": pid, "accounts": size, **ln, "own_exchanges": int(own.get(a, 0))},
                    "an account normally shares no egress address and no conversation with other accounts",
                    f"shares egress addresses or conversations with the other accounts of pool {pid}", fam, 2.0,
                )  # fmt: skip
                out.append(Finding(kind, "account", a, score, desc, [member, *items], samples.get(a, []), [a],
                                   window[0], window[1], status=det.status))  # fmt: skip
    return out


def resale_over_subrouting(findings: list[Any], pooled: list[Any]) -> list[Any]:
    """Account findings plus pool findings, with relay taking precedence over sub-routing.

    The account precedence of :func:`stillwatch.detect.runner.score_frame` (subsidiary > relay >
    sub-routing) also holds for a relay found through the account's pool: a member that gets the
    pool's relay finding is resale, and its mixed traffic is the relay's end users, not a
    platform's. Its sub-routing finding is dropped (altgen seed 67: two new-api relay members were
    also filed as platforms).

    Args:
        findings: Account-level findings of the account detectors.
        pooled: :func:`pool_findings` (pool clusters and their members).

    Returns:
        Both lists, without the sub-routing findings of accounts with a pool relay finding.
    """
    resale = {f.entity_id for f in pooled if f.kind == "relay" and f.entity == "account"}
    kept = [f for f in findings if not (f.kind == "subrouting" and f.entity == "account" and f.entity_id in resale)]
    return kept + pooled
