"""Benign groups: English-speaking users, legitimate Chinese-writing customers, enterprise
gateways and benchmark researchers (the hard negatives)."""

from __future__ import annotations

import random
from datetime import date

from stillwatch.simulate import clients as cl
from stillwatch.simulate.exchange import Req
from stillwatch.simulate.populations.base import Ctx, rand_hex
from stillwatch.simulate.populations.humans import make_persona
from stillwatch.simulate.populations.identity import UNIVERSITIES, ZH_PERSONAL, make_account
from stillwatch.simulate.populations.people import PeopleActor, new_seat

EN_COUNTRIES = (
    ("US", 42),
    ("GB", 9),
    ("CA", 6),
    ("AU", 5),
    ("DE", 7),
    ("FR", 4),
    ("IN", 9),
    ("BR", 4),
    ("JP", 3),
    ("KR", 2),
    ("NL", 3),
    ("MX", 2),
    ("SG", 2),
    ("ES", 2),
)
EN_MIX = (
    ("en_chat", 55.0),
    ("code", 15.0),
    ("personas_en", 10.0),
    ("distill_seeds_en", 4.0),
    ("bench_gsm8k", 1.2),
    ("bench_mmlu", 1.2),
    ("bench_humaneval", 0.4),
    ("bench_agieval", 0.4),
    ("judge_filled", 0.4),
    ("meta_filled", 0.2),
    ("zh_chat", 0.4),
    ("sysprompt_attacks", 0.1),
)
ZH_MIX = (
    ("zh_chat", 40.0),
    ("personas_zh", 7.0),
    ("code", 18.0),
    ("en_chat", 20.0),
    ("zh_hardneg", 4.0),
    ("bench_safetybench_zh", 1.5),
    ("bench_agieval", 3.0),
    ("distill_seeds_zh", 4.0),
    ("judge_filled", 0.3),
)
ZH_TW_MIX = tuple((p + "_tw" if p in ("zh_chat", "personas_zh") else p, w) for p, w in ZH_MIX)
ZH_COUNTRIES = (("SG", 28), ("TW", 24), ("MY", 18), ("US", 14), ("CA", 8), ("AU", 8))
ENTERPRISE_COUNTRIES = (("US", 40), ("GB", 12), ("DE", 12), ("JP", 10), ("SG", 10), ("IN", 8), ("FR", 4), ("AU", 4))
COT_WRAPPERS = (
    "Let's think step by step.",
    "Let's work this out in a step by step way to be sure we have the right answer.",
    "",
)


def weighted(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    """Draw a key from ``(key, weight)`` pairs."""
    total = sum(w for _, w in table)
    x = rng.random() * total
    for key, w in table:
        x -= w
        if x <= 0:
            return key
    return table[-1][0]


def _persona_system(rng: random.Random, ctx: Ctx, pool: str, share: float) -> str | None:
    return ctx.bank.pick(pool, rng)[0] if rng.random() < share else None


def build_benign_en(ctx: Ctx, idx: int, name: str, n_accounts: int) -> PeopleActor:
    """Ordinary English-writing developers and small teams across time zones."""
    actor = PeopleActor(ctx, idx, name, "benign_en")
    rng = actor.rng
    for _ in range(n_accounts):
        country = weighted(rng, EN_COUNTRIES)
        hosting = rng.random() < 0.12  # an app backend on a cloud VM
        acct = make_account(
            ctx, rng, actor.ips, label="benign", group="benign_en", country=country, n_keys=rng.choice((1, 1, 1, 2, 3))
        )
        n_people = 1 if rng.random() < 0.75 else rng.randint(2, 6)
        profile = rng.choice(("office", "office", "evening"))
        personas = []
        for _p in range(n_people):
            p = make_persona(rng, country, profile, rate=0.9, mix=EN_MIX, agent_share=0.2)
            p.system = _persona_system(rng, ctx, "personas_en", 0.1)
            personas.append(p)
        client = cl.go_http(rng) if hosting and rng.random() < 0.35 else cl.benign_client(rng)
        ips = [actor.ips.ip(country, "hosting" if hosting else "residential") for _ in range(rng.choice((1, 1, 2)))]
        actor.add_seat(new_seat(rng, acct, client, personas, ips))
    return actor


def build_zh_legit(ctx: Ctx, idx: int, name: str, n_accounts: int) -> PeopleActor:
    """Chinese-writing customers outside restricted regions: own ISPs, own calendars."""
    actor = PeopleActor(ctx, idx, name, "benign_zh_legit")
    rng = actor.rng
    for _ in range(n_accounts):
        country = weighted(rng, ZH_COUNTRIES)
        hosting = rng.random() < 0.1
        acct = make_account(
            ctx,
            rng,
            actor.ips,
            label="benign",
            group="benign_zh_legit",
            country=country,
            email_domain=rng.choice(ZH_PERSONAL[country]) if rng.random() < 0.6 else None,
            n_keys=rng.choice((1, 1, 2)),
        )
        mix = ZH_TW_MIX if country == "TW" else ZH_MIX
        style = "tw" if country == "TW" else ("sea" if country in ("SG", "MY") else rng.choice(("cn", "en", "sea")))
        profile = rng.choice(("office", "evening", "cn_dev" if rng.random() < 0.3 else "office"))
        personas = []
        for _p in range(1 if rng.random() < 0.8 else rng.randint(2, 4)):
            p = make_persona(
                rng,
                country,
                profile,
                rate=0.9,
                mix=mix,
                lang="zh_tw" if country == "TW" else "zh",
                agent_share=0.2,
                name_style=style,
            )
            p.system = _persona_system(rng, ctx, "personas_zh_tw" if country == "TW" else "personas_zh", 0.08)
            personas.append(p)
        client = cl.browser_app(rng) if rng.random() < 0.2 else cl.benign_client(rng)
        ips = [actor.ips.ip(country, "hosting" if hosting else "residential")]
        actor.add_seat(new_seat(rng, acct, client, personas, ips))
    return actor


def build_enterprise(ctx: Ctx, idx: int, name: str, n_accounts: int, employees: int) -> PeopleActor:
    """Companies running a gateway (LiteLLM or in-house) in front of many local employees."""
    actor = PeopleActor(ctx, idx, name, "enterprise_gateway")
    rng = actor.rng
    for k in range(n_accounts):
        country = weighted(rng, ENTERPRISE_COUNTRIES)
        acct = make_account(
            ctx,
            rng,
            actor.ips,
            label="benign",
            group="enterprise_gateway",
            country=country,
            company=True,
            plan="enterprise",
            n_keys=rng.randint(1, 4),
        )
        stack = rng.random()
        if stack < 0.55:
            client = cl.litellm(rng)
        elif stack < 0.75:
            client = cl.go_http(rng, rng.choice(("anthropic", "openai")))
        elif stack < 0.85:
            client = cl.python_httpx(rng)
        else:
            client = cl.anthropic_python(rng)
        staff = max(8, int(employees * rng.lognormvariate(0, 0.7)))
        mix = EN_MIX if country != "SG" else EN_MIX + (("zh_chat", 6.0), ("personas_zh", 1.0))
        personas = []
        for _p in range(staff):
            p = make_persona(rng, country, "office", rate=0.5, mix=mix, agent_share=0.0, followup=0.3)
            p.system = _persona_system(rng, ctx, "personas_en", 0.35)
            p.user_id = rng.choice(("emp-", "u_", "")) + rand_hex(rng, 10)
            p.ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(2, 254)}"
            personas.append(p)
        base = actor.ips.subnet(country, "hosting")[0]
        ips = [actor.ips.ip_in(base) for _ in range(rng.randint(1, 3))]
        seat = new_seat(rng, acct, client, personas, ips)
        seat.pass_user = rng.random() < 0.7
        seat.pass_xff = k == 0 or rng.random() < 0.15  # in-house proxies append the employee's private address
        seat.max_tokens = 4096 if client.name == "litellm" and rng.random() < 0.6 else seat.max_tokens
        actor.add_seat(seat)
    return actor


class ResearcherActor(PeopleActor):
    """Researchers who sweep one public benchmark once, plus light ordinary use."""

    def __init__(self, ctx: Ctx, idx: int, name: str) -> None:
        super().__init__(ctx, idx, name, "researcher_benchmark")
        self.sweeps: list[tuple[int, str, int, float, str, bool, str]] = []
        self.limits: list[int] = []

    def plan_day(self, day: date) -> list[Req]:
        """Ordinary sessions plus the part of each sweep that falls on ``day``."""
        out = super().plan_day(day)
        rng = self.rng
        day0 = self.ctx.start_ms + (day - self.ctx.start).days * 86_400_000
        for si, (start_ms, bench, per_day, gap_s, wrapper, shuffled, model) in enumerate(self.sweeps):
            items = self.ctx.bank.pools[bench][: self.limits[si]]
            lo = max(0, (day0 - start_ms) // 86_400_000 * per_day) if day0 >= start_ms else None
            if lo is None or lo >= len(items):
                continue
            seat = self.seats[si]
            order = list(range(len(items)))
            if shuffled:
                random.Random(f"{self.name}:{si}").shuffle(order)
            ts = max(start_ms, day0) + rng.randrange(3_600_000)
            for k in order[lo : lo + per_day]:
                prompt, reply, ptok, rtok = items[k]
                text = f"{prompt}\n\n{wrapper}".strip() if wrapper else prompt
                ts += int(gap_s * 1000 * rng.uniform(0.5, 1.5))
                req = Req(
                    ts=ts,
                    account_id=seat.account.account_id,
                    key_id=seat.account.keys[0],
                    ip=seat.ips[0],
                    client=seat.client,
                    model=model,
                    turns=[(text, reply, ptok, rtok)],
                    max_tokens=2048,
                    temperature=0.0,
                    stream=False,
                )
                out.append(req)
        return out


def build_researchers(ctx: Ctx, idx: int, name: str, n_accounts: int, max_items: int = 20_000) -> ResearcherActor:
    """Benchmark researchers (academic or industry) and their sweeps."""
    actor = ResearcherActor(ctx, idx, name)
    rng = actor.rng
    benches = [
        "bench_gsm8k",
        "bench_mmlu",
        "bench_humaneval",
        "bench_mtbench",
        "bench_arena",
        "bench_agieval",
        "bench_safetybench_zh",
    ]
    for bench in ("bench_alpaca_eval", "bench_cmmlu", "bench_alignbench"):
        if ctx.bank.has(bench):
            benches.append(bench)
    for i in range(n_accounts):
        country = rng.choice(tuple(UNIVERSITIES))
        zh_bench = i % len(benches) in (6,) or rng.random() < 0.1
        if zh_bench:
            country = rng.choice(("SG", "TW", "US", "CA"))
        uni = rng.choice(UNIVERSITIES.get(country, UNIVERSITIES["US"]))
        acct = make_account(
            ctx,
            rng,
            actor.ips,
            label="benign",
            group="researcher_benchmark",
            country=country if country != "CH" else "DE",
            email_domain=uni,
            company=False,
        )
        bench = benches[i % len(benches)]
        acct.extra_label = {"benchmark": bench.removeprefix("bench_")}
        p = make_persona(rng, country if country != "CH" else "DE", "evening", rate=0.6, mix=EN_MIX, agent_share=0.3)
        client = rng.choice((cl.anthropic_python, cl.openai_python, cl.python_httpx))(rng)
        kind = "hosting" if rng.random() < 0.5 else "residential"
        seat = new_seat(rng, acct, client, [p], [actor.ips.ip(country if country != "CH" else "DE", kind)])
        actor.add_seat(seat)
        size = min(len(ctx.bank.pools[bench]), max_items)  # a subset sweep when the budget is small
        per_day = max(60, min(size, int(rng.uniform(400, 2500))))
        start = ctx.start_ms + rng.randrange(max(1, ctx.days - (size // per_day) - 1)) * 86_400_000
        wrapper = rng.choice(COT_WRAPPERS) if bench in ("bench_gsm8k", "bench_agieval", "bench_mmlu") else ""
        model = rng.choice([m for m, _w in ctx.base_models])
        actor.sweeps.append((start, bench, per_day, rng.uniform(1.0, 6.0), wrapper, rng.random() < 0.3, model))
        actor.limits.append(size)
    return actor
