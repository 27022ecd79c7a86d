"""Sub-routing platforms and subsidiaries with a parent in a restricted country.

A platform is compliant on paper and forwards a known share of its traffic from end users in
restricted regions; the label carries the realised share. A subsidiary's staff are mainly in the
parent's country; the decoy subsidiary (same ownership pattern) is genuinely local and benign.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from stillwatch.simulate import clients as cl
from stillwatch.simulate.exchange import Req
from stillwatch.simulate.populations.base import Ctx, rand_hex, rand_uuid
from stillwatch.simulate.populations.benign import EN_MIX, weighted
from stillwatch.simulate.populations.humans import Persona, make_persona, user_sessions
from stillwatch.simulate.populations.identity import cn_company, make_account
from stillwatch.simulate.populations.people import PeopleActor, Seat, new_seat, person_req
from stillwatch.simulate.populations.relay import MAINLAND_MIX

PLATFORM_COUNTRIES = (("US", 40), ("SG", 25), ("JP", 15), ("DE", 10), ("GB", 10))
SHARES = (0.05, 0.1, 0.2, 0.35, 0.5)
SUBSIDIARY_COUNTRIES = ("SG", "SG", "US", "MY", "GB", "DE")


def restricted_persona(ctx: Ctx, rng: random.Random) -> Persona:
    """An end user in a restricted region (mainland China when configured, else another one)."""
    options = [c for c in ("CN", "HK", "RU") if c in ctx.restricted] or ["CN"]
    country = options[0] if rng.random() < 0.8 else rng.choice(options)
    if country == "CN":
        return make_persona(
            rng,
            "CN",
            rng.choice(("cn_dev", "evening")),
            rate=0.9,
            mix=MAINLAND_MIX,
            lang="zh",
            agent_share=0.1,
            name_style="cn",
            tz="Asia/Shanghai",
        )
    if country == "HK":
        mix = (("zh_chat_tw", 30.0), ("en_chat", 45.0), ("code", 20.0), ("personas_zh_tw", 5.0))
        return make_persona(rng, "HK", "office", rate=0.9, mix=mix, lang="zh_tw", agent_share=0.1, name_style="sea")
    return make_persona(rng, country, "office", rate=0.9, mix=EN_MIX, agent_share=0.1)


class SplitActor(PeopleActor):
    """Seats whose personas are either local or restricted; counts the realised restricted share."""

    def __init__(self, ctx: Ctx, idx: int, name: str, group: str) -> None:
        super().__init__(ctx, idx, name, group)
        self.restricted_idx: dict[str, set[int]] = {}
        self.counts: dict[str, list[int]] = {}
        self.xff: dict[str, bool] = {}

    def plan_day(self, day: date) -> list[Req]:
        """Sessions of every persona; restricted ones counted, X-Forwarded-For set where leaked."""
        out: list[Req] = []
        rng, ctx = self.rng, self.ctx
        for seat in self.seats:
            aid = seat.account.account_id
            rset = self.restricted_idx.get(aid, set())
            cnt = self.counts.setdefault(aid, [0, 0])
            for pi, persona in enumerate(seat.personas):
                sessions: dict[int, str] = {}
                for ts, turns, _pool, sess in user_sessions(ctx.bank, persona, day, rng, seat.scale):
                    sid = (sessions.get(sess) or sessions.setdefault(sess, rand_uuid(rng))) if persona.agent else None
                    req = person_req(ctx, seat, persona, pi, ts, turns, rng, sid)
                    if self.xff.get(aid) and persona.ip:
                        req.xff = persona.ip
                    if ctx.start_ms <= ts < ctx.end_ms:
                        cnt[1] += 1
                        cnt[0] += pi in rset
                    out.append(req)
        return out

    def finish(self) -> None:
        """Write the realised restricted share into the labels of sub-routing accounts."""
        for acct in self.accounts:
            if acct.label == "subrouting":
                r, n = self.counts.get(acct.account_id, [0, 0])
                acct.extra_label["restricted_share"] = round(r / n, 4) if n else 0.0


def build_platforms(ctx: Ctx, idx: int, name: str, n_platforms: int, users: int) -> SplitActor:
    """Platforms (SaaS, aggregators) sub-routing a share of restricted-region end users."""
    actor = SplitActor(ctx, idx, name, "subrouting")
    rng = actor.rng
    for _ in range(n_platforms):
        country = weighted(rng, PLATFORM_COUNTRIES)
        share = rng.choice(SHARES)
        acct = make_account(
            ctx,
            rng,
            actor.ips,
            label="subrouting",
            group="subrouting_platform",
            country=country,
            company=True,
            plan=rng.choice(("team", "enterprise")),
            n_keys=rng.randint(1, 3),
            campaign_id="platform-" + rand_hex(rng, 8),
        )
        acct.extra_label["target_share"] = share
        n = max(6, int(users * rng.lognormvariate(0, 0.5)))
        personas: list[Persona] = []
        rset: set[int] = set()
        for i in range(n):
            if rng.random() < share:
                p = restricted_persona(ctx, rng)
                p.ip = actor.ips.ip(p.country, "residential")
                rset.add(i)
            else:
                p = make_persona(rng, country, rng.choice(("office", "evening")), rate=0.9, mix=EN_MIX, agent_share=0.1)
                p.ip = actor.ips.ip(country, "residential")
            p.user_id = rand_hex(rng, 12)
            personas.append(p)
        client = rng.choice((cl.litellm, cl.go_http, cl.anthropic_python, cl.anthropic_ts))(rng)
        base = actor.ips.subnet(country, "hosting")[0]
        seat = new_seat(rng, acct, client, personas, [actor.ips.ip_in(base) for _ in range(rng.randint(1, 4))])
        seat.pass_user = rng.random() < 0.6
        actor.add_seat(seat)
        actor.restricted_idx[acct.account_id] = rset
        actor.xff[acct.account_id] = rng.random() < 0.2
    return actor


def build_subsidiaries(ctx: Ctx, idx: int, name: str, n_subs: int, n_decoys: int, staff: int) -> SplitActor:
    """Subsidiaries of restricted-country parents (abusive) and a genuinely local decoy (benign)."""
    actor = SplitActor(ctx, idx, name, "subsidiary")
    rng = actor.rng
    parent_country = "CN"
    for i in range(n_subs + n_decoys):
        decoy = i >= n_subs
        country = rng.choice(SUBSIDIARY_COUNTRIES)
        parent = cn_company(rng)
        local_name = parent.split(" ")[1] + rng.choice((" Technology", " Digital", " Global", " International"))
        local_name += {"SG": " Pte. Ltd.", "MY": " Sdn. Bhd.", "US": " Inc.", "GB": " Ltd", "DE": " GmbH"}[country]
        acct = make_account(
            ctx,
            rng,
            actor.ips,
            label="benign" if decoy else "subsidiary",
            group="subsidiary_local" if decoy else "subsidiary",
            country=country,
            company=True,
            plan="enterprise",
            n_keys=rng.randint(1, 3),
            campaign_id=None if decoy else "sub-" + rand_hex(rng, 8),
        )
        acct.org_name, acct.parent_org, acct.parent_country = local_name, parent, parent_country
        n = max(5, int(staff * rng.lognormvariate(0, 0.5)))
        personas = []
        rset: set[int] = set()
        for k in range(n):
            local = decoy or rng.random() < 0.12
            if local:
                mix = EN_MIX + (("zh_chat", 8.0),) if country in ("SG", "MY") else EN_MIX
                p = make_persona(rng, country, "office", rate=0.9, mix=mix, agent_share=0.15)
            else:
                p = make_persona(
                    rng,
                    "CN",
                    "cn_dev",
                    rate=0.9,
                    mix=MAINLAND_MIX,
                    lang="zh",
                    agent_share=0.15,
                    name_style="cn",
                    tz="Asia/Shanghai",
                )
                rset.add(k)
            personas.append(p)
        hint = rng.choice(("Alibaba", "Tencent", "AMAZON", None)) if not decoy else None
        base = actor.ips.subnet(country, "hosting", hint)[0]
        client = rng.choice((cl.anthropic_python, cl.litellm, cl.go_http, cl.claude_cli))(rng)
        seat: Seat = new_seat(rng, acct, client, personas, [actor.ips.ip_in(base) for _ in range(rng.randint(1, 2))])
        actor.add_seat(seat)
        actor.restricted_idx[acct.account_id] = rset

    return actor


def realised_shares(actor: SplitActor) -> dict[str, Any]:
    """Restricted share per account (for summaries)."""
    return {a: (r / n if n else 0.0) for a, (r, n) in actor.counts.items()}
