"""Online state in a real redis-server: shared by several services, outage and catch-up."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from stillwatch.decide.online import FailoverState, MemoryState, Observation, RedisState, Windows
from stillwatch.decide.policy import load_policy
from stillwatch.decide.service import DecisionService
from stillwatch.decide.snapshot import SnapshotProvider
from tests.decide.conftest import req, snapshot, unavailable

pytestmark = pytest.mark.redis


def _service(state: object, **policy: object) -> DecisionService:
    return DecisionService(load_policy(**policy), snapshots=SnapshotProvider.static(snapshot()), state=state)  # type: ignore[arg-type]


def test_two_gateway_processes_share_windows(redis_url: str) -> None:
    prefix = f"sw:test:{uuid.uuid4().hex[:8]}:"
    w = Windows()
    limits = {"key_requests_per_rate_window": 10}
    a = _service(
        FailoverState(RedisState(redis.Redis.from_url(redis_url), w, prefix=prefix), deadline_s=1.0), limits=limits
    )
    b = _service(
        FailoverState(RedisState(redis.Redis.from_url(redis_url), w, prefix=prefix), deadline_s=1.0), limits=limits
    )
    outs = [(a if i % 2 else b).decide(req(client_ip=f"73.162.1.{i + 1}")) for i in range(12)]
    assert outs[8].action == "allow"
    assert outs[-1].action == "throttle", outs[-1].reasons
    assert any("rate: 12 requests on the key" in r for r in outs[-1].reasons)
    assert any("12 distinct IPs on the key" in r for r in outs[-1].reasons)
    assert all(o.degraded == [] for o in outs)
    a.close()
    b.close()


def test_keys_expire(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    prefix = f"sw:test:{uuid.uuid4().hex[:8]}:"
    RedisState(client, Windows(rate_s=60, distinct_s=600, session_s=300), prefix=prefix).observe(
        Observation(time.time(), "acc", "key", "1.1.1.1", "asn", "s1")
    )
    keys = client.keys(prefix + "*")
    assert keys
    assert all(0 < client.ttl(k) <= 605 for k in keys)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_redis() -> Iterator[tuple[str, int]]:
    """A private redis-server this test may stop and restart."""
    binary = shutil.which("redis-server")
    if not binary:
        unavailable("redis-server is not installed (scripts/start-redis.sh installs it)")
    port = _free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        procs.append(
            subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=port, socket_timeout=0.5).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail("private redis-server did not start")

    start()
    yield binary, port
    for p in procs:
        p.terminate()
        p.wait(5)


def test_outage_local_decisions_then_catch_up(own_redis: tuple[str, int]) -> None:
    binary, port = own_redis
    url = f"redis://127.0.0.1:{port}/0"
    w = Windows()
    state = FailoverState(
        RedisState.from_url(url, w, timeout_s=0.5), MemoryState(w), deadline_s=1.0, retry_s=0.1, isolate=False
    )
    svc = _service(state)
    for i in range(3):
        assert svc.decide(req(client_ip=f"73.162.1.{i + 1}")).degraded == []
    redis.Redis(port=port).shutdown(nosave=True)
    t0 = time.perf_counter()
    during = [svc.decide(req(client_ip=f"73.162.2.{i + 1}")) for i in range(4)]
    assert time.perf_counter() - t0 < 5
    assert all(d.degraded == ["online_state"] and d.action == "allow" for d in during)
    assert any("redis unavailable" in r for r in during[0].reasons)
    assert "stillwatch_decide_state_up 0.0" in svc.metrics.render().decode()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        back = None
        while time.monotonic() < deadline:
            time.sleep(0.15)
            back = svc.decide(req(client_ip="73.162.3.1"))
            if not back.degraded:
                break
        assert back is not None and back.degraded == [], "decisions use Redis again once it answers"
        while state.replayed < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.replayed >= 4, "the observations of the outage were replayed"
        client = redis.Redis(port=port)
        fields = client.hgetall("sw:dec:k:key-clean:req")
        assert sum(int(v) for v in fields.values()) >= 1 + state.replayed, "buffered requests were replayed"
        assert "stillwatch_decide_state_up 1.0" in svc.metrics.render().decode()
    finally:
        proc.terminate()
        proc.wait(5)
        svc.close()


def test_slow_real_redis_is_bounded_by_the_deadline(own_redis: tuple[str, int]) -> None:
    """CLIENT PAUSE makes the server stall every client: socket timeouts bound the decision."""
    _, port = own_redis
    url = f"redis://127.0.0.1:{port}/0"
    w = Windows()
    state = FailoverState(
        RedisState.from_url(url, w, timeout_s=0.1), MemoryState(w), deadline_s=0.1, retry_s=30, isolate=False
    )
    svc = _service(state)
    assert svc.decide(req()).degraded == []
    redis.Redis(port=port).client_pause(3000)
    t0 = time.perf_counter()
    out = svc.decide(req())
    first = time.perf_counter() - t0
    later = [svc.decide(req()) for _ in range(5)]
    assert first < 1.5, f"decision waited {first:.2f}s on a paused Redis"
    assert out.degraded == ["online_state"]
    assert any("redis unavailable (TimeoutError" in r for r in out.reasons), out.reasons
    assert all(o.degraded == ["online_state"] for o in later), "skipped while the retry timer runs"
    svc.close()
