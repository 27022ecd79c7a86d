"""Ban evasion: operators banned during the window come back with new accounts that reuse subtle
links (payment fingerprint, organisation-name variant, sign-up /24, the same templates and stack)."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from stillwatch.simulate import clients as cl
from stillwatch.simulate.calendar import sample_local_second
from stillwatch.simulate.exchange import Req, iso_ms
from stillwatch.simulate.populations.base import Account, Actor, Ctx, rand_hex
from stillwatch.simulate.populations.distill import COT_PHRASES
from stillwatch.simulate.populations.identity import make_account, org_name, org_variant
from stillwatch.simulate.populations.relay import DECLARED

_DAY = 86_400_000
ORIGINS = ("distillation", "distillation", "jailbreak")


class EvaderActor(Actor):
    """One operator: an original account (banned mid-window) and one to three returning accounts."""

    group = "ban_evasion"

    def __init__(self, ctx: Ctx, idx: int, name: str, per_day: float) -> None:
        super().__init__(ctx, idx, name)
        rng = self.rng
        self.campaign = "evader-" + rand_hex(rng, 8)
        self.origin = rng.choice(ORIGINS)
        self.per_day = per_day
        country = rng.choice(DECLARED)
        org = org_name(rng, country) if rng.random() < 0.7 else None
        net = self.ips.subnet(country, rng.choice(("residential", "hosting")))[0]
        self.original = make_account(
            ctx,
            rng,
            self.ips,
            label=self.origin,
            group="ban_evasion",
            campaign_id=self.campaign,
            country=country,
            company=org is not None,
            signup_ip=self.ips.ip_in(net),
        )
        self.original.org_name = org
        self.original.active_from_ms = ctx.start_ms
        self.ban_ms = (
            ctx.start_ms + rng.randrange(max(1, ctx.days // 5), max(2, ctx.days // 2)) * _DAY + rng.randrange(_DAY)
        )
        self.accounts = [self.original]
        self.returns: list[Account] = []
        t = self.ban_ms
        for _ in range(rng.randint(1, 3)):
            t += rng.randrange(6 * 3_600_000, 5 * _DAY)
            if t >= ctx.end_ms - _DAY:
                break
            links = {
                "payment": rng.random() < 0.55,
                "org": org is not None and rng.random() < 0.7,
                "net": rng.random() < 0.6,
            }
            if not any(links.values()):
                links["net"] = True
            acct = make_account(
                ctx,
                rng,
                self.ips,
                label="ban_evasion",
                group="ban_evasion",
                campaign_id=self.campaign,
                country=rng.choice(DECLARED) if rng.random() < 0.4 else country,
                created_ms=t,
                payment=self.original.payment_fingerprint if links["payment"] else None,
                signup_ip=self.ips.ip_in(net) if links["net"] else None,
                company=org is not None,
            )
            acct.org_name = org_variant(rng, org) if links["org"] and org else acct.org_name
            acct.active_from_ms = t
            acct.extra_label = {"evades": self.original.account_id, "links": sorted(k for k, v in links.items() if v)}
            self.returns.append(acct)
            self.accounts.append(acct)
        self.client = rng.choice((cl.anthropic_python, cl.openai_python, cl.go_http, cl.python_httpx))(rng)
        self.system = ctx.bank.pick("personas_en", rng)[0] if rng.random() < 0.5 else None
        self.template = "jb" if self.origin == "jailbreak" else rng.choice(("cot", "meta", "judge"))
        self.jb_tpl = ctx.bank.pick("jb_templates", rng)[0]
        self.ip_of = {
            a.account_id: self.ips.ip_in(net) if rng.random() < 0.5 else self.ips.ip(country, "hosting")
            for a in self.accounts
        }
        self.max_tokens = rng.choice((4096, 8192, 16000))

    def _text(self, rng: random.Random) -> tuple[str, str | None, int, int, bool]:
        bank = self.ctx.bank
        if self.template == "cot":
            it = bank.pick("bench_gsm8k" if rng.random() < 0.5 else "distill_seeds_en", rng)
            return f"{it[0]}\n\n{COT_PHRASES[0]}", it[1], it[2], it[3], False
        if self.template in ("meta", "judge"):
            it = bank.pick("meta_filled" if self.template == "meta" else "judge_filled", rng)
            return it[0], None, it[2], 0, False
        if self.template == "jb" and rng.random() < 0.6:
            payload = bank.pick("jb_payloads_en", rng)
            text = self.jb_tpl.replace("{PAYLOAD}", payload[0])
            return text, None, len(text) // 4, 0, True
        it = bank.pick("en_chat", rng)
        return it[0], it[1], it[2], it[3], False

    def plan_day(self, day: date) -> list[Req]:
        """Traffic of whichever accounts of the operator are alive on ``day``."""
        rng, ctx = self.rng, self.ctx
        day0 = ctx.start_ms + (day - ctx.start).days * _DAY
        out: list[Req] = []
        for acct in self.accounts:
            lo = acct.active_from_ms or acct.created_ms
            hi = self.ban_ms if acct is self.original else ctx.end_ms
            if day0 + _DAY <= lo or day0 >= hi:
                continue
            n = int(self.per_day * rng.uniform(0.6, 1.4))
            for _ in range(n):
                ts = day0 + sample_local_second(rng, "flat") * 1000 + int(rng.random() * 1000)
                if not lo <= ts < hi:
                    continue
                text, reply, ptok, rtok, jb = self._text(rng)
                req = Req(
                    ts=ts,
                    account_id=acct.account_id,
                    key_id=acct.keys[0],
                    ip=self.ip_of[acct.account_id],
                    client=self.client,
                    model=ctx.pick_model(rng, ts, 0.3),
                    turns=[(text, reply, ptok, rtok)],
                    system=self.system,
                    max_tokens=self.max_tokens,
                    stream=rng.random() < 0.4,
                )
                if jb:
                    req.exchange_label = ("jailbreak", "ban_evasion", self.campaign)
                out.append(req)
        return out

    def enforcement(self) -> list[dict[str, Any]]:
        """The ban of the original account (and a warning before it)."""
        reason = {
            "distillation": "automated extraction of model outputs",
            "jailbreak": "repeated usage-policy violations",
        }[self.origin]
        return [
            {
                "account_id": self.original.account_id,
                "ts": self.ban_ms - self.rng.randrange(_DAY, 3 * _DAY),
                "action": "warn",
                "reason": reason,
            },
            {
                "account_id": self.original.account_id,
                "ts": self.ban_ms,
                "action": "ban",
                "reason": reason,
                "case_id": "case-" + rand_hex(self.rng, 6),
            },
        ]

    def extra_labels(self) -> list[dict[str, Any]]:
        """The operator as a cluster."""
        return [
            {
                "entity": "cluster",
                "id": self.campaign,
                "label": "ban_evasion",
                "group": "ban_evasion",
                "campaign_id": self.campaign,
                "active_from": iso_ms(self.ban_ms),
                "accounts": [a.account_id for a in self.accounts],
            }
        ]


def build_evaders(ctx: Ctx, first_idx: int, n: int, per_day: float) -> list[Actor]:
    """``n`` ban-evading operators."""
    return [
        EvaderActor(ctx, first_idx + i, f"evader{i}", per_day * random.Random(f"{ctx.seed}:{i}").uniform(0.5, 1.5))
        for i in range(n)
    ]
