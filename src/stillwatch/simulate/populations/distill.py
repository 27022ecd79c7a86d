"""Distillation campaigns shaped like the public reports: hydra clusters of many accounts.

Per-account volume stays unremarkable (about 20–40 exchanges a day); the operator load-balances
requests over the pool, egresses through proxy networks, fires chain-of-thought elicitation,
meta-prompt templates and grader prompts, mixes in ordinary prompts, replaces banned accounts,
and moves about half its traffic to a newly launched model within 24 hours of launch.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from stillwatch.simulate import clients as cl
from stillwatch.simulate.calendar import sample_local_second
from stillwatch.simulate.exchange import Req, iso_ms
from stillwatch.simulate.populations.base import Account, Actor, Ctx, rand_hex
from stillwatch.simulate.populations.humans import CC_IDENTITY, CC_TOOLS, tool_trace
from stillwatch.simulate.populations.identity import UNIVERSITIES
from stillwatch.simulate.populations.relay import pool_accounts

#: Published chain-of-thought triggers (Kojima et al. 2022; Zhou et al. 2023; the usual Chinese rendering).
COT_PHRASES = (
    "Let's think step by step.",
    "Let's work this out in a step by step way to be sure we have the right answer.",
    "让我们一步一步地思考。",
)
AGENT_TOOLS = ("bash", "python", "read_file", "write_file", "str_replace_editor", "web_search", "list_dir")
PROXY_COUNTRIES = ("US", "US", "JP", "SG", "KR", "GB", "DE", "CA", "AU")
_DAY = 86_400_000
_HOUR = 3_600_000

#: Campaign kind -> content mix (pool or special key, weight).
KIND_MIX: dict[str, tuple[tuple[str, float], ...]] = {
    "reasoning": (
        ("cot:bench_gsm8k", 10.0),
        ("cot:en_chat", 8.0),
        ("cot:bench_agieval", 7.0),
        ("cot:distill_seeds_en", 8.0),
        ("judge_filled", 22.0),
        ("meta_filled", 15.0),
        ("plain:en_chat", 15.0),
        ("plain:zh_chat", 8.0),
        ("plain:personas_en", 4.0),
        ("cot:bench_mmlu", 3.0),
    ),
    "agentic": (
        ("agent:code", 30.0),
        ("agent:bench_humaneval", 10.0),
        ("agent:distill_seeds_en", 15.0),
        ("cot:code", 10.0),
        ("meta_filled", 5.0),
        ("plain:en_chat", 15.0),
        ("plain:code", 10.0),
        ("plain:zh_chat", 5.0),
    ),
    "instruct": (
        ("plain:distill_seeds_zh", 20.0),
        ("plain:distill_seeds_en", 20.0),
        ("meta_filled", 25.0),
        ("cot:distill_seeds_zh", 10.0),
        ("judge_filled", 5.0),
        ("plain:zh_chat", 10.0),
        ("plain:en_chat", 10.0),
    ),
}


class HydraActor(Actor):
    """One distillation operator and its pool of accounts."""

    def __init__(self, ctx: Ctx, idx: int, name: str, kind: str, n_accounts: int, per_day: float) -> None:
        super().__init__(ctx, idx, name)
        rng = self.rng
        self.kind = kind
        self.group = f"hydra_{kind}"
        self.campaign = "distill-" + rand_hex(rng, 8)
        self.per_day = per_day
        self.mix = KIND_MIX[kind]
        self.total_w = sum(w for _, w in self.mix)
        # accounts registered in waves (every few days, from before the window to its end); each
        # is used for a limited span and then retired, so about ``n_accounts`` are live at a time
        self.accounts = []
        self.retire: dict[str, int] = {}
        span_days = min(ctx.days, rng.uniform(7, 12))
        total = max(n_accounts, int(1.3 * n_accounts * (ctx.days + span_days) / span_days))
        wave_starts = []
        t = ctx.start_ms - int(span_days * _DAY) - rng.randrange(20) * _DAY
        while t < ctx.end_ms - _DAY:
            wave_starts.append(t)
            t += rng.randrange(2, 5) * _DAY
        per_wave = [0] * len(wave_starts)
        for _ in range(total):
            per_wave[rng.randrange(len(wave_starts))] += 1
        for start, size in zip(wave_starts, per_wave, strict=True):
            if size == 0:
                continue
            self.accounts += pool_accounts(
                ctx,
                rng,
                self.ips,
                size,
                label="distillation",
                group=self.group,
                campaign_id=self.campaign,
                created_around=start,
                spread_ms=2 * _DAY,
            )
        for a in self.accounts:
            life = int(span_days * rng.uniform(0.5, 1.5) * _DAY)
            first_use = a.created_ms + rng.randrange(_HOUR, _DAY)  # little or no warming
            self.retire[a.account_id] = first_use + life
            a.active_from_ms = max(first_use, ctx.start_ms)
        # accounts retired before the window never show up in these logs
        self.accounts = [a for a in self.accounts if self.retire[a.account_id] > ctx.start_ms + _DAY]
        for a in self.accounts:
            if rng.random() < 0.1:
                a.email_domain = rng.choice(rng.choice(list(UNIVERSITIES.values())))
        # bans: some accounts are caught mid-window
        self.banned: dict[str, int] = {}
        self._enf: list[dict[str, Any]] = []
        for a in self.accounts:
            if rng.random() < 0.12:
                lo = a.active_from_ms or ctx.start_ms
                when = lo + rng.randrange(_DAY, max(2 * _DAY, self.retire[a.account_id] - lo))
                if when < min(ctx.end_ms, self.retire[a.account_id]):
                    self.banned[a.account_id] = when
                    self._enf.append(
                        {
                            "account_id": a.account_id,
                            "ts": when,
                            "action": rng.choice(("suspend", "ban")),
                            "reason": rng.choice(
                                ("fraudulent account", "terms violation: automated extraction", "payment fraud")
                            ),
                        }
                    )
        # clients: two or three stacks, versions shared across the pool
        stacks = [
            f(rng) for f in rng.sample([cl.anthropic_python, cl.openai_python, cl.python_httpx, cl.anthropic_ts], 3)
        ]
        if kind == "agentic":
            stacks.append(cl.claude_cli(rng, "2.1.14", ("Linux", "x64")))
        self.client_of = {
            a.account_id: stacks[i % len(stacks)] if rng.random() < 0.9 else rng.choice(stacks)
            for i, a in enumerate(self.accounts)
        }
        # proxy egress: static residential per account for most, a rotating pool for the rest
        pool = [
            self.ips.ip(rng.choice(PROXY_COUNTRIES), "residential" if rng.random() < 0.8 else "hosting")
            for _ in range(max(4, n_accounts // 3))
        ]
        self.proxy_pool = pool
        self.static_ip = {a.account_id: pool[rng.randrange(len(pool))] for a in self.accounts if rng.random() < 0.6}
        self.max_tokens = rng.choice((8192, 16000, 16384, 32000))
        self.temperature = rng.choice((1.0, 0.7, None))
        self.thinking = rng.choice((None, 8000, 16000)) if kind == "reasoning" else None
        self.switch_delay = rng.randrange(2 * _HOUR, 20 * _HOUR)
        self.cn_rhythm = rng.uniform(0.2, 0.5)

    def _live(self, ts: int) -> list[Account]:
        return [
            a
            for a in self.accounts
            if (a.active_from_ms or a.created_ms) <= ts < self.retire[a.account_id]
            and (a.account_id not in self.banned or ts < self.banned[a.account_id])
        ]

    def _content(self, rng: random.Random) -> tuple[str, str, bool]:
        x = rng.random() * self.total_w
        key = self.mix[-1][0]
        for k, w in self.mix:
            x -= w
            if x <= 0:
                key = k
                break
        mode, _, pool = key.partition(":")
        return (mode, pool, False) if pool else ("plain", mode, False)

    def plan_day(self, day: date) -> list[Req]:
        """Load-balanced requests over the live pool, mostly flat with a UTC+8 tint."""
        rng, ctx, bank = self.rng, self.ctx, self.ctx.bank
        day0 = ctx.start_ms + (day - ctx.start).days * _DAY
        live = self._live(day0 + 12 * _HOUR)
        if not live:
            return []
        n = int(len(live) * self.per_day * rng.uniform(0.85, 1.15))
        model_switch = ctx.launch_ms + self.switch_delay
        out: list[Req] = []
        for _ in range(n):
            if rng.random() < self.cn_rhythm:
                ts = day0 - 8 * _HOUR + sample_local_second(rng, "cn_dev") * 1000 + int(rng.random() * 1000)
            else:
                ts = day0 + sample_local_second(rng, "flat") * 1000 + int(rng.random() * 1000)
            acct = live[rng.randrange(len(live))]
            if acct.account_id in self.banned and ts >= self.banned[acct.account_id]:
                continue
            mode, pool, _ = self._content(rng)
            item = bank.pick(pool if bank.has(pool) else "en_chat", rng)
            text = item[0]
            system = None
            tools = None
            if mode == "cot":
                text = f"{text}\n\n{COT_PHRASES[2] if 'zh' in pool else rng.choice(COT_PHRASES[:2])}"
            elif mode == "agent":
                tools = CC_TOOLS if rng.random() < 0.5 else list(AGENT_TOOLS)
                system = CC_IDENTITY if tools is CC_TOOLS else None
            reply, rtok = bank.reply_for(item, "zh" if "zh" in pool else "en", rng)
            model = ctx.pick_model(rng, ts, 0.0)
            if ts >= model_switch and rng.random() < 0.5:
                model = ctx.new_model
            elif self.kind != "agentic" and rng.random() < 0.5:
                model = "claude-opus-4-5"
            ip = self.static_ip.get(acct.account_id) or self.proxy_pool[rng.randrange(len(self.proxy_pool))]
            req = Req(
                ts=ts,
                account_id=acct.account_id,
                key_id=acct.keys[rng.randrange(len(acct.keys))],
                ip=ip,
                client=self.client_of[acct.account_id],
                model=model,
                turns=[(text, reply, item[2] + 8, rtok)],
                system=system,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                stream=rng.random() < 0.3,
                tools=tools,
                thinking=self.thinking if mode == "cot" else None,
            )
            if tools and rng.random() < 0.6:
                req.meta = {"trace": tool_trace(bank, rng, tools, rng.randint(1, 6))}
            if rng.random() < 0.02:
                req.status = 429
            out.append(req)
        return out

    def extra_labels(self) -> list[dict[str, Any]]:
        """The campaign as a cluster."""
        first = min(a.active_from_ms or a.created_ms for a in self.accounts)
        return [
            {
                "entity": "cluster",
                "id": self.campaign,
                "label": "distillation",
                "group": self.group,
                "campaign_id": self.campaign,
                "active_from": iso_ms(first),
                "kind": self.kind,
                "model_switch_at": iso_ms(self.ctx.launch_ms + self.switch_delay),
                "accounts": [a.account_id for a in self.accounts],
            }
        ]

    def enforcement(self) -> list[dict[str, Any]]:
        """Bans of pool accounts."""
        return self._enf


def build_hydras(ctx: Ctx, first_idx: int, budget: int) -> list[Actor]:
    """Three campaigns (reasoning, agentic, instruction harvesting) sharing ``budget`` exchanges."""
    rng = random.Random(f"{ctx.seed}:hydras")
    shares = (("reasoning", 0.35), ("agentic", 0.45), ("instruct", 0.2))
    out: list[Actor] = []
    for i, (kind, share) in enumerate(shares):
        per_day = rng.uniform(20, 34)
        n_accounts = max(8, int(budget * share / (ctx.days * per_day * 0.9)))
        out.append(HydraActor(ctx, first_idx + i, f"hydra{i}", kind, n_accounts, per_day))
    return out
