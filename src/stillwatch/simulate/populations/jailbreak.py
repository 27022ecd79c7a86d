"""Jailbreak attempts (templates filled with payloads, verbatim in-the-wild prompts, fuzzing
bursts, system-prompt extraction) and the bug-bounty reports about them."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from stillwatch.simulate import clients as cl
from stillwatch.simulate.calendar import day_factor, local_day_start_ms, poisson, sample_local_second
from stillwatch.simulate.exchange import Req, iso_ms
from stillwatch.simulate.populations.base import Actor, Ctx, rand_hex
from stillwatch.simulate.populations.benign import EN_COUNTRIES, EN_MIX, weighted
from stillwatch.simulate.populations.humans import make_persona, user_sessions
from stillwatch.simulate.populations.identity import make_account
from stillwatch.simulate.textbank import fill_jailbreak

_DAY = 86_400_000


class JailbreakActor(Actor):
    """Attackers: ordinary-looking accounts that mix normal use with jailbreak attempts."""

    group = "jailbreak"

    def __init__(self, ctx: Ctx, idx: int, name: str, n_attackers: int, attempts_per_day: float) -> None:
        super().__init__(ctx, idx, name)
        rng = self.rng
        self.campaign = "jb-" + rand_hex(rng, 8)
        self.attackers = []
        for _ in range(n_attackers):
            country = weighted(rng, EN_COUNTRIES)
            fuzzer = rng.random() < 0.3
            acct = make_account(
                ctx,
                rng,
                self.ips,
                label="jailbreak",
                group="jailbreak_fuzzer" if fuzzer else "jailbreak_manual",
                country=country,
                campaign_id=self.campaign,
            )
            acct.active_from_ms = ctx.start_ms
            persona = make_persona(rng, country, rng.choice(("evening", "office")), rate=0.8, mix=EN_MIX)
            client = cl.python_httpx(rng) if fuzzer else cl.benign_client(rng)
            ip = self.ips.ip(country, "hosting" if rng.random() < 0.35 else "residential")  # VPNs are common
            self.attackers.append((acct, persona, client, ip, fuzzer))
            self.accounts.append(acct)
        self.attempts = attempts_per_day
        self.used: dict[str, tuple[int, str]] = {}  # template -> (first ts, a filled prompt as sent)

    def _attempt(self, rng: random.Random, template: str | None = None) -> tuple[str, str]:
        bank = self.ctx.bank
        kind = rng.random()
        if template is not None or kind < 0.5:
            tpl = template or bank.pick("jb_templates", rng)[0]
            pool = "jb_payloads_zh" if rng.random() < 0.15 else "jb_payloads_en"
            payload = bank.pick(pool, rng)[0]
            if rng.random() < 0.15:
                payload = f"{payload} {bank.pick('gcg_suffixes', rng)[0]}"
            return fill_jailbreak(tpl, payload), tpl
        if kind < 0.8:
            text = bank.pick("jb_verbatim", rng)[0]
            return text, text
        if kind < 0.9:
            text = bank.pick("sysprompt_attacks", rng)[0]
            return text, text
        text = bank.pick("jb_payloads_en", rng)[0]
        return text, text

    def plan_day(self, day: date) -> list[Req]:
        """Ordinary sessions, single attempts at local times, and fuzzing bursts."""
        rng, ctx = self.rng, self.ctx
        out: list[Req] = []
        for acct, persona, client, ip, fuzzer in self.attackers:
            for ts, turns, _p, _s in user_sessions(ctx.bank, persona, day, rng, 0.6):
                out.append(
                    Req(
                        ts=ts,
                        account_id=acct.account_id,
                        key_id=acct.keys[0],
                        ip=ip,
                        client=client,
                        model=ctx.pick_model(rng, ts, 0.3),
                        turns=turns,
                        max_tokens=2048,
                    )
                )
            lam = self.attempts * day_factor(persona.country, day, persona.profile)
            day0 = local_day_start_ms(day, persona.tz)
            n = poisson(rng, lam)
            bursts = 1 if fuzzer and rng.random() < 0.35 else 0
            for b in range(n + bursts):
                ts = day0 + sample_local_second(rng, persona.profile) * 1000 + int(rng.random() * 1000)
                if b >= n:  # fuzzing burst: many variants of one template within minutes
                    tpl = ctx.bank.pick("jb_templates", rng)[0]
                    shots = [self._attempt(rng, tpl) for _ in range(rng.randint(15, 60))]
                else:
                    shots = [self._attempt(rng)]
                for text, tpl in shots:
                    ts += rng.randint(800, 9000) if len(shots) > 1 else 0
                    req = Req(
                        ts=ts,
                        account_id=acct.account_id,
                        key_id=acct.keys[0],
                        ip=ip,
                        client=client,
                        model=ctx.pick_model(rng, ts, 0.5),
                        turns=[(text, None, len(text) // 4, 0)],
                        max_tokens=rng.choice((1024, 2048, 4096)),
                        temperature=rng.choice((None, 1.0, 0.0)),
                    )
                    req.exchange_label = ("jailbreak", acct.group, self.campaign)
                    if rng.random() < 0.03:
                        req.status = 400
                    if ctx.start_ms <= ts < ctx.end_ms and (tpl not in self.used or ts < self.used[tpl][0]):
                        self.used[tpl] = (ts, text)
                    out.append(req)
        return out

    def reports(self) -> list[dict[str, Any]]:
        """Bug-bounty and partner reports: most about templates seen in the logs, some never seen."""
        rng = random.Random(f"{self.ctx.seed}:reports:{self.name}")
        used = sorted(self.used.items(), key=lambda kv: kv[1][0])
        picked = [kv for kv in used if rng.random() < 0.25][:60] or used[:3]
        out = []
        for tpl, (first, text) in picked:
            received = first + rng.randrange(3_600_000, 4 * _DAY)
            prompt = text if rng.random() < 0.6 else self._attempt(rng, tpl if "{PAYLOAD}" in tpl else None)[0]
            out.append(self._report(rng, received, prompt, seen=True))
        bank = self.ctx.bank
        seen_tpls = set(self.used)
        unseen = [t for t, *_ in bank.pools["jb_templates"] if t not in seen_tpls]
        for _ in range(max(2, len(picked) // 4)):
            if not unseen:
                break
            tpl = unseen[rng.randrange(len(unseen))]
            received = self.ctx.start_ms + rng.randrange(self.ctx.days * _DAY)
            out.append(
                self._report(rng, received, fill_jailbreak(tpl, bank.pick("jb_payloads_en", rng)[0]), seen=False)
            )
        return out

    def _report(self, rng: random.Random, received: int, prompt: str, seen: bool) -> dict[str, Any]:
        first_line = prompt.strip().splitlines()[0][:60] if prompt.strip() else "prompt"
        return {
            "report_id": "rpt_" + rand_hex(rng, 10),
            "received_at": iso_ms(received),
            "source": rng.choice(("bug_bounty", "bug_bounty", "bug_bounty", "partner", "public", "internal")),
            "title": f"Jailbreak: {first_line}",
            "prompt": prompt if rng.random() < 0.8 else [{"role": "user", "content": prompt}],
            "model": rng.choice(("claude-sonnet-4-5", "claude-opus-4-5", self.ctx.new_model)),
            "severity_claimed": rng.choice(("low", "medium", "high", "critical")),
            "reporter": "hunter-" + rand_hex(rng, 5),
            "_seen": seen,  # ground truth; moved out of reports.jsonl by the writer
        }


def build_jailbreakers(ctx: Ctx, idx: int, n: int, attempts_per_day: float) -> JailbreakActor:
    """The jailbreak population."""
    return JailbreakActor(ctx, idx, "jailbreak", n, attempts_per_day)
