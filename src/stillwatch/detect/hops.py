"""Conversations hopping between accounts: which hops tie accounts beyond coincidence.

Relay software fails over, balances or re-assigns an end user's conversation to another pooled
account (research/relay-intel.md §2.4 V5), so the next turn of one conversation (same system
prompt and first user turn) arrives on another account. This module holds the hop logic of
:mod:`stillwatch.detect.pools`: the connected components of its edges, the filter of hop edges
for coincidence (:func:`strong_hops`), and relay hosts among crowded addresses
(:func:`host_hops`).

**Relay hosts.** An address that carries many accounts on one day is usually a carrier NAT or a
commercial VPN exit, where strangers meet, so :func:`stillwatch.detect.pools.pool_edges` does not
tie accounts there by the address alone. A relay host is different in what its accounts *do*:
relay software that balances requests over its pooled accounts without session stickiness
(one-api's random channel, LiteLLM's router, CLIProxyAPI's default round robin), or whose
stickiness expires or fails over on a rate limit (claude-relay-service, sub2api), sends the next
turn of one end user's conversation through another account of the pool — from the same host
(§1.1, §2.4 V5, §2.5 G2). Strangers behind a NAT do not continue each other's conversations
within the hour, except by chance on a common opening, and that happens on a few of an
address's follow-up turns, not on a material share of them.

So a network is a relay host when a material share of the follow-up turns sent from it
continue a conversation that another account sent from the *same network* within the hour, on
several conversations and accounts; the accounts whose conversations hop there are its pooled
accounts. The network is the address's /24 (IPv4) or /48 (IPv6) prefix (``ip_prefix``): a relay
host often has a few egress addresses in one hosting range and spreads requests over them, so a
conversation's next turn can leave from the neighbouring address (§2.5 G2: "one egress IP (or
/24)"). Nothing here reads language, script or country.
"""

from __future__ import annotations

import hashlib
from typing import Any

import ibis
import numpy as np
import pandas as pd


def host_hops(
    t: Any,
    within_s: int = 3600,
    max_conv_accounts: int = 20,
    min_share: float = 0.05,
    min_accounts: int = 3,
    min_convs: int = 2,
) -> Any:
    """Per account and address on a relay-host network: follow-up turns that hop to another
    account of the network.

    Args:
        t: Exchange view already cut to the window and to public addresses (columns
            ``account_id, client_ip, ts, is_followup, sys_hash, first_user_hash, message_count``,
            and ``ip_prefix`` when available; without it each address is its own network).
        within_s: Two turns of one conversation on two accounts of one network this close in
            time are a hop.
        max_conv_accounts: A conversation (system prompt + first user turn) seen on more
            accounts in the window is a common opening (a client's default), not a hop.
        min_share: Share of the network's follow-up turns that must hop between its accounts
            (the same material share :func:`stillwatch.detect.pools.strong_hops` asks of a pair).
        min_accounts: Distinct accounts of the network whose turns hop.
        min_convs: Distinct hopping conversations on the network.

    Returns:
        Ibis table ``account_id, client_ip, n_hop``: for every address the account used on a
        network that qualifies as a relay host, the account's follow-up turns on that network
        that hop to another account of it (accounts with at least one such turn only).
    """
    net = t.ip_prefix if "ip_prefix" in t.columns else t.client_ip
    t = t.mutate(net=ibis.ifelse(net.isnull() | (net == "unknown"), t.client_ip, net))
    f = t.filter(t.is_followup.fill_null(False) & t.first_user_hash.notnull())
    f = f.select("account_id", "net", "message_count", conv=f.sys_hash.fill_null("") + ":" + f.first_user_hash,
                 sec=f.ts.epoch_seconds().cast("float64"))  # fmt: skip
    follow = f.group_by("net").aggregate(n_follow=f.count())
    conv_n = f.group_by("conv").aggregate(k=f.account_id.nunique())
    c = f.join(conv_n.filter((conv_n.k >= 2) & (conv_n.k <= max_conv_accounts)), "conv").select(
        "account_id", "net", "message_count", "conv", "sec"
    )
    d = c.view()
    j = c.join(d, [c.net == d.net, c.conv == d.conv, c.account_id != d.account_id,
                   (c.sec - d.sec).abs() <= within_s])  # fmt: skip
    turns = j.select(account_id=c.account_id, net=c.net, conv=c.conv, sec=c.sec,
                     message_count=c.message_count).distinct()  # fmt: skip
    per = turns.group_by(["account_id", "net"]).aggregate(n_hop=turns.count().cast("int64"))
    host = turns.group_by("net").aggregate(
        n_hop_net=turns.count(), n_acc=turns.account_id.nunique(), n_conv=turns.conv.nunique()
    )
    host = host.join(follow, "net")
    ok = (host.n_hop_net >= min_share * host.n_follow) & (host.n_acc >= min_accounts) & (host.n_conv >= min_convs)
    per = per.join(host.filter(ok).select("net"), "net")
    addrs = t.select("account_id", "net", "client_ip").distinct()
    return per.join(addrs, ["account_id", "net"]).select("account_id", "client_ip", "n_hop")


def continued_turns(t: Any, within_s: int = 3600, max_conv_accounts: int = 20, own_lookback_s: int = 86400) -> Any:
    """Follow-up turns that continue a conversation whose latest earlier turn went out through
    another account (research/relay-intel.md §2.4 V5).

    A relay that balances requests over its pool without stickiness (new-api's and one-api's
    random channel, CLIProxyAPI's round robin), or whose stickiness expires, sends turn 2 of an
    end user's conversation through another account than turn 1. Such a hop shows even when the
    conversation has only two turns and even when every pooled account has its own address (a
    residential proxy per channel): the follow-up on account B carries the history of a turn that
    account A sent, and B itself never sent an earlier turn of it. Strangers who open the same
    common conversation each send their own opening, so their follow-ups continue their own turns.

    A follow-up (conversation = system prompt + first user turn, ``message_count`` m) is
    *continued from* account A when the turn with the highest ``message_count`` below m sent by
    another account within ``within_s`` before it is later in the conversation than any earlier
    turn of the same conversation the follow-up's own account sent within ``own_lookback_s``.

    Args:
        t: Exchange view (``account_id, ts, is_followup, sys_hash, first_user_hash,
            message_count``).
        within_s: The other account's turn must be at most this much earlier.
        max_conv_accounts: Conversations seen on more accounts are common openings, ignored.
        own_lookback_s: How far back the account's own earlier turns of the conversation count.

    Returns:
        Ibis table ``account_id`` (the account that sent the follow-up), ``sec`` (its time),
        ``mc`` (its ``message_count``), ``conv``, ``prev_account`` (the account that sent the
        latest earlier turn; several rows on a tie).
    """
    c = t.filter(t.first_user_hash.notnull())
    c = c.select("account_id", "is_followup", mc=c.message_count.fill_null(1),
                 conv=c.sys_hash.fill_null("") + ":" + c.first_user_hash,
                 sec=c.ts.epoch_seconds().cast("float64"))  # fmt: skip
    conv_n = c.group_by("conv").aggregate(k=c.account_id.nunique())
    c = c.join(conv_n.filter((conv_n.k >= 2) & (conv_n.k <= max_conv_accounts)), "conv").select(
        "account_id", "is_followup", "mc", "conv", "sec"
    )
    f = c.filter(c.is_followup.fill_null(False))
    p = c.view()
    j = f.join(p, [f.conv == p.conv, p.mc < f.mc, p.sec <= f.sec, p.sec >= f.sec - max(within_s, own_lookback_s)])
    own = f.account_id == p.account_id
    other = (f.account_id != p.account_id) & (p.sec >= f.sec - within_s)
    j = j.select(account_id=f.account_id, sec=f.sec, mc=f.mc, conv=f.conv, prev=p.account_id,
                 mc_own=ibis.ifelse(own, p.mc.cast("int64"), ibis.null("int64")),
                 mc_other=ibis.ifelse(other, p.mc.cast("int64"), ibis.null("int64")))  # fmt: skip
    key = ["account_id", "sec", "mc", "conv"]
    per = j.group_by(key).aggregate(own=j.mc_own.max(), other=j.mc_other.max())
    per = per.filter(per.other.notnull() & (per.own.isnull() | (per.other > per.own)))
    prev = j.filter(j.mc_other.notnull())
    prev = prev.select(*key, "prev", pmc=prev.mc_other)
    out = per.join(prev, [*[per[k] == prev[k] for k in key], per.other == prev.pmc])
    return out.select(*[per[k] for k in key], prev_account=prev.prev).distinct()


def components(edges: pd.DataFrame) -> dict[str, list[str]]:
    """Connected components of an ``a, b`` edge list: ``{pool_id: sorted members}``.

    The pool id is a hash of the smallest member and the size-independent prefix ``pool-``; it is
    stable while the pool's first member stays the same.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(edges["a"].astype(str), edges["b"].astype(str), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    out = {}
    for members in groups.values():
        members.sort()
        out["pool-" + hashlib.blake2b(members[0].encode(), digest_size=6).hexdigest()] = members
    return out


def strong_hops(
    hops: pd.DataFrame,
    egress: pd.DataFrame,
    followups: dict[str, float] | None = None,
    min_pair_share: float = 0.05,
    min_bridge_pairs: int = 2,
    larger_outside: bool = True,
) -> pd.DataFrame:
    """Hop and retry edges that tie two accounts beyond coincidence.

    Two accounts that each serve many people open the same common conversations by chance, and
    the more they serve the more such "hops" they share. An edge is kept only when its hopping
    exchanges are at least ``min_pair_share`` of the smaller account's follow-up exchanges (a
    pooled relay account fails over a large part of its conversations; a busy gateway shares a
    handful with another busy account) — of the *larger* account's when the two do not already
    share egress (a platform serving thousands shares a few common conversations with every busy
    account it meets; it is a hub, not a pool member). A plain hop edge also needs each end to hop
    with at least two accounts or to share egress (strangers who open one common conversation
    hop once).

    Args:
        hops: Hop and retry edges (``a, b, weight``, ``retry``).
        egress: Shared-egress edges.
        followups: Follow-up exchanges per account (default: no relative filter).
        min_pair_share: Minimum hopping exchanges relative to the smaller account's follow-ups
            (the larger account's outside a shared-egress group).
        min_bridge_pairs: Distinct account pairs that must hop between two *different* egress
            groups (accounts already tied by shared egress) to join them: a relay failing over
            between its hosts does so on many of its accounts, while one pair of busy accounts of
            two unrelated pools (a relay and a hydra) meets on a common conversation by chance,
            and one such edge would merge the two pools.
        larger_outside: Judge edges between accounts that do not share an egress group on the
            larger account's follow-ups (the hub rule above); ``False``: always the smaller's.
    """
    if hops.empty:
        return hops
    retry = hops["retry"].astype(bool) if "retry" in hops.columns else pd.Series(False, index=hops.index)
    if followups is not None:
        fa, fb = hops["a"].map(followups).fillna(0), hops["b"].map(followups).fillna(0)
        group = _egress_groups(egress)
        same = hops["a"].map(group).notna() & (hops["a"].map(group) == hops["b"].map(group))
        # outside a shared-egress group the larger account counts: a hub serving thousands of
        # people shares a few common conversations with every busy account it meets
        ref = np.where(same | (not larger_outside), np.minimum(fa, fb), np.maximum(fa, fb))
        keep = hops["weight"].astype(float) >= min_pair_share * np.clip(ref, 1.0, None)
        hops, retry = hops[keep], retry[keep]
    plain = hops[~retry]
    deg = pd.concat([plain["a"], plain["b"]]).value_counts()
    eg = set(egress["a"]) | set(egress["b"])
    ok = lambda col: hops[col].map(deg).fillna(0).ge(2) | hops[col].isin(eg)  # noqa: E731
    return _drop_bridges(hops[retry | (ok("a") & ok("b"))], egress, min_bridge_pairs)


def _egress_groups(egress: pd.DataFrame) -> dict[str, str]:
    """Account -> id of its shared-egress component (accounts without shared egress are absent)."""
    if egress.empty:
        return {}
    return {a: pid for pid, members in components(egress[["a", "b"]]).items() for a in members}


def _drop_bridges(hops: pd.DataFrame, egress: pd.DataFrame, min_pairs: int) -> pd.DataFrame:
    """Hop edges joining two different egress groups only where ``min_pairs`` pairs join them."""
    if hops.empty or egress.empty:
        return hops
    group = _egress_groups(egress)
    ga, gb = hops["a"].map(group), hops["b"].map(group)
    bridge = ga.notna() & gb.notna() & (ga != gb)
    if not bridge.any():
        return hops
    key = pd.Series([tuple(sorted((str(x), str(y)))) for x, y in zip(ga, gb, strict=True)], index=hops.index)
    pairs = pd.Series(list(zip(hops["a"], hops["b"], strict=True)), index=hops.index)
    n_pairs = pairs[bridge].groupby(key[bridge]).nunique()
    return hops[~bridge | key.map(n_pairs).fillna(0).ge(min_pairs)]
