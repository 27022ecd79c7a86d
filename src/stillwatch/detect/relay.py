"""Relay ("transfer station") detector: one account reselling access to many unrelated end users
in a restricted region.

Mechanisms (research/relay-intel.md §0, §2):

* **resale** — many unrelated end users behind one identity (distinct system prompts, client
  products, ``metadata.user_id`` devices, languages, concurrent conversations) or conversations
  hopping between accounts (the same conversation on several accounts);
* **origin** — the end users are in a restricted region: time-of-day fit to a restricted region's
  UTC offset far from the declared country, mainland holiday dips and make-up-workday activity,
  forwarded-for or client addresses in a restricted region, egress shared with other accounts;
* **support** — relay-family artifacts, hosting/proxy egress, 24/7 saturation.

An account is flagged only with both resale *and* origin evidence, so an enterprise gateway with
many genuinely local users (resale-like fan-out, gateway artifacts, cloud egress) is not. Every
strength is a robust z-score against the busy accounts in the window; nothing is tuned to one
generator's constants. Language is shown as context and never scored.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from stillwatch.detect.base import Detector, robust_centre_scale, squash
from stillwatch.detect.evidence import Evidence, baseline_text, reference_accounts

#: Fan-out features (log1p, robust z against all accounts).
FANOUT = ("n_sys_prompts", "n_md_devices", "n_ua_families", "n_langs")
#: Origin features produced by :mod:`stillwatch.detect.subrouting` / the runner.
ORIGIN = ("tz_restricted", "cal_restricted", "restricted_addr_share", "shared_egress_accounts", "share_low")
#: Relay programs that pool and re-sell *subscription* (OAuth) logins disguised as the official
#: client (research/relay-intel.md §0 item 1): sharing a subscription among many users breaks its
#: terms wherever the users are, so with pooled resale evidence they need no origin evidence.
SUBSCRIPTION_FAMILIES = ("claude-relay-service", "sub2api", "CLIProxyAPI")
#: One device id carrying many conversation threads at once (§2.3 I2, :mod:`stillwatch.detect.devices`).
DEVICE = "dev_parallel_hours"
SUPPORT = ("max_per_minute", "relay_hit_share", "relay_strong_hits", "max_tokens_default_share", "zero_width_share",
           "hosting_share", "vpn_proxy_share", "coverage_24_7")  # fmt: skip

_WHY = {
    "n_sys_prompts": "many distinct system prompts: unrelated client products and users behind one account",
    "n_md_devices": "many distinct metadata.user_id devices behind one account",
    "n_ua_families": "many distinct client programs behind one account",
    "n_langs": "conversations in many languages behind one account",
    "max_per_minute": "more concurrent requests than one team produces",
    "n_first_msgs": "many distinct conversations",
    "hop_share": "the same conversations also appear on other accounts (pooled accounts, relay failover)",
    "shared_egress_accounts": "its egress addresses also carry other, unrelated accounts (a relay or proxy host)",
    "restricted_addr_share": "client or X-Forwarded-For addresses in a restricted region",
    "share_low": "most of the traffic follows a restricted region's clock and calendar (lower bound)",
    "tz_restricted": "daily activity fits a restricted region's time zone, far from the declared country",
    "cal_restricted": "activity follows the mainland holiday / make-up-workday calendar",
    "relay_hit_share": "requests carry relay-software artifacts",
    "relay_strong_hits": "requests match a strong relay-software indicator",
    "max_tokens_default_share": "max_tokens at relay format-conversion defaults",
    "zero_width_share": "zero-width characters inside words (relay word cloaking)",
    "hosting_share": "traffic from hosting/cloud networks rather than offices or homes",
    "vpn_proxy_share": "traffic from VPN/proxy networks",
    "coverage_24_7": "active around the clock (no sleep gap)",
    "subscription_relay_share": "requests carry the artifacts of software that pools and re-sells subscription "
    "logins as an API (a subscription shared among many users, wherever they are)",
    "env_users": "on one day its agent clients ran under several different operating-system user accounts "
    "(home directories in the environment they report): several people behind one identity",
    DEVICE: "one metadata.user_id device carried several unrelated conversations side by side, hour after hour: "
    "more people than one machine serves behind one device id",
}
_FAMILY = {
    **dict.fromkeys(("n_sys_prompts", "n_md_devices", "n_ua_families", "n_langs", "n_first_msgs", "hop_share",
                     "env_users", DEVICE), "multi_user"),
    "max_per_minute": "timing", "coverage_24_7": "timing", "tz_restricted": "timing", "cal_restricted": "timing",
    "shared_egress_accounts": "network", "share_low": "timing", "restricted_addr_share": "network",
    "hosting_share": "network", "vpn_proxy_share": "network",
    **dict.fromkeys(("relay_hit_share", "relay_strong_hits", "max_tokens_default_share", "zero_width_share",
                     "subscription_relay_share"), "client"),
}  # fmt: skip


def _col(X: pd.DataFrame, name: str) -> np.ndarray:  # noqa: N803
    if name not in X.columns:
        return np.zeros(len(X))
    return pd.to_numeric(X[name], errors="coerce").fillna(0.0).to_numpy(dtype=float)


def family_column(family: str) -> str:
    """The account feature counting exchanges that match ``family``'s indicators."""
    return "relay_hits_" + "".join(ch if ch.isalnum() else "_" for ch in family.lower()).strip("_")


def subscription_share(X: pd.DataFrame, families: tuple[str, ...] = SUBSCRIPTION_FAMILIES) -> np.ndarray:  # noqa: N803
    """Share of exchanges matching a subscription-resale family, counted only as far as the
    exchanges also match a *strong* indicator (the official client itself matches the weak ones:
    the disguise copies it)."""
    n = np.maximum(_col(X, "n_exchanges"), 1.0)
    hits = [_col(X, family_column(f)) for f in families]
    fam = np.max(np.stack(hits, axis=1), axis=1) if hits else np.zeros(len(X))
    return np.minimum(fam, _col(X, "relay_strong_hits")) / n


def subscription_software(
    X: pd.DataFrame,  # noqa: N803
    min_share: float = 0.5,
    min_strong: int = 2,
    families: tuple[str, ...] = SUBSCRIPTION_FAMILIES,
) -> np.ndarray:
    """Whether an account's traffic comes through subscription-pooling software.

    Either :func:`subscription_share` reaches ``min_share``, or at least ``min_share`` of the
    exchanges have a subscription family's shape *and* at least ``min_strong`` exchanges carry a
    strong indicator (a count, as for pools: CLIProxyAPI's cloaking marks — zero-width characters
    in sensitive words, BIP-39 tool aliases — appear only on requests that have such words or
    tools, a third of a relay account's requests on small seed 1, and the official client never
    shows one).
    """
    n = np.maximum(_col(X, "n_exchanges"), 1.0)
    hits = [_col(X, family_column(f)) for f in families]
    fam = np.max(np.stack(hits, axis=1), axis=1) if hits else np.zeros(len(X))
    shaped = (fam / n >= min_share) & (_col(X, "relay_strong_hits") >= min_strong)
    return (subscription_share(X, families) >= min_share) | shaped


class RelayDetector(Detector):
    """Account-level relay detector (resale evidence AND origin evidence).

    Args:
        fanout_z: Robust z a fan-out feature must exceed to count as resale evidence.
        support_z: Robust z a supporting feature must exceed to add to the score.
        min_exchanges: Accounts with fewer exchanges in the window are not scored.
        min_hops: Follow-up exchanges continuing on another account needed to count hopping.
        midpoint: Combined evidence strength at which the score is 0.5 (the threshold).
        max_restricted_share_for_subrouting: Kept for the runner: an account whose estimated
            restricted share is below this is reported as sub-routing instead of relay.
        min_subscription_share: Share of exchanges with subscription-resale software artifacts
            that, with pooled resale evidence, is a relay without origin evidence
            (:func:`subscription_software`: with a strong indicator, or in the family's shape
            with a strong indicator on at least two exchanges).
        min_env_users: Distinct (non-generic) OS user names in the agent environments an account
            reports on one day that count as several people behind it (``env_users``, see
            :mod:`stillwatch.detect.environments`; one person has one, sometimes two). It is
            resale evidence like fan-out; with subscription-resale software it needs no minimum
            volume, so such an account is a relay on its first day.
        min_device_people: Strength of ``dev_parallel_hours`` (one device carrying parallel
            conversation threads hour after hour, :mod:`stillwatch.detect.devices`; strength =
            robust z above the busy accounts minus ``fanout_z``, at most 4) from which, on
            subscription-resale software, it counts as several people like ``env_users`` and
            needs no origin evidence (a subscription shared among many users breaks its terms
            wherever they are). Below it, the feature is resale evidence that needs origin
            evidence, as fan-out does.
    """

    name = "relay_fanout_origin"
    version = "3"
    kind = "relay"
    entity = "account"
    status = "test"
    required_columns: ClassVar[tuple[str, ...]] = ("n_exchanges",)

    def __init__(
        self,
        fanout_z: float = 3.0,
        support_z: float = 3.0,
        min_exchanges: int = 30,
        min_hops: int = 5,
        midpoint: float = 4.0,
        max_restricted_share_for_subrouting: float = 0.6,
        min_subscription_share: float = 0.5,
        min_env_users: int = 3,
        min_device_people: float = 3.0,
    ) -> None:
        self.min_device_people = min_device_people
        self.min_subscription_share = min_subscription_share
        self.min_env_users = min_env_users
        self.fanout_z = fanout_z
        self.support_z = support_z
        self.min_exchanges = min_exchanges
        self.min_hops = min_hops
        self.midpoint = midpoint
        self.max_restricted_share_for_subrouting = max_restricted_share_for_subrouting

    # ------------------------------------------------------------------ fit / score
    def _fit(self, X: pd.DataFrame) -> None:  # noqa: N803
        self.baseline_: dict[str, tuple[float, float]] = {}
        self.quantiles_: dict[str, tuple[float, float]] = {}
        active = X[_col(X, "n_exchanges") >= self.min_exchanges]
        ref = active if len(active) >= 10 else X
        self.reference_ = reference_accounts(self.min_exchanges, len(active) >= 10)
        for name in (*FANOUT, *SUPPORT, DEVICE):
            v = np.log1p(_col(ref, name)) if name in (*FANOUT, "relay_strong_hits", DEVICE) else _col(ref, name)
            # parallel device hours: a floor of half a log unit, so a few busy hours of one person's
            # machine (parallel sub-agents, several sessions) stay below the z threshold
            floor = 0.5 if name == DEVICE else 0.05 if name in FANOUT else 0.01
            self.baseline_[name] = robust_centre_scale(v, floor=floor)
            raw = _col(ref, name)
            self.quantiles_[name] = (float(np.median(raw)), float(np.quantile(raw, 0.99))) if raw.size else (0.0, 0.0)
        self.offset_ = 0.5

    def _strengths(self, X: pd.DataFrame) -> dict[str, np.ndarray]:  # noqa: N803
        out: dict[str, np.ndarray] = {}
        for name in FANOUT + SUPPORT:
            v = np.log1p(_col(X, name)) if name in FANOUT or name == "relay_strong_hits" else _col(X, name)
            c, s = self.baseline_[name]
            out[name] = (v - c) / s
        # origin strengths are already on an evidence scale (computed by the runner)
        out["tz_restricted"] = _col(X, "tz_restricted")
        out["cal_restricted"] = _col(X, "cal_restricted")
        out["restricted_addr_share"] = np.minimum(4.0, 40.0 * _col(X, "restricted_addr_share"))
        shared = _col(X, "shared_egress_accounts")
        out["shared_egress_accounts"] = np.where(shared >= 2, np.minimum(4.0, 1.0 + np.log2(shared.clip(1))), 0.0)
        hop = _col(X, "hop_share")
        out["hop_share"] = np.where(_col(X, "hop_n") >= self.min_hops, np.minimum(4.0, 20.0 * hop), 0.0)
        if "hop_partners" in X.columns:  # hops count only along pool-grade edges (see detect.pools)
            out["hop_share"] = np.where(_col(X, "hop_partners") >= 1, out["hop_share"], 0.0)
        human = _col(X, "utc_offset_fit") >= 0.5  # a restricted *clock* needs human-shaped activity
        out["share_low"] = np.clip(8.0 * (_col(X, "share_low") - 0.25), 0, 4) * human
        out["subscription_relay_share"] = np.where(subscription_software(X, self.min_subscription_share), 2.0, 0.0)
        # several people's machines on one day: one unit per name beyond the first (max 4), from
        # min_env_users on (below it, one person with a second machine)
        env = _col(X, "env_users")
        out["env_users"] = np.where(env >= self.min_env_users, np.minimum(4.0, env - 1.0), 0.0)
        # one device carrying several conversation threads, hour after hour (I2), beyond the busy
        # accounts' spread
        c, s = self.baseline_.get(DEVICE, (0.0, 0.5))
        out[DEVICE] = np.clip((np.log1p(_col(X, DEVICE)) - c) / s - self.fanout_z, 0.0, 4.0)
        return out

    def _parts(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:  # noqa: N803
        st = self._strengths(X)
        fan = np.stack([np.clip(st[n] - self.fanout_z, 0, 4) for n in FANOUT], axis=1)
        # resale: the two strongest fan-out signals (one alone could be a big single app), plus hopping
        fan_sorted = np.sort(fan, axis=1)
        resale = np.minimum(fan_sorted[:, -1], fan_sorted[:, -2] + 1.0) + fan_sorted[:, -2] * 0.5 + st["hop_share"]
        # pooled resale (vs. a platform forwarding part of its traffic): shared egress, hopping
        # conversations or relay software. Never the clock: a busy customer in a UTC+8 country
        # (Taiwan, Singapore) has fan-out and a UTC+8 clock, and must not be a relay on that alone.
        strong_sw = st["relay_strong_hits"] > self.support_z
        pool = (st["shared_egress_accounts"] >= 1) | (st["hop_share"] >= 1) | strong_sw
        resale = np.where(pool, resale, 0.0)
        # several people's machines on one day count like the strongest fan-out sign; with
        # subscription-pooling software on most requests that is itself the pooling (the robust z
        # of strong-indicator counts is no test there: on day 2 of small seed 1 most accounts
        # with >= 30 exchanges were relays, and a CRS account's z fell to 2.4)
        # one device carrying many threads at once (I2) counts the same way, but it is not itself
        # pooling: without relay software or pooling an account needs origin evidence as ever
        sub = st["subscription_relay_share"] >= 1.0
        people = np.maximum(st["env_users"], st[DEVICE])
        resale = np.maximum(resale, np.where(pool | sub, people + st["hop_share"], 0.0))
        # relay software on an egress shared with other accounts: pooled accounts on a relay host
        resale = np.maximum(resale, np.where(strong_sw & (st["shared_egress_accounts"] >= 1), 1.0, 0.0))
        origin = np.stack([st[n] for n in ORIGIN], axis=1)
        origin = np.clip(origin, 0, 4)
        origin_sum = origin.max(axis=1) + 0.5 * (origin.sum(axis=1) - origin.max(axis=1))
        sup = np.stack([np.clip(st[n] - self.support_z, 0, 2) for n in SUPPORT], axis=1).sum(axis=1)
        return resale, origin_sum, np.minimum(sup, 2.0), st

    def fanout_strength(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Strongest fan-out robust z per row (a sign of many end users behind the account)."""
        self._check_fitted()
        st = self._strengths(X)
        return np.stack([st[n] for n in FANOUT], axis=1).max(axis=1)

    def _score(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        resale, origin, sup, st = self._parts(X)
        total = resale + origin + 0.5 * sup + st["subscription_relay_share"]
        sub = st["subscription_relay_share"] >= 1.0
        # several people: their machines' user names, or one device carrying parallel threads far
        # beyond one person's machine hour after hour (with the software: a relay's injected device)
        people = (st["env_users"] >= 1.0) | (st[DEVICE] >= self.min_device_people)
        # subscription software without origin evidence: the software alone is not resale (one
        # person may run it for their own subscription, and a heavy Claude Code user's distinct
        # system prompts grow with every day and repository), so it needs several people's
        # machines, or accounts pooled by egress or hopping conversations (a pool row of
        # detect.pools is pooled by construction: egress, hops or retries tie its members)
        pooled = people | (st["shared_egress_accounts"] >= 1.0) | (st["hop_share"] >= 1.0)
        pooled |= _col(X, "pool_size") >= 2
        # volume stands in for evidence of many users; counted people need none when the software
        # pools subscription logins (a shared subscription on its first day)
        volume = (_col(X, "n_exchanges") >= self.min_exchanges) | (sub & people)
        gate = (resale >= 1.0) & ((origin >= 1.0) | (sub & pooled)) & volume
        s = squash(total, self.midpoint)
        return np.where(gate, s, np.minimum(s, 0.49) * 0.5)

    # ------------------------------------------------------------------ evidence
    def evidence(self, X: pd.DataFrame) -> list[list[Evidence]]:  # noqa: N803
        """Evidence items per row, strongest first (only items beyond their baseline)."""
        self._check_fitted()
        _, _, _, st = self._parts(X)
        out: list[list[Evidence]] = []
        for i in range(len(X)):
            items: list[Evidence] = []
            for name in (*FANOUT, "env_users", DEVICE, "hop_share", *ORIGIN, *SUPPORT, "subscription_relay_share"):
                strength = float(st[name][i])
                limit = self.fanout_z if name in FANOUT else (self.support_z if name in SUPPORT else 0.99)
                if strength <= limit:
                    continue
                value: Any = _checkable_value(X.iloc[i], name)
                if name in self.quantiles_:
                    med, p99 = self.quantiles_[name]
                    base = baseline_text(med, p99, over=getattr(self, "reference_", "all accounts in the window"))
                else:
                    base = _ORIGIN_BASE.get(name, "absent for most accounts")
                items.append(Evidence(name, value, base, _WHY[name], _FAMILY[name], strength))
            items.sort(key=lambda e: -e.strength)
            out.append(items)
        return out


def _checkable_value(row: pd.Series, name: str) -> Any:
    """The facts behind a strength, so a person can check them (ratios, offsets), not the z."""

    def get(col: str) -> Any:
        v = row.get(col)
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else v

    if name == "tz_restricted":
        return {
            "best_utc_offset": get("best_utc_offset"),
            "fit": get("utc_offset_fit"),
            "declared_country": get("declared_country"),
            "declared_offset": get("local_offset"),
        }
    if name == "cal_restricted":
        return {
            "makeup_ratio_cn": get("makeup_ratio_cn"),
            "holiday_ratio_cn": get("holiday_ratio_cn"),
            "calendar_fit": get("cal_fit"),
        }
    if name == "share_low":
        return {"restricted_share": get("restricted_share"), "low": get("share_low"), "high": get("share_high")}
    if name == "hop_share":
        return {"hop_share": get("hop_share"), "hopping_exchanges": get("hop_n")}
    if name == "env_users":
        return {"os_user_names_one_day": get("env_users"), "platforms_that_day": get("env_platforms"),
                "day": get("env_day")}  # fmt: skip
    if name == DEVICE:
        return {
            "hours_one_device_carried_parallel_threads": get(DEVICE),
            "most_threads_one_hour": get("dev_threads_max"),
        }
    if name == "subscription_relay_share":
        n = max(float(get("n_exchanges") or 0), 1.0)
        shares: dict[str, Any] = {f: round(float(get(family_column(f)) or 0) / n, 4) for f in SUBSCRIPTION_FAMILIES}
        return {**shares, "strong_indicator_exchanges": int(float(get("relay_strong_hits") or 0))}
    return get(name)


_ORIGIN_BASE = {
    "tz_restricted": "best offset = the declared country's for almost every account",
    "cal_restricted": "make-up-day ratio about 1 and holiday ratio about 1 for accounts off the mainland calendar",
    "restricted_addr_share": "0 for almost every account",
    "shared_egress_accounts": "1 (an egress address normally carries one account)",
    "hop_share": "0 (a conversation normally stays on one account)",
    "share_low": "0 for accounts whose users are local",
    "subscription_relay_share": "0 for almost every account",
    "env_users": "one name a day (a person's machine), sometimes two (work and personal); generic names "
    "(root, vscode, ubuntu) not counted",
}


# ---------------------------------------------------------------------- per-account extras (Ibis)
def egress_sharing(view: Any, min_exchanges: int = 3) -> Any:
    """Per account: the most other accounts seen on one of its egress addresses.

    Only public addresses the account used at least ``min_exchanges`` times count (residential,
    hosting and proxy alike: an address normally carries one customer).

    Args:
        view: The exchange view (already cut to the window).
        min_exchanges: Minimum exchanges of the account on the address.

    Returns:
        Ibis table ``account_id, shared_egress_accounts``.
    """
    t = view.filter(~view.ip_kind.isin(["unknown", "private", "reserved"]) & (view.client_ip != "unknown"))
    per = t.group_by(["account_id", "client_ip"]).aggregate(n=t.count())
    per = per.filter(per.n >= min_exchanges)
    ip_acc = per.group_by("client_ip").aggregate(n_acc=per.account_id.nunique())
    j = per.join(ip_acc, "client_ip")
    return j.group_by("account_id").aggregate(shared_egress_accounts=j.n_acc.max().cast("int64"))


def conversation_hopping(view: Any, max_accounts: int = 20, within_s: int = 3600) -> Any:
    """Per account: follow-up exchanges whose conversation (system + first user turn) also has a
    follow-up on another account within ``within_s`` seconds, or which continue the latest turn
    another account sent (:func:`stillwatch.detect.hops.continued_turns`: turn 1 on A, turn 2 on
    B) — pooled accounts, relay failover, load balancing without stickiness.

    A conversation seen on more than ``max_accounts`` accounts is a common prompt, not a hop.

    Returns:
        Ibis table ``account_id, hop_n, hop_share``.
    """
    from stillwatch.detect.hops import continued_turns  # noqa: PLC0415

    t = view.filter(view.is_followup.fill_null(False) & view.first_user_hash.notnull())
    t = t.select("account_id", conv=t.sys_hash.fill_null("") + ":" + t.first_user_hash,
                 sec=t.ts.epoch_seconds().cast("float64"), mc=t.message_count.fill_null(1))  # fmt: skip
    conv_acc = t.group_by("conv").aggregate(n_acc=t.account_id.nunique())
    keep = conv_acc.filter((conv_acc.n_acc >= 2) & (conv_acc.n_acc <= max_accounts))
    c = t.join(keep, "conv").select("account_id", "conv", "sec", "mc")
    d = c.view()
    pairs = c.join(d, [c.conv == d.conv, c.account_id != d.account_id, (c.sec - d.sec).abs() <= within_s])
    pairs = pairs.select(account_id=c.account_id, conv=c.conv, sec=c.sec, mc=c.mc)
    cont = continued_turns(view, within_s, max_accounts)
    hops = pairs.union(cont.select("account_id", "conv", "sec", mc=cont.mc.cast(pairs.mc.type())), distinct=True)
    hop_n = hops.group_by("account_id").aggregate(hop_n=hops.count().cast("int64"))
    follow = t.group_by("account_id").aggregate(n_follow=t.count())
    j = follow.left_join(hop_n, "account_id")
    j = j.select(follow.account_id, follow.n_follow, hop_n=j.hop_n.fill_null(0))
    return j.select("account_id", "hop_n", hop_share=(j.hop_n / j.n_follow).cast("float64"))
