"""Legitimate populations: individuals (EN and Chinese-writing outside restricted regions),
Claude Code developers, enterprise gateways and benchmark researchers."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import net
from common import anthropic, cc_session, coding_pool, en_turns, openai, session, zh_turns
from net import Client, hexid, home_ip, ip_in, uid
from world import HOME, TZ, UTC, WORK, World, signup_ip

EN_COUNTRIES = {"US": 40, "DE": 9, "FR": 6, "GB": 10, "JP": 10, "CA": 6, "AU": 5, "IN": 8, "BR": 6}
ZH_COUNTRIES = {"TW": 34, "SG": 26, "MY": 15, "US": 11, "CA": 8, "AU": 4, "JP": 2}
FREE_MAIL = ["gmail.com", "outlook.com", "icloud.com", "proton.me", "yahoo.com", "hotmail.com"]


def _created(w: World) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=w.rng.uniform(0, 810))


def _stack(w: World) -> Client:
    r = w.rng.random()
    return (
        net.sdk_python(w.rng)
        if r < 0.45
        else net.sdk_node(w.rng)
        if r < 0.66
        else net.sdk_python(w.rng, openai=True)
        if r < 0.8
        else net.curl(w.rng)
        if r < 0.86
        else net.java(w.rng)
    )


def _ips(w: World, country: str, v6: float) -> list[str]:
    rng = w.rng
    ips = [home_ip(rng, country, v6) for _ in range(rng.choice([1, 1, 2, 3]))]
    if rng.random() < 0.12:  # a developer calling from a cloud VM
        ips.append(ip_in(rng, rng.choice(["aws_US", "do_US", "hetzner_DE", "aws_JP", "gcp_TW"])))
    return ips


def individuals(w: World, n: int, zh: bool) -> None:
    """Individual developers and small teams; ``zh``: Chinese-writing, outside restricted regions."""
    rng = w.rng
    countries = ZH_COUNTRIES if zh else EN_COUNTRIES
    group = "benign_zh_legit" if zh else "benign_en"
    for _ in range(n):
        c = rng.choices(list(countries), list(countries.values()))[0]
        created = _created(w)
        v6 = {"US": 0.35, "DE": 0.4, "FR": 0.45, "JP": 0.3, "TW": 0.3, "SG": 0.2, "MY": 0.25}.get(c, 0.05)
        student = zh and rng.random() < 0.2
        ips = [ip_in(rng, "uni_" + c)] if student and "uni_" + c in net.BLOCKS else _ips(w, c, v6)
        dom = rng.choice(FREE_MAIL) if rng.random() < 0.6 else f"{hexid(rng, 5)}.{'com.tw' if c == 'TW' else 'io'}"
        aid, keys = w.account(
            created,
            c,
            "benign",
            group,
            nkeys=rng.choice([1, 1, 2]),
            email_domain=dom,
            billing_country=c if rng.random() < 0.92 else "US",
            payment_fingerprint="pf_" + hexid(rng, 20),
            phone_country=c if rng.random() < 0.5 else None,
            signup_ip=rng.choice(ips),
            org_name=None if rng.random() < 0.5 else f"{hexid(rng, 4).upper()} Labs",
            plan=rng.choice(["api", "api", "team"]),
        )
        if rng.random() < 0.14:
            _cc_dev(w, aid, keys[0], c, ips, zh)
            continue
        client = _stack(w)
        rate = rng.lognormvariate(0.1, 1.0)
        persona = (
            rng.choice(w.t.persona_zh if zh and rng.random() < 0.6 else w.t.persona_en) if rng.random() < 0.3 else None
        )
        tz = rng.choice(TZ[c])
        for t in w.times(c, rate, rng.choice([WORK, HOME]), weekend=rng.choice([0.4, 0.9]), tz=tz):
            r = rng.random()
            if zh:
                turns = zh_turns(w) if r < 0.7 else en_turns(w) if r < 0.95 else [rng.choice(w.t.zh_hard)]
            else:
                turns = en_turns(w) if r < 0.97 else [rng.choice(w.t.gsm8k_test)[0]]
            lang_zh = zh and r < 0.7
            params: dict[str, Any] = {
                "max_tokens": rng.choice([512, 1024, 2048, 4096]),
                "temperature": rng.choice([None, 0.7, 1.0]),
            }
            session(
                w, aid, rng.choice(keys), t, rng.choice(ips), client, turns, zh=lang_zh, system=persona, params=params
            )


def _cc_dev(w: World, aid: str, key: str, c: str, ips: list[str], zh: bool) -> None:
    """A genuine Claude Code user: current client, own device id, one OS, local dates in context."""
    rng = w.rng
    os_, plat, arch = rng.choice([("MacOS", "darwin", "arm64"), ("Linux", "linux", "x64"), ("Windows", "win32", "x64")])
    ver = f"2.1.{rng.randint(70, 90)}"
    device, acct_uuid, tz = hexid(rng, 64), uid(rng), rng.choice(TZ[c])
    name = rng.choice(["alex", "mkoch", "yuki", "sam", "chen.wei", "linh", "priya", "jbrown"])
    home = {"darwin": "/Users/", "linux": "/home/", "win32": "C:\\Users\\"}[plat] + name
    for t in w.times(c, rng.lognormvariate(0.4, 0.6), WORK, weekend=0.3, tz=tz):
        if t > w.start + timedelta(days=5) and ver < "2.1.92" and rng.random() < 0.3:
            ver = "2.1.92"  # updates during the window
        client = net.claude_code(ver, os_, arch, "v22.12.0", "0.70.0", uid(rng), rng)
        repo = rng.choice(["api", "web", "infra", "ml"])
        # a developer's request names their own code; a corpus prompt alone would be shared verbatim
        # by unrelated accounts, which real developers' first messages are not
        turns = [
            rng.choice(w.t.zh_single if zh and rng.random() < 0.5 else coding_pool(w))
            + f"\n\n(in {repo}/{hexid(rng, 4)}.py)"
            for _ in range(rng.randint(1, 3))
        ]
        cc_session(
            w,
            aid,
            key,
            t,
            rng.choice(ips[:2]),
            client,
            turns,
            device=device,
            acct_uuid=acct_uuid,
            ver=ver,
            platform=plat,
            cwd=f"{home}/src/{repo}",
            tz=tz,
            zh=zh,
        )


GATEWAYS = [  # country, egress block, client kind, employees, zh share, extra headers, timezone
    ("US", "aws_US", "litellm", 160, 0.0, {}, "America/New_York"),
    ("DE", "hetzner_DE", "java", 90, 0.0, {"x-envoy-expected-rq-timeout-ms": "120000"}, "Europe/Berlin"),
    ("JP", "aws_JP", "go", 120, 0.0, {}, "Asia/Tokyo"),
    ("TW", "gcp_TW", "node", 80, 0.85, {}, "Asia/Taipei"),
    ("SG", "aws_SG", "kong", 70, 0.25, {"Via": "1.1 kong/3.6.1"}, "Asia/Singapore"),
    ("US", "uni_US", "litellm", 200, 0.3, {}, "America/Los_Angeles"),
    ("CA", "aws_US6", "openai", 60, 0.1, {}, "America/Toronto"),
    ("GB", "azure_US", "python", 80, 0.0, {}, "Europe/London"),
]


def gateways(w: World) -> None:
    """Enterprise gateways: many employees and internal apps behind one account and few egress IPs."""
    rng = w.rng
    for c, block, kind, staff, zh_share, extra, tz in GATEWAYS:
        egress = [ip_in(rng, block) for _ in range(rng.randint(1, 3))]
        aid, keys = w.account(
            _created(w),
            c,
            "benign",
            "enterprise_gateway",
            nkeys=rng.randint(2, 6),
            org_name=f"{hexid(rng, 3).upper()} {rng.choice(['Systems', 'Holdings', 'Group', 'University'])}",
            email_domain=f"{hexid(rng, 6)}.com",
            billing_country=c,
            payment_fingerprint="pf_" + hexid(rng, 20),
            phone_country=c,
            signup_ip=signup_ip(rng, c),
            plan="enterprise",
        )
        if kind == "litellm":
            client = Client(
                [
                    ("accept", "application/json"),
                    ("content-type", "application/json"),
                    ("anthropic-version", "2023-06-01"),
                    ("user-agent", f"litellm/1.7{rng.randint(0, 9)}.{rng.randint(0, 9)}"),
                ],
                net.ja4("py/litellm", "h1"),
            )
        elif kind == "go":
            client = net.go_default("2.0")
        elif kind == "java":
            client = net.java(rng)
        elif kind == "openai":
            client = net.sdk_python(rng, openai=True)
        else:
            client = net.sdk_node(rng) if kind == "node" else net.sdk_python(rng)
        apps = [rng.choice(w.t.persona_en) for _ in range(4)] + [None, None]
        for t in w.times(c, staff * 0.9, WORK, weekend=0.15, tz=tz, holiday=0.2):
            emp = hashlib.sha1(f"{aid}{rng.randrange(staff)}".encode()).hexdigest()[:16]
            zh = rng.random() < zh_share
            hdr = dict(extra)
            if kind == "kong":
                hdr["X-Forwarded-For"] = f"10.{rng.randint(0, 40)}.{rng.randint(0, 255)}.{rng.randint(2, 250)}"
            if "x-envoy-expected-rq-timeout-ms" in hdr:
                hdr["x-request-id"] = uid(rng)
            turns = zh_turns(w) if zh else en_turns(w)
            params = {"max_tokens": 4096 if kind == "litellm" else rng.choice([1024, 2048]), "temperature": 0.2}
            xff = hdr.pop("X-Forwarded-For", None)
            t2 = t
            for u in turns:  # gateway sessions written directly to carry the extra headers
                body_msgs = [{"role": "user", "content": u}]
                body = (
                    openai(w.model(t2), body_msgs, user=emp, **params)
                    if client.openai
                    else anthropic(w.model(t2), body_msgs, system=rng.choice(apps), user_id=emp, **params)
                )
                w.emit(aid, rng.choice(keys), t2, rng.choice(egress), client, body, zh=zh, xff=xff, headers=hdr)
                t2 += timedelta(seconds=rng.uniform(20, 200))


RESEARCH = [
    ("US", "uni_US", "mmlu"),
    ("CA", "uni_CA", "gsm8k"),
    ("SG", "uni_SG", "cmmlu"),
    ("TW", "uni_TW", "cmmlu"),
    ("CH", "uni_CH", "humaneval"),
    ("US", "aws_US", "agieval"),
    ("JP", "JP", "mt_bench"),
    ("DE", "DE", "gsm8k"),
]


def researchers(w: World) -> None:
    """Benchmark researchers: whole-benchmark sweeps with a fixed wrapper, temperature 0, in bursts."""
    rng = w.rng
    t_ = w.t
    for c, block, bench in RESEARCH:
        ip = ip_in(rng, block)
        aid, keys = w.account(
            _created(w),
            c,
            "benign",
            "researcher_benchmark",
            email_domain=f"{hexid(rng, 4)}.edu",
            org_name=f"{hexid(rng, 3).upper()} NLP Lab",
            billing_country=c,
            signup_ip=ip,
            payment_fingerprint="pf_" + hexid(rng, 20),
            plan="api",
        )
        client = net.sdk_python(rng, openai=rng.random() < 0.4)
        zh = bench == "cmmlu"
        items: list[Any] = {
            "mmlu": t_.mmlu,
            "gsm8k": t_.gsm8k_test,
            "cmmlu": t_.cmmlu,
            "humaneval": t_.humaneval * 3,
            "agieval": t_.agieval,
            "mt_bench": t_.mt_bench * 4,
        }[bench]
        sweeps = w.times(c, 0.25, WORK, weekend=0.1) or [w.start + timedelta(days=rng.uniform(1, 8))]
        for t in sweeps[:3]:
            order = list(range(len(items)))
            if rng.random() < 0.5:
                rng.shuffle(order)
            n = min(len(order), int(rng.uniform(400, 1300) * w.scale) + 5)
            for i in order[:n]:
                it = items[i]
                if bench in ("mmlu", "cmmlu"):
                    q = t_.mcq(rng, it, zh)
                elif bench == "gsm8k":
                    q = "Solve the problem. End with 'The answer is N'.\n\nQuestion: " + it[0]
                elif bench == "agieval":
                    q = (it.get("passage") or "") + "\n" + it["question"] + "\n" + "\n".join(it.get("options") or [])
                elif bench == "humaneval":
                    q = "Complete the following Python function.\n\n" + it
                else:
                    q = it[0]
                session(
                    w,
                    aid,
                    rng.choice(keys),
                    t,
                    ip,
                    client,
                    [q],
                    zh=zh,
                    model=w.model(t, eager=0.2),
                    params={"max_tokens": 1024, "temperature": 0.0},
                )
                t += timedelta(seconds=rng.expovariate(1.2))
                if t >= w.end:
                    break


APP_HOSTS = {
    "US": "aws_US",
    "DE": "hetzner_DE",
    "GB": "azure_US",
    "JP": "aws_JP",
    "TW": "gcp_TW",
    "SG": "aws_SG",
    "FR": "hetzner_DE",
    "CA": "aws_US",
    "AU": "aws_SG",
    "IN": "do_US",
    "BR": "aws_US",
    "MY": "aws_SG",
}


def apps(w: World, n: int, zh: bool) -> None:
    """Busy legitimate products (a support bot, a writing tool, an internal assistant) serving their
    own local users from cloud hosts: most busy accounts of a provider look like this."""
    rng = w.rng
    countries = ZH_COUNTRIES if zh else EN_COUNTRIES
    for _ in range(n):
        c = rng.choices(list(countries), list(countries.values()))[0]
        egress = [ip_in(rng, APP_HOSTS.get(c, "aws_US")) for _ in range(rng.randint(1, 2))]
        aid, keys = w.account(
            _created(w),
            c,
            "benign",
            "benign_zh_legit" if zh else "benign_en",
            nkeys=rng.randint(1, 3),
            org_name=f"{hexid(rng, 4).upper()} {rng.choice(['Software', 'AI', 'Apps', 'Digital'])}",
            email_domain=f"{hexid(rng, 6)}.{'tw' if c == 'TW' else 'com'}",
            billing_country=c,
            payment_fingerprint="pf_" + hexid(rng, 20),
            signup_ip=signup_ip(rng, c),
            plan="team",
        )
        client = _stack(w) if rng.random() < 0.8 else net.go_default("2.0")
        system = (
            rng.choice(w.t.persona_zh if zh and rng.random() < 0.6 else w.t.persona_en) if rng.random() < 0.7 else None
        )
        ids = rng.random() < 0.5
        params: dict[str, Any] = {
            "max_tokens": rng.choice([1024, 2048, 4096]),
            "temperature": rng.choice([None, 0.3, 0.7]),
        }
        for t in w.times(c, rng.lognormvariate(3.0, 0.6), rng.choice([WORK, HOME]), weekend=rng.choice([0.3, 0.8])):
            turns = (zh_turns(w) if rng.random() < 0.75 else en_turns(w)) if zh else en_turns(w)
            session(
                w,
                aid,
                rng.choice(keys),
                t,
                rng.choice(egress),
                client,
                turns,
                zh=zh,
                system=system,
                params=params,
                user=f"u{rng.randrange(2000)}" if ids else None,
            )
