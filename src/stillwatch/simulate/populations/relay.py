"""Relays (transfer stations): pooled accounts reselling access to mainland end users.

Each operator runs one relay family (see :mod:`stillwatch.simulate.relay_families`) on hosting
egress in HK/SG/JP/US (or per-account residential proxies), with an account pool registered in
bursts that share sign-up fingerprints, and many mainland end users behind every key.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from stillwatch.simulate import clients as cl
from stillwatch.simulate.exchange import Req
from stillwatch.simulate.populations.base import Account, Actor, Ctx, payment_fp, rand_hex, rand_id, rand_uuid
from stillwatch.simulate.populations.benign import ZH_MIX
from stillwatch.simulate.populations.humans import (
    CC_TOOLS,
    Persona,
    agent_system,
    make_persona,
    tool_trace,
    user_sessions,
)
from stillwatch.simulate.populations.identity import PERSONAL, domain_of, make_account, org_name
from stillwatch.simulate.relay_families import BIP39, FAMILIES, ONE_API_TEST, Deployment, deploy

EGRESS = (("HK", 30), ("SG", 22), ("JP", 18), ("US", 30))
DECLARED = ("US", "US", "US", "GB", "SG", "JP", "CA", "DE")
PHONE = ("US", "GB", "ID", "PH", "VN", "NG", "MY", "BR")
#: Mainland end users write much like legitimate Chinese-writing customers, plus more code.
MAINLAND_MIX = ZH_MIX + (("code", 8.0), ("bench_agieval", 2.0))
_DAY = 86_400_000


def pool_accounts(
    ctx: Ctx,
    rng: random.Random,
    ips: Any,
    n: int,
    *,
    label: str,
    group: str,
    campaign_id: str,
    created_around: int,
    spread_ms: int,
) -> list[Account]:
    """An account pool registered in bursts by one operator, with subtly shared fingerprints."""
    cards = [payment_fp(rng) for _ in range(max(1, n // rng.randint(3, 8)))]
    shared_domain = domain_of(org_name(rng, "US"), rng) if rng.random() < 0.3 else None
    signup_net = ips.subnet(rng.choice(("US", "SG", "JP")), rng.choice(("residential", "hosting")))[0]
    out = []
    for _ in range(n):
        country = rng.choice(DECLARED)
        created = created_around + rng.randrange(max(1, spread_ms))
        acct = make_account(
            ctx,
            rng,
            ips,
            label=label,
            group=group,
            campaign_id=campaign_id,
            country=country,
            company=False,
            created_ms=created,
            email_domain=shared_domain or rng.choice(PERSONAL),
            payment=rng.choice(cards) if rng.random() < 0.7 else None,
            signup_ip=ips.ip_in(signup_net) if rng.random() < 0.6 else None,
            phone_country=rng.choice(PHONE) if rng.random() < 0.4 else None,
            plan=rng.choice(("api", "api", "pro", "team")),
        )
        acct.active_from_ms = max(created, ctx.start_ms)
        out.append(acct)
    return out


class RelayActor(Actor):
    """One relay operator: deployment, account pool, egress and mainland end users."""

    group = "relay"

    def __init__(self, ctx: Ctx, idx: int, name: str, family: str, n_accounts: int, n_users: int) -> None:
        super().__init__(ctx, idx, name)
        rng = self.rng
        self.family = family
        self.dep: Deployment = deploy(family, rng)
        self.group = f"relay_{family}"
        self.campaign = "relay-" + rand_hex(rng, 8)
        created = ctx.start_ms - rng.randrange(15, 200) * _DAY
        self.accounts = pool_accounts(
            ctx,
            rng,
            self.ips,
            n_accounts,
            label="relay",
            group=self.group,
            campaign_id=self.campaign,
            created_around=created,
            spread_ms=3 * _DAY,
        )
        country = self._weighted(EGRESS)
        self.per_account_proxy = family in ("sub2api", "claude-relay-service") and rng.random() < 0.4
        if self.per_account_proxy:
            self.acct_ip = {
                a.account_id: self.ips.ip(rng.choice(("US", "JP", "SG")), "residential") for a in self.accounts
            }
        base, _asn = self.ips.subnet(country, "hosting")
        self.egress = [self.ips.ip_in(base) for _ in range(rng.randint(1, 3))]
        self.acct_meta = {a.account_id: (rand_hex(rng, 64), rand_uuid(rng)) for a in self.accounts}
        self.users: list[Persona] = []
        for _ in range(n_users):
            p = make_persona(
                rng,
                "CN",
                rng.choice(("cn_dev", "cn_dev", "evening")),
                rate=0.9,
                mix=MAINLAND_MIX,
                lang="zh",
                agent_share=0.35 if family in ("claude-relay-service", "sub2api", "CLIProxyAPI") else 0.12,
                name_style="cn",
                tz="Asia/Shanghai",
            )
            p.system = ctx.bank.pick("personas_zh", rng)[0] if rng.random() < 0.1 else None
            p.ip = self.ips.ip("CN", "residential")
            p.user_id = rand_hex(rng, 8)
            self.users.append(p)
        self.alias = {i: tuple(rng.choice(BIP39) for _ in range(3)) for i in range(n_users)}
        self.p429 = rng.uniform(0.01, 0.05)
        self.adopt = rng.uniform(0.3, 0.6)
        self.sticky: dict[tuple[int, int], tuple[str, int]] = {}
        self.banned: dict[str, int] = {}
        self._enforcement: list[dict[str, Any]] = []
        if rng.random() < 0.5 and n_accounts >= 3:  # one account banned mid-window, replaced the same day
            victim = self.accounts[rng.randrange(n_accounts)]
            when = (
                ctx.start_ms + rng.randrange(max(1, ctx.days // 3), max(2, ctx.days - 1)) * _DAY + rng.randrange(_DAY)
            )
            self.banned[victim.account_id] = when
            self._enforcement.append(
                {
                    "account_id": victim.account_id,
                    "ts": when,
                    "action": "ban",
                    "reason": rng.choice(("account resale", "unsupported region access", "credential sharing")),
                }
            )
            repl = pool_accounts(
                ctx,
                rng,
                self.ips,
                1,
                label="relay",
                group=self.group,
                campaign_id=self.campaign,
                created_around=when + 3_600_000,
                spread_ms=6 * 3_600_000,
            )[0]
            repl.payment_fingerprint = victim.payment_fingerprint if rng.random() < 0.5 else repl.payment_fingerprint
            self.accounts.append(repl)
            self.acct_meta[repl.account_id] = (rand_hex(rng, 64), rand_uuid(rng))
            if self.per_account_proxy:
                self.acct_ip[repl.account_id] = self.ips.ip("US", "residential")

    def _weighted(self, table: tuple[tuple[str, float], ...]) -> str:
        total = sum(w for _, w in table)
        x = self.rng.random() * total
        for k, w in table:
            x -= w
            if x <= 0:
                return k
        return table[-1][0]

    def _live(self, ts: int) -> list[Account]:
        return [
            a
            for a in self.accounts
            if a.created_ms <= ts and (a.account_id not in self.banned or ts < self.banned[a.account_id])
        ]

    def _ip(self, acct: Account) -> str:
        if self.per_account_proxy:
            return self.acct_ip[acct.account_id]
        return self.egress[self.rng.randrange(len(self.egress))]

    def _pick(self, key: tuple[int, int], ts: int, live: list[Account], exclude: str | None = None) -> Account:
        rng = self.rng
        if self.dep.sticky_ms and exclude is None:
            hit = self.sticky.get(key)
            if hit and ts - hit[1] < self.dep.sticky_ms:
                for a in live:
                    if a.account_id == hit[0]:
                        self.sticky[key] = (a.account_id, ts)
                        return a
        choices = [a for a in live if a.account_id != exclude] or live
        acct = choices[rng.randrange(len(choices))]
        if self.dep.sticky_ms:
            self.sticky[key] = (acct.account_id, ts)
        return acct

    def _req(self, acct: Account, ts: int, p: Persona, ui: int, turns: list, sess: str) -> Req:
        rng, dep = self.rng, self.dep
        device, auuid = self.acct_meta[acct.account_id]
        agent = p.agent
        system = agent_system(p, ts, rng) if agent else p.system
        end_max = rng.choice((None, None, 32000, 8192, 4096, 2000)) if not agent else rng.choice((32000, 21333))
        req = Req(
            ts=ts,
            account_id=acct.account_id,
            key_id=acct.keys[0],
            ip=self._ip(acct),
            client=dep.client,
            model=self.ctx.pick_model(rng, ts, self.adopt),
            turns=turns,
            system=system,
            max_tokens=end_max or dep.default_max,
            temperature=rng.choice((None, None, 0.7, 1.0)),
            stream=rng.random() < 0.85,
            tools=CC_TOOLS if agent else None,
            xff=p.ip if dep.xff else None,
            transform=dep.transform,
        )
        req.meta = dict(
            agent=agent,
            session=sess,
            acct_device=device,
            acct_uuid=auuid,
            alias=self.alias[ui],
            think=rng.random() < 0.15,
            json=rng.random() < 0.05,
        )
        if agent and rng.random() < 0.5:
            req.meta["trace"] = tool_trace(self.ctx.bank, rng, CC_TOOLS, rng.randint(1, 4))
        if dep.opts.get("session_mask"):  # one fixed session id per account for 15 minutes
            req.meta["mask"] = rand_uuid(random.Random(f"{acct.account_id}:{ts // 900_000}"))
        return req

    def plan_day(self, day: date) -> list[Req]:
        """End users' sessions routed over the pool, 429 hand-offs, and channel tests."""
        rng, ctx = self.rng, self.ctx
        out: list[Req] = []
        self.sticky.clear()
        for ui, p in enumerate(self.users):
            sess_ids: dict[int, str] = {}
            for ts, turns, _pool, sess in user_sessions(ctx.bank, p, day, rng):
                live = self._live(ts)
                if not live:
                    continue
                sid = sess_ids.get(sess) or sess_ids.setdefault(sess, rand_uuid(rng))
                acct = self._pick((ui, sess), ts, live)
                req = self._req(acct, ts, p, ui, turns, sid)
                if rng.random() < self.p429 and len(live) > 1:
                    req.status = 429
                    out.append(req)
                    other = self._pick((ui, sess), ts, live, exclude=acct.account_id)
                    req = self._req(other, ts + rng.randint(150, 1500), p, ui, turns, sid)
                out.append(req)
        if self.dep.health:
            prompt, mt, period, system = self.dep.health
            day0 = ctx.start_ms + (day - ctx.start).days * _DAY
            offset = rng.randrange(period * 60_000)
            for t in range(day0 + offset, day0 + _DAY, period * 60_000):
                for acct in self._live(t):
                    reply = ctx.base_models[0][0] if prompt == ONE_API_TEST else None
                    out.append(
                        Req(
                            ts=t + rng.randrange(4000),
                            account_id=acct.account_id,
                            key_id=acct.keys[0],
                            ip=self._ip(acct),
                            client=self.dep.client,
                            model=ctx.base_models[0][0],
                            turns=[(prompt, reply, 3, 6)],
                            system=system,
                            max_tokens=mt,
                            temperature=1.0 if system else None,
                            transform=None,
                        )
                    )
        return out

    def extra_labels(self) -> list[dict[str, Any]]:
        """The operator as a cluster."""
        first = min(a.active_from_ms or a.created_ms for a in self.accounts)
        from stillwatch.simulate.exchange import iso_ms

        return [
            {
                "entity": "cluster",
                "id": self.campaign,
                "label": "relay",
                "group": self.group,
                "campaign_id": self.campaign,
                "active_from": iso_ms(first),
                "relay_family": self.family,
                "accounts": [a.account_id for a in self.accounts],
            }
        ]

    def enforcement(self) -> list[dict[str, Any]]:
        """Bans of pool accounts during the window."""
        return self._enforcement


def build_relays(ctx: Ctx, first_idx: int, n_relays: int, users_per_relay: int, accounts_per_relay: int) -> list[Actor]:
    """Relay operators, cycling through every software family."""
    rng = random.Random(f"{ctx.seed}:relays")
    out: list[Actor] = []
    for i in range(n_relays):
        family = FAMILIES[i % len(FAMILIES)]
        users = max(5, int(users_per_relay * rng.lognormvariate(0, 0.5)))
        accts = max(2, int(accounts_per_relay * rng.uniform(0.5, 1.5)))
        actor = RelayActor(ctx, first_idx + i, f"relay{i}", family, accts, users)
        if i == 1:  # the first new-api operator passes client headers through (X-Forwarded-For leaks)
            actor.dep.xff = True
        out.append(actor)
    return out


__all__ = ["RelayActor", "build_relays", "pool_accounts", "rand_id", "cl"]
