"""Planted signals are present where the labels say, and absent from the hard negatives."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

from stillwatch.simulate.network import geoip
from stillwatch.simulate.populations.distill import COT_PHRASES
from stillwatch.simulate.relay_families import CRS_DEVICE, CRS_SYS_PREFIX, ONE_API_TEST
from stillwatch.simulate.textbank import load_bank
from tests.simulate.conftest import SimData

HOSTING = (
    "AMAZON",
    "GOOGLE",
    "DIGITALOCEAN",
    "ALIBABA",
    "TENCENT",
    "VULTR",
    "CHOOPA",
    "CONSTANT",
    "LINODE",
    "AKAMAI",
    "HETZNER",
    "OVH",
    "MICROSOFT",
    "ORACLE",
    "RACKNERD",
    "M247",
    "ZENLAYER",
    "IT7",
    "CLOUDIE",
    "LEASEWEB",
    "CONTABO",
    "SAKURA",
    "DATACAMP",
)


def _local_day(ts: str, hours: int) -> date:
    return (datetime.fromisoformat(ts.replace("Z", "+00:00")) + timedelta(hours=hours)).date()


def _first_user(e: dict) -> str:
    msgs = e["request"]["messages"]
    m = next((m for m in msgs if m["role"] == "user"), msgs[0])
    return m["content"] if isinstance(m["content"], str) else ""


def _last_user(e: dict) -> str:
    m = [m for m in e["request"]["messages"] if m["role"] == "user"][-1]
    return m["content"] if isinstance(m["content"], str) else ""


def _day_ratio(exchanges: list[dict], hours: int, target: date, weekdays: list[date]) -> float:
    per_day = Counter(_local_day(e["ts"], hours) for e in exchanges)
    base = statistics.mean(per_day[d] for d in weekdays)
    return per_day[target] / base


def test_makeup_workday_on_mainland_users_not_on_zh_legit(sim: SimData) -> None:
    # 2026-02-14 is an official mainland make-up working Saturday (调休)
    makeup = date(2026, 2, 14)
    weekdays = [date(2026, 2, d) for d in (10, 11, 12, 13)]
    relay = [e for e in sim.by_group("relay_") if _first_user(e) not in ("hi", ONE_API_TEST, "ping")]
    relay_ratio = _day_ratio(relay, 8, makeup, weekdays)
    acc = {a["account_id"]: a for a in sim.accounts}
    utc8 = [
        e for e in sim.by_group("benign_zh_legit") if acc[e["account_id"]].get("billing_country") in ("SG", "MY", "TW")
    ]
    legit_ratio = _day_ratio(utc8, 8, makeup, weekdays)
    assert relay_ratio > 0.65
    assert legit_ratio < 0.6
    assert relay_ratio > legit_ratio + 0.2


def test_spring_festival_dip_on_mainland_users(sim: SimData) -> None:
    relay = [e for e in sim.by_group("relay_") if _first_user(e) not in ("hi", ONE_API_TEST, "ping")]
    per_day = Counter(_local_day(e["ts"], 8) for e in relay)
    workdays = statistics.mean(per_day[date(2026, 2, d)] for d in (10, 11, 12, 13))
    holiday = statistics.mean(per_day[date(2026, 2, d)] for d in (16, 17, 18, 19))
    assert holiday < 0.6 * workdays


def test_relay_egress_is_hosting_and_zh_legit_mostly_residential(sim: SimData) -> None:
    g = geoip()

    def hosting_share(rows: list[dict]) -> float:
        hits = sum(any(k in (g.lookup(e["client_ip"]).asn_name or "").upper() for k in HOSTING) for e in rows)
        return hits / len(rows)

    relay = sim.by_group("relay_")
    assert hosting_share(relay[:1500]) > 0.5
    assert hosting_share(sim.by_group("benign_zh_legit")[:1500]) < 0.3
    # no single field gives it away: some benign users are on hosting egress too
    assert hosting_share(sim.by_group("benign_en")[:3000]) > 0.02


def test_client_ips_match_declared_country_for_benign_residential(sim: SimData) -> None:
    g = geoip()
    acc = {a["account_id"]: a for a in sim.accounts}
    rows = sim.by_group("benign_zh_legit")[:1000]
    same = sum(g.lookup(e["client_ip"]).country_code == acc[e["account_id"]]["billing_country"] for e in rows)
    assert same / len(rows) > 0.8


def test_relay_keys_serve_many_end_users(sim: SimData) -> None:
    def users_per_key(rows: list[dict]) -> float:
        firsts: dict[str, set[str]] = defaultdict(set)
        for e in rows:
            firsts[e["api_key_id"]].add(_first_user(e)[:80])
        return statistics.median(len(v) for v in firsts.values())

    assert users_per_key(sim.by_group("relay_")) > users_per_key(sim.by_group("benign_en"))


def test_relay_artifacts_only_on_relays(sim: SimData) -> None:
    def iocs(e: dict) -> bool:
        req = e["request"]
        text = str(req.get("messages", ""))
        uid = str(req.get("metadata", {}).get("user_id", ""))
        beta = e["http"]["headers"].get("anthropic-beta", "")
        return (
            CRS_DEVICE in uid
            or CRS_SYS_PREFIX in text
            or "\u200b" in text
            or "mcp__" in str(req.get("tools", ""))
            or beta == "messages-2023-12-15"
            or _last_user(e) == ONE_API_TEST
        )

    relay = sim.by_group("relay_")
    assert sum(map(iocs, relay)) > 0.05 * len(relay)
    others = (
        [e for e in sim.exchanges if e not in relay]
        if len(sim.exchanges) < 1
        else sim.by_group(
            "benign_", "enterprise_gateway", "researcher_benchmark", "subsidiary_local", "subrouting", "hydra_"
        )
    )
    assert not any(map(iocs, others))


def test_shared_headers_not_a_giveaway(sim: SimData) -> None:
    def uas(rows: list[dict]) -> set[str]:
        return {e["http"]["headers"].get("user-agent", "").split("/")[0] for e in rows}

    assert "litellm" in uas(sim.by_group("enterprise_gateway")) & uas(sim.by_group("relay_"))
    assert "Go-http-client" in uas(sim.by_group("benign_en")) & uas(sim.by_group("relay_"))
    zh_hours = Counter(int(e["ts"][11:13]) for e in sim.by_group("benign_zh_legit"))
    assert sum(zh_hours[h] for h in range(1, 10)) > 0.2 * sum(zh_hours.values())  # UTC+8 daytime is common


def test_benchmark_sweeps_on_researchers_only(sim: SimData) -> None:
    bank = load_bank(None, 1)
    acc = sim.account_labels()
    # arena-hard and MT-Bench prompts are real user queries and also part of ordinary chat: skip them
    sweepable = ("bench_gsm8k", "bench_mmlu", "bench_humaneval", "bench_agieval", "bench_safetybench_zh")
    bench_sets = {name: {it[0] for it in bank.pools[name]} for name in sweepable}

    def coverage(rows: list[dict]) -> dict[str, float]:
        seen: dict[str, set[str]] = defaultdict(set)
        for e in rows:
            text = _last_user(e)
            for name, prompts in bench_sets.items():
                base = text.rsplit("\n\n", 1)[0] if text not in prompts else text
                if text in prompts or base in prompts:
                    seen[e["account_id"]].add(f"{name}:{base[:200]}")
        out: dict[str, float] = {}
        for a, items in seen.items():
            for name, prompts in bench_sets.items():
                n = sum(1 for i in items if i.startswith(name + ":"))
                out[a] = max(out.get(a, 0.0), n / len(prompts))
        return out

    researchers = coverage(sim.by_group("researcher_benchmark"))
    assert max(researchers.values()) > 0.3
    assert sum(v > 0.05 for v in researchers.values()) >= 2
    benign = coverage(sim.by_group("benign_en", "benign_zh_legit", "enterprise_gateway"))
    assert max(benign.values(), default=0) < 0.05
    assert all(acc[a]["label"] == "benign" for a in researchers)


def test_template_reuse_on_distillation_clusters(sim: SimData) -> None:
    markers = (
        *COT_PHRASES,
        "#The Given Prompt#",
        "Rewritten Prompt",
        "Rating:",
        "###Score Rubrics",
        "Score Rubric",
        "Rationale",
        "Instruction:",
    )

    def templated(rows: list[dict]) -> float:
        return sum(any(m in _last_user(e) for m in markers) for e in rows) / len(rows)

    assert templated(sim.by_group("hydra_reasoning")) > 0.3
    assert templated(sim.by_group("hydra_")) > 0.15
    assert templated(sim.by_group("benign_en")) < 0.05
    assert templated(sim.by_group("benign_zh_legit")) < 0.05


def test_persona_prompts_shared_verbatim_by_unrelated_benign_accounts(sim: SimData) -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for e in sim.by_group("benign_", "enterprise_gateway"):
        text = e["request"].get("system") or _first_user(e)
        if isinstance(text, str) and text.startswith("I want you to act"):
            owners[text].add(e["account_id"])
    assert max((len(v) for v in owners.values()), default=0) >= 2


def test_distillation_moves_to_new_model_within_a_day(sim: SimData) -> None:
    launched = next(m for m in sim.meta["models"] if m["in_window"])
    at = datetime.fromisoformat(launched["launched_at"].replace("Z", "+00:00"))

    def share_new(rows: list[dict], hours: tuple[int, int]) -> float:
        lo, hi = (at + timedelta(hours=h) for h in hours)
        win = [e for e in rows if lo <= datetime.fromisoformat(e["ts"].replace("Z", "+00:00")) < hi]
        return sum(e["request"]["model"] == launched["model"] for e in win) / max(1, len(win))

    hydra = sim.by_group("hydra_")
    assert share_new(hydra, (-24, 0)) == 0
    assert share_new(hydra, (20, 48)) > 0.3
    assert share_new(sim.by_group("benign_en"), (0, 24)) < 0.3


def test_subrouting_labels_carry_true_share(sim: SimData) -> None:
    rows = [r for r in sim.labels if r["label"] == "subrouting" and r["entity"] == "account"]
    assert rows
    for r in rows:
        assert abs(r["restricted_share"] - r["target_share"]) < 0.35
    assert any(r["restricted_share"] > 0 for r in rows)


def test_subsidiaries_have_restricted_parent_and_decoy_is_benign(sim: SimData) -> None:
    acc = {a["account_id"]: a for a in sim.accounts}
    labels = sim.account_labels()
    subs = [a for a, r in labels.items() if r["group"] == "subsidiary"]
    decoys = [a for a, r in labels.items() if r["group"] == "subsidiary_local"]
    assert subs and decoys
    assert all(acc[a]["parent_country"] == "CN" for a in subs + decoys)
    assert all(labels[a]["label"] == "benign" for a in decoys)
    # decoy staff are local: their traffic follows the local calendar, not the mainland one
    decoy_zh = sum(
        any("\u4e00" <= ch <= "\u9fff" for ch in _last_user(e)[:50]) for e in sim.by_group("subsidiary_local")
    )
    sub_zh = sum(any("\u4e00" <= ch <= "\u9fff" for ch in _last_user(e)[:50]) for e in sim.by_group("subsidiary"))
    assert sub_zh / len(sim.by_group("subsidiary")) > decoy_zh / len(sim.by_group("subsidiary_local"))


def test_ban_evaders_link_back_to_enforced_accounts(sim: SimData) -> None:
    acc = {a["account_id"]: a for a in sim.accounts}
    banned = {e["account_id"] for e in sim.enforcement if e["action"] == "ban"}
    evaders = [r for r in sim.labels if r["entity"] == "account" and r["label"] == "ban_evasion"]
    assert evaders
    for r in evaders:
        orig = acc[r["evades"]]
        new = acc[r["id"]]
        assert r["evades"] in banned
        assert new["created_at"] > next(
            e["ts"] for e in sim.enforcement if e["account_id"] == r["evades"] and e["action"] == "ban"
        )
        links = {
            "payment": new.get("payment_fingerprint") == orig.get("payment_fingerprint"),
            "net": new.get("signup_ip", "").rsplit(".", 1)[0] == orig.get("signup_ip", "").rsplit(".", 1)[0],
            "org": bool(new.get("org_name")) and new.get("org_name") != orig.get("org_name"),
        }
        assert any(links[k] for k in r["links"])


def test_jailbreaks_labelled_and_reports_mostly_seen(sim: SimData) -> None:
    by_id = {e["request_id"]: e for e in sim.exchanges}
    jb = [by_id[r["id"]] for r in sim.labels if r["entity"] == "exchange" and r["label"] == "jailbreak"]
    assert len(jb) > 50
    per_acct_minute = Counter((e["account_id"], e["ts"][:15]) for e in jb)
    assert max(per_acct_minute.values()) >= 5  # fuzzing bursts
    truth = sim.meta["report_truth"]
    seen = sum(t["seen_in_logs"] for t in truth)
    assert seen > len(truth) / 2 and seen < len(truth)
    texts = {_last_user(e) for e in jb}
    exact = sum(r["prompt"] in texts for r in sim.reports if isinstance(r["prompt"], str))
    assert exact >= 1


def test_hard_negatives_present_in_benign_zh(sim: SimData) -> None:
    bank = load_bank(None, 1)
    hard = {it[0] for it in bank.pools["zh_hardneg"]} | {it[0] for it in bank.pools["bench_safetybench_zh"]}
    zh = sim.by_group("benign_zh_legit")
    assert sum(_last_user(e) in hard for e in zh) > 0
    labelled = {r["id"] for r in sim.labels if r["entity"] == "exchange"}
    assert not any(e["request_id"] in labelled for e in zh)


def test_traditional_script_for_taiwan(sim: SimData) -> None:
    acc = {a["account_id"]: a for a in sim.accounts}
    tw = [e for e in sim.by_group("benign_zh_legit") if acc[e["account_id"]].get("billing_country") == "TW"]
    text = "".join(_last_user(e) for e in tw)
    assert text.count("們") + text.count("個") + text.count("麼") > text.count("们") + text.count("个") + text.count(
        "么"
    )


def test_utc_window_and_holiday_calendar_used(sim: SimData) -> None:
    first = datetime.fromisoformat(sim.exchanges[0]["ts"].replace("Z", "+00:00"))
    assert first.tzinfo == UTC or first.utcoffset() == timedelta(0)


def test_429_handoff_to_another_account_of_the_pool(sim: SimData) -> None:
    acc = sim.account_labels()
    relay = sim.by_group("relay_")
    handoffs = 0
    limited = [e for e in relay if e["response"]["status"] == 429]
    assert limited
    for e in limited:
        t0 = datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
        for f in relay:
            if f is e or f["account_id"] == e["account_id"]:
                continue
            dt = (datetime.fromisoformat(f["ts"].replace("Z", "+00:00")) - t0).total_seconds()
            if 0 <= dt <= 2 and f["request"]["messages"][-1] == e["request"]["messages"][-1]:
                assert acc[f["account_id"]]["campaign_id"] == acc[e["account_id"]]["campaign_id"]
                handoffs += 1
                break
    assert handoffs >= len(limited) * 0.8


def test_private_forwarded_for_on_gateways_and_restricted_leaks_on_relays(sim: SimData) -> None:
    g = geoip()
    gateway = [e for e in sim.by_group("enterprise_gateway") if "forwarded_for" in e]
    relay = [e for e in sim.by_group("relay_") if "forwarded_for" in e]
    assert gateway and all(e["forwarded_for"].startswith("10.") for e in gateway)
    assert relay and all(g.lookup(e["forwarded_for"]).country_code == "CN" for e in relay)
