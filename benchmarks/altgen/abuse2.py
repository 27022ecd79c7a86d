"""Sub-routing platforms, subsidiaries, the hydra distillation cluster, ban evaders, jailbreakers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import net
from common import (
    PINYIN,
    anthropic,
    cc_session,
    cn_enduser_turns,
    coding_pool,
    en_turns,
    openai,
    session,
    tool_defs,
    zh_turns,
)
from net import hexid, home_ip, ip_in, uid
from world import CN_USER, HOME, UTC, WORK, World


def subrouting(w: World) -> None:
    """Two compliant-on-paper platforms forwarding part of their users from mainland China."""
    rng = w.rng
    specs = [
        (
            "US",
            "aws_US",
            "Nimbus Writer Inc.",
            "nimbuswriter.com",
            0.30,
            True,
            230,
            ["America/New_York", "America/Los_Angeles"],
        ),
        (
            "SG",
            "aws_SG",
            "LingoBridge Pte. Ltd.",
            "lingobridge.sg",
            0.12,
            False,
            200,
            ["Asia/Singapore", "Asia/Kuala_Lumpur"],
        ),
    ]
    for c, block, org, dom, share, oai, per_day, tzs in specs:
        egress = [ip_in(rng, block) for _ in range(2)]
        created = datetime(2025, rng.randint(1, 9), rng.randint(1, 28), tzinfo=UTC)
        aid, keys = w.account(
            created,
            c,
            "subrouting",
            "subrouting_platform",
            campaign=f"platform-{dom}",
            org_name=org,
            email_domain=dom,
            billing_country=c,
            payment_fingerprint="pf_" + hexid(rng, 20),
            phone_country=c,
            signup_ip=ip_in(rng, c),
            plan="team",
        )
        client = net.sdk_python(rng, openai=oai)
        system = (
            "You are a helpful writing assistant for Nimbus Writer."
            if oai
            else "You are LingoBridge, a friendly tutor."
        )
        n_local = n_cn = 0
        local = [t for tz in tzs for t in w.times(c, per_day * (1 - share) / len(tzs), HOME, weekend=0.8, tz=tz)]
        cn = w.times("CN", per_day * share * 1.2, CN_USER, weekend=0.8, tz="Asia/Shanghai", holiday=0.6)
        for t, is_cn in sorted([(t, False) for t in local] + [(t, True) for t in cn]):
            user = f"u{rng.randrange(3000 if not is_cn else 900) + (5000 if is_cn else 0)}"
            turns = cn_enduser_turns(w) if is_cn else (en_turns(w) if c == "US" or rng.random() < 0.75 else zh_turns(w))
            xff = None if oai else (home_ip(rng, "CN", 0.3) if is_cn else home_ip(rng, rng.choice(["SG", "MY"]), 0.2))
            before = len(w.exchanges)
            session(
                w,
                aid,
                rng.choice(keys),
                t,
                rng.choice(egress),
                client,
                turns,
                zh=is_cn,
                system=system,
                user=user if oai else f"lb-{user}",
                xff=xff,
                params={"max_tokens": 2048},
            )
            if is_cn:
                n_cn += len(w.exchanges) - before
            else:
                n_local += len(w.exchanges) - before
        w.set_label(aid, restricted_share=round(n_cn / max(1, n_cn + n_local), 4), target_share=share)


def subsidiaries(w: World) -> None:
    """An SG subsidiary of a mainland parent serving mainland users, and a DE one serving Germans."""
    rng = w.rng
    for c, block, org, parent, label, group, per_day in [
        (
            "SG",
            "ali_SG",
            "Qilin Digital Pte. Ltd.",
            "Hangzhou Qilin Network Technology Co., Ltd.",
            "subsidiary",
            "subsidiary",
            180,
        ),
        (
            "DE",
            "hetzner_DE",
            "Aster Robotics GmbH",
            "Shenzhen Aster Intelligent Technology Co., Ltd.",
            "benign",
            "subsidiary_local",
            120,
        ),
    ]:
        ip = ip_in(rng, block)
        aid, keys = w.account(
            datetime(2025, 6, rng.randint(1, 28), tzinfo=UTC),
            c,
            label,
            group,
            org_name=org,
            email_domain=org.split()[0].lower() + ".com",
            billing_country=c,
            parent_org=parent,
            parent_country="CN",
            payment_fingerprint="pf_" + hexid(rng, 20),
            signup_ip=ip,
            plan="enterprise",
        )
        client = net.sdk_python(rng)
        if label == "subsidiary":
            times = w.times("CN", per_day, CN_USER, weekend=0.35, tz="Asia/Shanghai", holiday=0.3)
        else:
            times = w.times("DE", per_day, WORK, weekend=0.2, tz="Europe/Berlin", holiday=0.3)
        for t in times:
            zh = label == "subsidiary" and rng.random() < 0.8 or label != "subsidiary" and rng.random() < 0.08
            turns = cn_enduser_turns(w) if label == "subsidiary" else (zh_turns(w) if zh else en_turns(w))
            session(
                w,
                aid,
                rng.choice(keys),
                t,
                ip,
                client,
                turns,
                zh=zh,
                user=f"emp-{rng.randrange(400)}",
                params={"max_tokens": 4096, "temperature": 0.3},
            )


def _hydra_prompt(w: World) -> tuple[str | None, str, str, dict[str, Any]]:
    """(system, user prompt, reply, params) for one distillation request."""
    rng = w.rng
    t = w.t
    r = rng.random()
    cot_sys = (
        "You are a meticulous reasoning assistant. Think step by step and write out every intermediate step "
        "before giving the final answer."
    )
    if r < 0.35:
        q, a = rng.choice(t.gsm8k)
        if rng.random() < 0.5:
            return cot_sys, q, a, {"max_tokens": 8192, "temperature": 0.7}
        final = a.rsplit("####", 1)[-1].strip()
        return (
            None,
            "Here is a problem and its final answer. Write out, step by step, the full internal reasoning that leads "
            f"to the answer.\n\nProblem: {q}\nFinal answer: {final}",
            a,
            {"max_tokens": 8192, "temperature": 0.7},
        )
    if r < 0.5:
        inst, out = rng.choice(t.alpaca)
        tpl = rng.choice(t.judge)
        prompt = (
            tpl.replace("{{ instruction }}", inst)
            .replace("{{ generation }}", rng.choice(t.en_answers))
            .replace("{{ rubric }}", "Helpfulness 1-5")
        )
        return (
            None,
            prompt,
            f"Feedback: The response addresses the task. [RESULT] {rng.randint(2, 5)}",
            {"max_tokens": 2048, "temperature": 0.0},
        )
    if r < 0.68:
        if rng.random() < 0.4:
            return None, t.meta_en, "1. Instruction: ...", {"max_tokens": 4096, "temperature": 1.0}
        inst, out = rng.choice(t.alpaca)
        return None, rng.choice(t.evol).replace("<PROMPT>", inst), out, {"max_tokens": 4096, "temperature": 1.0}
    if r < 0.78:
        if rng.random() < 0.3:
            return None, t.meta_zh, "1. 指令：……", {"max_tokens": 4096, "temperature": 1.0}
        inst, out = rng.choice(t.alpaca_zh)
        return "请一步一步地思考，并给出详细的推理过程。", inst, out, {"max_tokens": 8192, "temperature": 0.7}
    if r < 0.9:
        inst, out = rng.choice(t.alpaca)
        task = rng.choice(coding_pool(w)) if rng.random() < 0.5 else inst
        return (
            "You are an autonomous software agent. Plan, call tools, observe results and iterate until the task "
            "is complete.",
            task,
            out,
            {
                "max_tokens": 16000,
                "temperature": 1.0,
                "tools": tool_defs(["search_web", "run_python", "read_file", "write_file"]),
            },
        )
    return None, rng.choice(en_turns(w)), rng.choice(t.en_answers), {"max_tokens": 4096}  # camouflage


def hydra(w: World, n: int = 60) -> None:
    """One operator, many accounts behind a shared residential-proxy pool, a 24/7 scheduler."""
    rng = w.rng
    camp = "hydra-" + hexid(rng, 6)
    proxies = [
        home_ip(rng, rng.choice(["US", "US", "GB", "DE", "JP", "CA", "BR", "IN"]), 0.1) for _ in range(int(n * 2.2))
    ]
    cards = ["pf_" + hexid(rng, 20) for _ in range(n // 4 + 1)]
    accts = []
    for i in range(n):
        created = datetime(2026, 2, 18, tzinfo=UTC) + timedelta(days=(i // 8) * 5 + rng.uniform(0, 0.3))
        late = i >= n - max(1, n // 8)  # a last batch registered mid-window to replace the first bans
        if late:
            created = w.start + timedelta(days=5, hours=rng.uniform(0, 6))
        c = rng.choice(["US", "GB", "DE", "JP", "CA", "SG"])
        aid, keys = w.account(
            created,
            c,
            "distillation",
            "hydra",
            campaign=camp,
            email_domain=rng.choice(["gmail.com", "outlook.com", "proton.me"]),
            billing_country=c,
            payment_fingerprint=cards[i // 4],
            signup_ip=rng.choice(proxies),
            plan="api",
            active_from=max(created, w.start),
        )
        sticky = rng.random() < 0.5
        accts.append((aid, keys, net.sdk_python(rng, openai=rng.random() < 0.25), rng.choice(proxies), sticky, created))
    t = w.start + timedelta(minutes=rng.uniform(0, 10))
    per_tick = n * 26 / (24 * 30) * w.scale  # ~26 exchanges per account per day, ticks every 2 min
    while t < w.end:
        if (t.hour + 3) % 24 >= 2:  # two-hour maintenance pause 23:00-01:00 UTC
            live = [a for a in accts if a[5] <= t]
            for _ in range(int(per_tick) + (rng.random() < per_tick % 1)):
                aid, keys, client, ip, sticky, _c = rng.choice(live)
                system, prompt, reply, params = _hydra_prompt(w)
                model = (
                    "claude-opus-4-6"
                    if t >= w.start + timedelta(days=5, hours=18) and rng.random() < 0.5
                    else "claude-sonnet-4-5"
                )
                p = dict(params)
                tools = p.pop("tools", None)
                msgs = [{"role": "user", "content": prompt}]
                body = (
                    openai(model, msgs, system=system, max_tokens=p.get("max_tokens"), temperature=p.get("temperature"))
                    if client.openai
                    else anthropic(model, msgs, system=system, tools=tools, **p)
                )
                w.emit(
                    aid,
                    rng.choice(keys),
                    t + timedelta(seconds=rng.uniform(0, 8)),
                    ip if sticky else rng.choice(proxies),
                    client,
                    body,
                    reply=reply,
                )
        t += timedelta(minutes=2)


def ban_evasion(w: World) -> None:
    """Four banned operators returning with fresh accounts sharing identity or behaviour artefacts."""
    rng = w.rng
    d = w.start
    for k, (orig_kind, ban_at, link) in enumerate(
        [
            ("distillation", d + timedelta(days=3, hours=18), "signup_net"),
            ("jailbreak", datetime(2026, 3, 12, tzinfo=UTC), "card_org"),
            ("relay", d + timedelta(days=5, hours=2), "device"),
            ("distillation", datetime(2026, 3, 20, tzinfo=UTC), "ip_stack"),
        ]
    ):
        camp = f"evader-{k}-{hexid(rng, 4)}"
        c = rng.choice(["US", "SG", "GB"])
        card, org, ip, dev = (
            "pf_" + hexid(rng, 20),
            f"{hexid(rng, 3).upper()} Data Lab",
            home_ip(rng, c, 0.0),
            hexid(rng, 64),
        )
        client = (
            net.sdk_node(rng)
            if k != 2
            else net.claude_code("2.1.84", "Linux", "x64", "v22.12.0", "0.70.0", uid(rng), rng)
        )
        system = rng.choice(w.t.persona_en)
        o_aid, o_keys = w.account(
            ban_at - timedelta(days=40),
            c,
            orig_kind,
            "ban_evasion_origin",
            campaign=camp,
            org_name=org,
            payment_fingerprint=card,
            signup_ip=ip,
            email_domain="gmail.com",
            billing_country=c,
            plan="api",
        )
        w.enforce(
            o_aid,
            ban_at - timedelta(days=2),
            "warn",
            "usage policy: automated extraction" if orig_kind != "jailbreak" else "usage policy: harmful content",
        )
        w.enforce(o_aid, ban_at, "ban", f"terms violation ({orig_kind})", case=f"case-{hexid(rng, 6)}")
        back = ban_at + timedelta(hours=rng.uniform(20, 60))
        if back < w.start:
            back = w.start + timedelta(hours=rng.uniform(2, 30))
        fields: dict[str, Any] = {"email_domain": "outlook.com", "billing_country": c, "plan": "api"}
        if link == "card_org":
            fields.update(payment_fingerprint=card, org_name=org.replace("Lab", "Labs"))
        else:
            fields.update(
                payment_fingerprint="pf_" + hexid(rng, 20), signup_ip=ip if link != "device" else home_ip(rng, c, 0.0)
            )
        evaders = [
            w.account(back, c, "ban_evasion", "ban_evasion", campaign=camp, active_from=back, **fields)
            for _ in range(2 if k == 2 else 1)
        ]
        for aid, keys, lo, hi in [(o_aid, o_keys, w.start, ban_at)] + [(a, ks, back, w.end) for a, ks in evaders]:
            carpool = k == 2  # a small resale carpool: four people on the mainland clock share it
            times = (
                w.times("CN", 10, CN_USER, tz="Asia/Shanghai", holiday=0.55, start=lo, end=hi)
                if carpool
                else w.times(c, 6, WORK, weekend=0.8, start=lo, end=hi)
            )
            for t in times:
                if orig_kind == "jailbreak" and rng.random() < 0.25:
                    w.emit(
                        aid,
                        keys[0],
                        t,
                        ip,
                        client,
                        anthropic(
                            "claude-sonnet-4-5", [{"role": "user", "content": w.t.jailbreak(rng)}], max_tokens=2048
                        ),
                        label=("jailbreak", "jailbreak_manual", camp),
                    )
                    continue
                if carpool:
                    m = rng.randrange(4)
                    cc_session(
                        w,
                        aid,
                        keys[0],
                        t,
                        ip,
                        client,
                        [rng.choice(coding_pool(w))],
                        device=dev if m == 0 else f"{m}{dev[1:]}",
                        acct_uuid=uid(rng),
                        ver="2.1.84",
                        platform="darwin",
                        cwd=f"/Users/{PINYIN[m]}/code/app",
                        tz="Asia/Shanghai",
                    )
                    continue
                system_, prompt, reply, params = (
                    _hydra_prompt(w)
                    if orig_kind == "distillation"
                    else (system, en_turns(w)[0], None, {"max_tokens": 2048})
                )
                params.pop("tools", None)
                w.emit(
                    aid,
                    keys[0],
                    t,
                    ip,
                    client,
                    anthropic(
                        "claude-sonnet-4-5", [{"role": "user", "content": prompt}], system=system_ or system, **params
                    ),
                    reply=reply,
                )


def jailbreakers(w: World) -> None:
    """Manual jailbreakers mixing attempts into ordinary use, a fuzzer, a Chinese-writing one."""
    rng = w.rng
    for k, (c, style) in enumerate(
        [
            ("US", "manual"),
            ("GB", "manual"),
            ("BR", "manual"),
            ("IN", "manual"),
            ("US", "fuzzer"),
            ("MY", "zh"),
            ("DE", "probe"),
        ]
    ):
        camp = f"jb-{k}-{hexid(rng, 4)}"
        group = "jailbreak_fuzzer" if style == "fuzzer" else "jailbreak_manual"
        ip = home_ip(rng, c, 0.3)
        created = datetime(2025, rng.randint(1, 12), rng.randint(1, 28), tzinfo=UTC)
        aid, keys = w.account(
            created,
            c,
            "jailbreak",
            group,
            campaign=camp,
            email_domain=rng.choice(["gmail.com", "proton.me"]),
            billing_country=c,
            payment_fingerprint="pf_" + hexid(rng, 20),
            signup_ip=ip,
            plan="api",
        )
        client = net.sdk_python(rng) if k % 2 else net.curl(rng)
        lab = ("jailbreak", group, camp)
        first: datetime | None = None
        for t in w.times(c, 3, HOME, weekend=1.0):
            if style == "fuzzer" and rng.random() < 0.15:
                base = rng.choice(w.t.jb_fuzz).replace("[INSERT PROMPT HERE]", rng.choice(w.t.payloads))
                for _ in range(rng.randint(30, 70)):
                    w.emit(
                        aid,
                        keys[0],
                        t,
                        ip,
                        client,
                        anthropic(
                            "claude-sonnet-4-5",
                            [{"role": "user", "content": w.t.mutate(rng, base)}],
                            max_tokens=1024,
                            temperature=1.0,
                        ),
                        label=lab,
                    )
                    t += timedelta(seconds=rng.uniform(2, 15))
                first = first or t
            elif rng.random() < 0.3:
                text = w.t.jailbreak(rng, zh=style == "zh") if style != "probe" else rng.choice(w.t.sysprobe)
                w.emit(
                    aid,
                    keys[0],
                    t,
                    ip,
                    client,
                    anthropic("claude-sonnet-4-5", [{"role": "user", "content": text}], max_tokens=2048),
                    label=lab,
                )
                first = first or t
            else:
                session(
                    w,
                    aid,
                    keys[0],
                    t,
                    ip,
                    client,
                    zh_turns(w) if style == "zh" else en_turns(w),
                    zh=style == "zh",
                    params={"max_tokens": 1024},
                )
        if first:
            w.set_label(aid, active_from=first.isoformat().replace("+00:00", "Z"))
