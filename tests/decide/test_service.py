"""The per-request decision: enforcement, batch scores, online windows, screen, monitor mode, log."""

from __future__ import annotations

import orjson
import pytest

import stillwatch
from stillwatch.decide.log import DecisionLog
from stillwatch.decide.service import DecisionService, set_service
from tests.decide.conftest import jailbreak_text, make_service, req


def test_clean_request_is_allowed(service: DecisionService) -> None:
    out = service.decide(req())
    assert out.action == "allow"
    assert out.would_action == "allow"
    assert out.score < 0.1
    assert out.reasons == ["no risk signals"]
    assert out.ttl_s == 30
    assert out.policy_version == service.policy.version
    assert out.degraded == []


@pytest.mark.parametrize(
    ("over", "action", "needle"),
    [
        ({"account_id": "acct-banned"}, "block", "enforced: ban on account acct-banned, case 7"),
        ({"api_key_id": "key-throttled"}, "throttle", "enforced: throttle on key key-throttled"),
        ({"account_id": "acct-sibling"}, "block", "enforced: suspend on cluster cl-hydra"),
        ({"account_id": "acct-member"}, "block", "via cluster cl-hydra"),
        ({"client_ip": "203.0.113.77"}, "block", "enforced: ban on egress 203.0.113.0/24"),
        ({"client_ip": "198.51.100.7"}, "challenge", "enforced: challenge on egress 198.51.100.7"),
        ({"forwarded_for": "10.0.0.1, 198.51.100.7"}, "allow", None),  # reserved ranges are not "public" hops
    ],
)
def test_enforcement_list(service: DecisionService, over: dict, action: str, needle: str | None) -> None:
    out = service.decide(req(**over))
    assert out.action == action
    if needle:
        assert any(needle in r for r in out.reasons), out.reasons
    if action == "block":
        assert out.score == 1.0
        assert out.ttl_s == 300


def test_warn_does_not_block(service: DecisionService) -> None:
    out = service.decide(req(account_id="acct-warned"))
    assert out.action == "allow"
    assert any("enforced: warn" in r for r in out.reasons)


def test_batch_scores_of_account_and_cluster(service: DecisionService) -> None:
    relay = service.decide(req(account_id="acct-relay"))
    assert relay.action == "challenge"
    assert any("batch score 0.97 for account acct-relay (relay)" in r for r in relay.reasons)
    member = service.decide(req(account_id="acct-d2"))
    assert member.action == "challenge"
    assert any("cluster cl-distill (distillation)" in r for r in member.reasons)
    shadow = service.decide(req(account_id="acct-shadow"))
    assert shadow.action == "allow", "shadow findings never act"


def test_relay_artifacts_and_restricted_forwarded_for(service: DecisionService) -> None:
    body = {
        "model": "m",
        "max_tokens": 1000,
        "system": "You are Claude Code, Anthropic's official CLI for Claude.",
        "messages": [{"role": "user", "content": "hi"}],
    }
    out = service.decide(req(body=body, forwarded_for="114.114.114.114"))
    assert any("relay artifacts (strong): crs-health-check" in r for r in out.reasons), out.reasons
    assert any("restricted region (CN)" in r for r in out.reasons)
    assert out.action == "challenge"
    assert 0.65 <= out.score < 0.9


def test_language_alone_never_acts(service: DecisionService) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "请帮我写一个快速排序的 Python 函数，并解释它的时间复杂度。"}],
    }
    for _ in range(5):
        out = service.decide(req(body=body, account_id="acct-zh", api_key_id="key-zh"))
    assert out.action == "allow"
    assert out.reasons == ["no risk signals"]


def test_rate_limit_throttles_and_distinct_ips_count() -> None:
    svc = make_service(limits={"key_requests_per_rate_window": 20, "distinct_ips_per_key": 3})
    outs = [svc.decide(req(client_ip=f"73.162.1.{i % 6 + 1}")) for i in range(25)]
    assert outs[0].action == "allow"
    assert outs[-1].action == "throttle"
    assert any("rate: 25 requests on the key in 60s (limit 20)" in r for r in outs[-1].reasons)
    assert any("6 distinct IPs on the key" in r for r in outs[-1].reasons)


def test_concurrent_sessions_signal() -> None:
    svc = make_service(limits={"sessions_per_account": 3})
    for i in range(6):
        body = {"messages": [{"role": "user", "content": "x"}], "metadata": {"user_id": f'{{"session_id": "s{i}"}}'}}
        out = svc.decide(req(body=body, api_key_id=f"key-{i}"))
    assert any("6 concurrent sessions on the account" in r for r in out.reasons), out.reasons


def test_known_jailbreak_is_capped_at_challenge(service: DecisionService) -> None:
    text = jailbreak_text(300, 1100)
    out = service.decide(req(body={"messages": [{"role": "user", "content": text}]}))
    assert any(r.startswith("known jailbreak: jailbreak_in_the_wild/") for r in out.reasons), out.reasons
    assert out.action in ("throttle", "challenge")
    strict = make_service(weights={"known_jailbreak": 1.0})
    out = strict.decide(req(body={"messages": [{"role": "user", "content": text}]}))
    assert out.score == 1.0
    assert out.action == "challenge", "content alone never blocks"


def test_long_text_is_screened_in_background(service: DecisionService) -> None:
    import time

    text = jailbreak_text(1300, 3900)
    body = {"messages": [{"role": "user", "content": text}]}
    first = service.decide(req(body=body, account_id="acct-long"))
    assert any("screened in the background" in r for r in first.reasons)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        later = service.decide(req(account_id="acct-long"))
        if any("known jailbreak in a recent request" in r for r in later.reasons):
            break
        time.sleep(0.05)
    else:
        pytest.fail("background screen never reported")
    again = service.decide(req(body=body, account_id="acct-long2"))
    assert any(r.startswith("known jailbreak:") for r in again.reasons), "cached result used inline"


def test_monitor_mode_always_allows_and_says_why() -> None:
    svc = make_service(mode="monitor")
    out = svc.decide(req(account_id="acct-banned"))
    assert out.action == "allow"
    assert out.would_action == "block"
    assert out.mode == "monitor"
    assert out.reasons[0] == "monitor: would block"
    assert out.ttl_s == 30


def test_decision_log_is_provider_logs_v1(tmp_path) -> None:
    from stillwatch.ingest.canonical import to_canonical

    svc = make_service()
    svc.decision_log = DecisionLog(tmp_path / "decisions.jsonl")
    svc.decide(req(request_id="r-1", headers={"user-agent": "x", "authorization": "Bearer secret"}))
    svc.decide(req(request_id="r-2", account_id="acct-banned", summary={"user_texts": ["hello"]}, body=None))
    svc.close()
    lines = (tmp_path / "decisions.jsonl").read_bytes().splitlines()
    assert len(lines) == 2
    recs = [orjson.loads(x) for x in lines]
    assert "authorization" not in recs[0]["http"]["headers"]
    assert recs[1]["response"]["status"] == 403
    assert recs[1]["stillwatch_decision"]["action"] == "block"
    for rec in recs:
        row, problems = to_canonical(rec)
        assert not problems, problems
        assert row is not None
        assert "stillwatch_decision" in row["extra"]
    assert row["user_texts"] == ["hello"]


def test_stillwatch_decide_in_process() -> None:
    svc = make_service()
    set_service(svc)
    try:
        out = stillwatch.decide(account_id="acct-banned", api_key_id="k", client_ip="73.162.1.1")
        assert out.action == "block"
        assert stillwatch.decide(req()).action == "allow"
    finally:
        set_service(None)


def test_metrics_count_decisions(service: DecisionService) -> None:
    service.decide(req())
    service.decide(req(account_id="acct-banned"))
    text = service.metrics.render().decode()
    assert 'stillwatch_decide_decisions_total{action="block",kind="request",would_action="block"} 1.0' in text
    assert 'stillwatch_decide_latency_seconds_count{kind="request"} 2.0' in text


def test_many_client_stacks_on_one_key() -> None:
    svc = make_service(limits={"client_stacks_per_key": 2})
    for i in range(4):
        out = svc.decide(req(tls_ja4=f"t13d1516h2_8daaf6152771_{i:012x}"))
    assert any("4 distinct client stacks (JA4 or User-Agent) on the key" in r for r in out.reasons), out.reasons
    same = make_service(limits={"client_stacks_per_key": 2})
    for _ in range(4):
        out = same.decide(req(tls_ja4="t13d1516h2_8daaf6152771_000000000000"))
    assert not any("client stacks" in r for r in out.reasons)
