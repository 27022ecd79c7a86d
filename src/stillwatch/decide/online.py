"""Online features in sliding windows per API key and account.

One interface, :class:`OnlineState`, three implementations:

* :class:`MemoryState` — in-process (the default; one gateway process);
* :class:`RedisState` — shared by several gateway processes (redis-py; any client with the
  redis-py pipeline interface, e.g. fakeredis, works);
* :class:`FailoverState` — Redis with a local :class:`MemoryState` kept warm beside it. When Redis
  fails or exceeds the deadline, decisions come from local state (``degraded`` says so), the
  observations are buffered, Redis is retried after ``retry_s``, and the buffer is replayed in the
  background when it answers again (catch-up).

Windows use the service's clock, never the gateway's ``ts``.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)
_DISTINCT_CAP = 1024


@dataclass(slots=True)
class Observation:
    """One request as the online state records it."""

    now: float
    account: str
    key: str
    ip: str | None
    asn: str | None
    session: str | None
    relay_hit: bool = False
    jailbreak_hit: bool = False
    stack: str | None = None  # client stack: JA4 fingerprint, else the User-Agent


@dataclass(slots=True)
class WindowStats:
    """Window counts after recording an observation."""

    key_requests: int = 0
    account_requests: int = 0
    key_ips: int = 0
    key_stacks: int = 0
    account_asns: int = 0
    account_sessions: int = 0
    account_relay_hits: int = 0
    account_jailbreak_hits: int = 0
    backend: str = "memory"
    degraded: str | None = None


@dataclass(frozen=True, slots=True)
class Windows:
    """Window lengths in seconds."""

    rate_s: int = 60
    distinct_s: int = 600
    session_s: int = 300


class OnlineState(Protocol):
    """Records an observation and returns the window counts including it."""

    name: str

    def observe(self, obs: Observation) -> WindowStats:
        """Record and read."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class _Counter:
    """Counts in 1-second buckets over a sliding window (amortised O(1))."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()
        self.total = 0

    def add(self, now: float, window: int, n: int = 1) -> int:
        b = int(now)
        if n:
            if self.buckets and self.buckets[-1][0] >= b:
                self.buckets[-1][1] += n
            else:
                self.buckets.append([b, n])
            self.total += n
        return self.count(now, window)

    def count(self, now: float, window: int) -> int:
        cut = int(now) - window
        while self.buckets and self.buckets[0][0] <= cut:
            self.total -= self.buckets.popleft()[1]
        return self.total


class _Distinct:
    """Distinct values seen in a sliding window: insertion-ordered by last sighting (O(1) amortised)."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def add(self, value: str | None, now: float, window: int) -> int:
        if value:
            self.seen.pop(value, None)
            self.seen[value] = now
            if len(self.seen) > _DISTINCT_CAP:
                self.seen.pop(next(iter(self.seen)))
        cut = now - window
        while self.seen:
            first = next(iter(self.seen))
            if self.seen[first] > cut:
                break
            del self.seen[first]
        return len(self.seen)


class _Entity:
    __slots__ = ("requests", "ips", "stacks", "asns", "sessions", "relay", "jailbreak", "last")

    def __init__(self) -> None:
        self.requests = _Counter()
        self.ips = _Distinct()
        self.stacks = _Distinct()
        self.asns = _Distinct()
        self.sessions = _Distinct()
        self.relay = _Counter()
        self.jailbreak = _Counter()
        self.last = 0.0


class MemoryState:
    """In-process sliding windows (thread-safe).

    Args:
        windows: Window lengths.
        max_entities: Idle entities are swept when there are more than this.
    """

    name = "memory"

    def __init__(self, windows: Windows | None = None, *, max_entities: int = 200_000) -> None:
        self.w = windows or Windows()
        self.max_entities = max_entities
        self._keys: dict[str, _Entity] = {}
        self._accounts: dict[str, _Entity] = {}
        self._lock = threading.Lock()

    def _get(self, table: dict[str, _Entity], name: str, now: float) -> _Entity:
        ent = table.get(name)
        if ent is None:
            if len(table) >= self.max_entities:
                self._sweep(table, now)
            ent = table[name] = _Entity()
        ent.last = now
        return ent

    def _sweep(self, table: dict[str, _Entity], now: float) -> None:
        horizon = now - max(self.w.rate_s, self.w.distinct_s, self.w.session_s)
        for name in [n for n, e in table.items() if e.last < horizon]:
            del table[name]
        while len(table) >= self.max_entities:  # still full: drop the oldest inserted
            table.pop(next(iter(table)))

    def observe(self, obs: Observation) -> WindowStats:
        """Record one observation and return the window counts."""
        w, now = self.w, obs.now
        with self._lock:
            k = self._get(self._keys, obs.key, now)
            a = self._get(self._accounts, obs.account, now)
            return WindowStats(
                key_requests=k.requests.add(now, w.rate_s),
                account_requests=a.requests.add(now, w.rate_s),
                key_ips=k.ips.add(obs.ip, now, w.distinct_s),
                key_stacks=k.stacks.add(obs.stack, now, w.distinct_s),
                account_asns=a.asns.add(obs.asn, now, w.distinct_s),
                account_sessions=a.sessions.add(obs.session, now, w.session_s),
                account_relay_hits=a.relay.add(now, w.session_s, int(obs.relay_hit)),
                account_jailbreak_hits=a.jailbreak.add(now, w.session_s, int(obs.jailbreak_hit)),
                backend=self.name,
            )

    def close(self) -> None:
        """Nothing to release."""


class RedisState:
    """Sliding windows in Redis, one pipelined round trip per decision.

    Counters are hashes of 5-second buckets (``HINCRBY`` + ``HGETALL``); distinct values are sorted
    sets scored by time (``ZADD`` + ``ZREMRANGEBYSCORE`` + ``ZCARD``). Every key expires.

    Args:
        client: A redis-py client (or anything with its pipeline interface).
        windows: Window lengths.
        prefix: Key prefix.
    """

    name = "redis"
    BUCKET_S = 5

    def __init__(self, client: Any, windows: Windows | None = None, *, prefix: str = "sw:dec:") -> None:
        self.client = client
        self.w = windows or Windows()
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, windows: Windows | None = None, *, timeout_s: float = 0.05) -> RedisState:
        """Connect with socket timeouts (the deadline also applies to connecting)."""
        import redis

        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client, windows)

    def _writes(self, pipe: Any, obs: Observation) -> list[tuple[str, str, int]]:
        """Queue the writes of one observation; return the (kind, redis key, window) to read."""
        p, w, now = self.prefix, self.w, obs.now
        bucket = str(int(now // self.BUCKET_S))
        reads: list[tuple[str, str, int]] = []
        counters = (
            ("key_requests", f"{p}k:{obs.key}:req", w.rate_s, 1),
            ("account_requests", f"{p}a:{obs.account}:req", w.rate_s, 1),
            ("account_relay_hits", f"{p}a:{obs.account}:relay", w.session_s, int(obs.relay_hit)),
            ("account_jailbreak_hits", f"{p}a:{obs.account}:jb", w.session_s, int(obs.jailbreak_hit)),
        )
        for kind, key, window, n in counters:
            if n:
                pipe.hincrby(key, bucket, n)
                pipe.expire(key, window + self.BUCKET_S)
            reads.append((kind, key, window))
        distinct = (
            ("key_ips", f"{p}k:{obs.key}:ips", w.distinct_s, obs.ip),
            ("key_stacks", f"{p}k:{obs.key}:stacks", w.distinct_s, obs.stack),
            ("account_asns", f"{p}a:{obs.account}:asns", w.distinct_s, obs.asn),
            ("account_sessions", f"{p}a:{obs.account}:sessions", w.session_s, obs.session),
        )
        for kind, key, window, value in distinct:
            if value:
                pipe.zadd(key, {value[:256]: now})
                pipe.expire(key, window + 1)
            reads.append((kind, key, window))
        return reads

    def observe(self, obs: Observation) -> WindowStats:
        """Record one observation and read the windows (one round trip)."""
        pipe = self.client.pipeline(transaction=False)
        reads = self._writes(pipe, obs)
        now = obs.now
        for kind, key, window in reads:
            if kind in _ZSETS:
                pipe.zremrangebyscore(key, 0, now - window)
                pipe.zcard(key)
            else:
                pipe.hgetall(key)
        results = pipe.execute()
        tail = results[len(results) - sum(2 if k in _ZSETS else 1 for k, _, _ in reads) :]
        stats = WindowStats(backend=self.name)
        i = 0
        old_fields: list[tuple[str, list[bytes]]] = []
        for kind, key, window in reads:
            if kind in _ZSETS:
                setattr(stats, kind, int(tail[i + 1]))
                i += 2
                continue
            cut = (now - window) // self.BUCKET_S
            total, old = 0, []
            for f, v in (tail[i] or {}).items():
                if int(f) > cut:
                    total += int(v)
                else:
                    old.append(f)
            if old:
                old_fields.append((key, old))
            setattr(stats, kind, total)
            i += 1
        if old_fields:
            pipe = self.client.pipeline(transaction=False)
            for key, fields in old_fields:
                pipe.hdel(key, *fields)
            pipe.execute()
        return stats

    def replay(self, batch: list[Observation]) -> None:
        """Write buffered observations (catch-up) without reading."""
        pipe = self.client.pipeline(transaction=False)
        for obs in batch:
            self._writes(pipe, obs)
        pipe.execute()

    def ping(self) -> bool:
        """Whether the server answers."""
        return bool(self.client.ping())

    def close(self) -> None:
        """Close the connection pool."""
        close = getattr(self.client, "close", None)
        if close:
            close()


_ZSETS = frozenset({"key_ips", "key_stacks", "account_asns", "account_sessions"})


class FailoverState:
    """Redis when it answers within the deadline, local memory otherwise, with catch-up.

    Args:
        primary: The shared state (a :class:`RedisState`).
        local: Local state, always updated (so it is warm when the primary goes away).
        deadline_s: Budget for one primary call; beyond it the decision uses local state.
        retry_s: After a failure, the primary is skipped for this long.
        max_buffer: Observations kept for catch-up while the primary is down (oldest dropped).
        isolate: Run each primary call on a worker thread and stop waiting at the deadline, whatever
            the client does (safe with any client, costs a thread hand-off per call). ``False``
            calls the client directly and relies on its socket timeouts (redis-py with
            ``socket_timeout`` = deadline, as :meth:`RedisState.from_url` sets): faster, and just as
            bounded for a real Redis.
    """

    name = "redis+memory"

    def __init__(
        self,
        primary: RedisState,
        local: MemoryState | None = None,
        *,
        deadline_s: float = 0.025,
        retry_s: float = 2.0,
        max_buffer: int = 100_000,
        isolate: bool = True,
    ) -> None:
        self.primary = primary
        self.isolate = isolate
        self.local = local or MemoryState(primary.w)
        self.deadline_s = deadline_s
        self.retry_s = retry_s
        self.buffer: deque[Observation] = deque(maxlen=max_buffer)
        self.up = True
        self.down_until = 0.0
        self.failures = 0
        self.replayed = 0
        self.last_error: str | None = None
        self._pool = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="stillwatch-decide-redis")
        self._lock = threading.Lock()
        self._catching_up = False

    def observe(self, obs: Observation) -> WindowStats:
        """Record in local state and, when it is up, in the primary; return the primary's view."""
        local = self.local.observe(obs)
        if time.monotonic() < self.down_until:
            self.buffer.append(obs)
            return self._degraded(local)
        if not self.isolate:
            try:
                stats = self.primary.observe(obs)
            except Exception as exc:  # noqa: BLE001 - socket timeout, connection or protocol error
                self._fail(exc, obs)
                return self._degraded(local)
            return self._recovered(stats)
        fut = self._pool.submit(self.primary.observe, obs)
        try:
            stats = fut.result(timeout=self.deadline_s)
        except Exception as exc:  # noqa: BLE001 - timeout, connection or protocol error: go local
            # A timed-out call is still in flight and may land late: buffer only calls that failed.
            in_flight = not fut.cancel() and not fut.done()
            self._fail(exc, None if in_flight else obs)
            return self._degraded(local)
        return self._recovered(stats)

    def _recovered(self, stats: WindowStats) -> WindowStats:
        if not self.up:
            self.up = True
            log.warning("redis is back; replaying %d buffered observations", len(self.buffer))
        if self.buffer and not self._catching_up:
            self._start_catchup()
        return stats

    def _fail(self, exc: BaseException, obs: Observation | None) -> None:
        with self._lock:
            self.failures += 1
            self.up = False
            self.last_error = f"{type(exc).__name__}: {str(exc)[:120]}" if str(exc) else type(exc).__name__
            self.down_until = time.monotonic() + self.retry_s
            if obs is not None:
                self.buffer.append(obs)
        log.warning("redis unavailable (%s); deciding from local state", self.last_error)

    def _degraded(self, local: WindowStats) -> WindowStats:
        local.backend = "memory-fallback"
        local.degraded = f"redis unavailable ({self.last_error}); decided from local state"
        return local

    def _start_catchup(self) -> None:
        self._catching_up = True

        def run() -> None:
            try:
                while self.buffer:
                    batch = [self.buffer.popleft() for _ in range(min(500, len(self.buffer)))]
                    try:
                        self.primary.replay(batch)
                        self.replayed += len(batch)
                    except Exception as exc:  # noqa: BLE001 - back into the buffer; retry later
                        self.buffer.extendleft(reversed(batch))
                        with self._lock:
                            self.up, self.down_until = False, time.monotonic() + self.retry_s
                            self.last_error = f"catch-up: {type(exc).__name__}"
                        return
            finally:
                self._catching_up = False

        self._pool.submit(run)

    def close(self) -> None:
        """Stop the worker threads and close the primary."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.primary.close()
