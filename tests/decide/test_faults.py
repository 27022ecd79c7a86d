"""Bad input and faults: every case gets a defined decision with a reason, within the deadline."""

from __future__ import annotations

import time
from typing import Any

import fakeredis
import pytest

from stillwatch.decide.online import FailoverState, MemoryState, Observation, RedisState, Windows
from stillwatch.decide.policy import load_policy
from stillwatch.decide.service import DecisionService
from stillwatch.decide.snapshot import SnapshotProvider
from tests.decide.conftest import CLUSTERS, ENFORCEMENT, FINDINGS, make_service, req


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"account_id": "", "api_key_id": "k"},
        {"account_id": "a" * 10_000, "api_key_id": "k"},
        {"account_id": "a", "api_key_id": "k", "headers": "not a dict"},
        {"account_id": "a", "api_key_id": "k", "body": [1, 2, 3]},
        {"account_id": 5, "api_key_id": None},
    ],
)
def test_malformed_input_gets_bad_input_decision(service: DecisionService, bad: dict) -> None:
    out = service.decide(bad)
    assert out.action == "challenge"
    assert out.degraded == ["input"]
    assert out.reasons[0].startswith("bad input: ")


def test_odd_but_valid_values_are_screened_safely(service: DecisionService) -> None:
    weird_body = {
        "messages": [None, 3, {"role": "user", "content": [{"type": "image"}, {"text": 5}, "plain"]}],
        "tools": [None, {"function": "x"}, {"name": 7}],
        "system": {"not": "text"},
        "max_tokens": "many",
        "thinking": [],
        "metadata": "x",
    }
    out = service.decide(req(body=weird_body, client_ip="not-an-ip", forwarded_for="garbage,,, ;"))
    assert out.action == "allow"
    assert out.degraded == []


def test_huge_headers_and_texts_are_cut(service: DecisionService) -> None:
    headers = {f"x-h{i}": "v" * 100_000 for i in range(2_000)}
    body = {"messages": [{"role": "user", "content": "y" * 3_000_000}] * 3}
    t0 = time.perf_counter()
    out = service.decide(req(headers=headers, body=body))
    assert time.perf_counter() - t0 < 2.0
    assert out.action == "allow"


def test_unknown_account_is_allowed_without_batch_score(service: DecisionService) -> None:
    out = service.decide(req(account_id="never-seen-before", api_key_id="new-key"))
    assert out.action == "allow"
    assert not any("batch score" in r for r in out.reasons)


@pytest.mark.parametrize(("ts", "needle"), [("2020-01-01T00:00:00Z", "clock skew"), ("yesterday", "unparseable ts")])
def test_clock_skew_is_reported_and_service_time_used(service: DecisionService, ts: str, needle: str) -> None:
    out = service.decide(req(ts=ts))
    assert out.action == "allow"
    assert any(needle in r for r in out.reasons)


class DeadRedis:
    """A redis client whose server is gone."""

    def pipeline(self, transaction: bool = False) -> Any:
        raise ConnectionError("Connection refused")

    def ping(self) -> bool:
        raise ConnectionError("Connection refused")


class SlowRedis:
    """A fakeredis client that sleeps before every pipeline execute."""

    def __init__(self, delay: float) -> None:
        self.inner = fakeredis.FakeRedis()
        self.delay = delay

    def pipeline(self, transaction: bool = False) -> Any:
        pipe = self.inner.pipeline(transaction=transaction)
        real = pipe.execute
        delay = self.delay

        def execute() -> Any:
            time.sleep(delay)
            return real()

        pipe.execute = execute
        return pipe


def _failover(client: Any, **kw: Any) -> FailoverState:
    w = Windows()
    deadline = kw.get("deadline_s", 0.05)
    return FailoverState(RedisState(client, w), MemoryState(w), deadline_s=deadline, retry_s=kw.get("retry_s", 60.0))


def _service(state: Any, **policy: Any) -> DecisionService:
    from tests.decide.conftest import snapshot

    return DecisionService(load_policy(**policy), snapshots=SnapshotProvider.static(snapshot()), state=state)


def test_redis_down_decides_from_local_state_fail_open() -> None:
    svc = _service(_failover(DeadRedis()))
    out = svc.decide(req())
    assert out.action == "allow"
    assert out.degraded == ["online_state"]
    assert any("redis unavailable" in r and "local state" in r for r in out.reasons)
    assert svc.decide(req(account_id="acct-banned")).action == "block", "enforcement still applies"
    text = svc.metrics.render().decode()
    assert "stillwatch_decide_state_up 0.0" in text
    assert 'stillwatch_decide_degraded_total{part="online_state"} 2.0' in text


def test_redis_down_fail_closed_challenges() -> None:
    svc = _service(_failover(DeadRedis()), faults={"fail_mode": "closed"})
    out = svc.decide(req())
    assert out.action == "challenge"
    assert any(r.startswith("fail-closed: online_state") for r in out.reasons)


def test_redis_slow_never_waits_past_the_deadline() -> None:
    svc = _service(_failover(SlowRedis(delay=2.0)))
    t0 = time.perf_counter()
    outs = [svc.decide(req()) for _ in range(5)]
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, f"5 decisions took {elapsed:.2f}s against a Redis that sleeps 2s"
    assert all(o.action == "allow" and o.degraded == ["online_state"] for o in outs)
    assert any("TimeoutError" in r for r in outs[0].reasons)


def test_local_windows_keep_counting_during_an_outage_and_catch_up_after() -> None:
    client = fakeredis.FakeRedis()

    class Flaky:
        down = False

        def pipeline(self, transaction: bool = False) -> Any:
            if self.down:
                raise ConnectionError("gone")
            return client.pipeline(transaction=transaction)

    flaky = Flaky()
    state = _failover(flaky, retry_s=0.05, deadline_s=2.0)  # generous: this test is about catch-up
    now = time.time()
    for i in range(3):
        state.observe(Observation(now + i * 0.01, "a", "k", f"1.1.1.{i}", "asn", None))
    flaky.down = True
    during = [state.observe(Observation(now + 1 + i * 0.01, "a", "k", f"1.1.2.{i}", "asn", None)) for i in range(4)]
    assert during[-1].backend == "memory-fallback"
    assert during[-1].key_requests == 7, "local state saw every request"
    assert len(state.buffer) == 4
    flaky.down = False
    time.sleep(0.06)
    after = state.observe(Observation(now + 2, "a", "k", "1.1.3.1", "asn", None))
    assert after.backend == "redis"
    deadline = time.monotonic() + 5
    while state.replayed < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state.replayed == 4
    final = state.observe(Observation(now + 3, "a", "k", None, None, None))
    assert final.key_requests == 9, "Redis caught up with the requests seen during the outage"
    assert final.key_ips == 8
    state.close()


class Boom:
    """A case store (enforcement source) that is unreachable."""

    calls = 0

    def __call__(self) -> list[dict]:
        self.calls += 1
        raise OSError("connection refused: case store")


def test_case_store_unreachable_before_first_load() -> None:
    prov = SnapshotProvider(Boom(), refresh_s=0)
    assert prov.refresh() is False
    svc = DecisionService(load_policy(), snapshots=prov)
    out = svc.decide(req())
    assert out.action == "allow"
    assert "snapshot" in out.degraded
    assert any("no enforcement list loaded (OSError: connection refused" in r for r in out.reasons)
    closed = DecisionService(load_policy(faults={"fail_mode": "closed"}), snapshots=prov)
    assert closed.decide(req()).action == "challenge"


def test_case_store_unreachable_keeps_last_snapshot() -> None:
    state = {"up": True}

    def enforcement() -> list[dict]:
        if not state["up"]:
            raise OSError("case store down")
        return ENFORCEMENT

    prov = SnapshotProvider(enforcement, lambda: FINDINGS, lambda: CLUSTERS, refresh_s=0)
    assert prov.refresh()
    state["up"] = False
    assert prov.refresh() is False
    svc = DecisionService(load_policy(faults={"snapshot_max_age_s": 0}), snapshots=prov)
    out = svc.decide(req(account_id="acct-banned"))
    assert out.action == "block", "the last good enforcement list still applies"
    assert any("enforcement snapshot stale" in r and "case store down" in r for r in out.reasons)


def test_internal_error_gets_a_defined_decision() -> None:
    class Broken:
        name = "broken"

        def observe(self, obs: Observation) -> Any:
            raise RuntimeError("bug")

        def close(self) -> None:
            pass

    svc = _service(Broken())
    out = svc.decide(req(account_id="acct-banned"))
    assert out.action == "block"
    assert any("online state unavailable (RuntimeError)" in r for r in out.reasons)
    svc.screen.run = None  # type: ignore[assignment]  # the screen itself breaks
    out = svc.decide(req())
    assert out.action == "allow"
    assert out.reasons[0].startswith("internal error (TypeError); fail-open")
    closed = make_service(faults={"fail_mode": "closed"})
    closed.screen.run = None  # type: ignore[assignment]
    assert closed.decide(req()).action == "challenge"
