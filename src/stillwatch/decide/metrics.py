"""Prometheus metrics of the decision service (one registry per service, served at ``/metrics``)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from stillwatch.decide.policy import ACTIONS

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """Counters and latency histograms of decisions, degradations and the online state."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            "stillwatch_decide_decisions", "Decisions by kind, answered action and policy action",
            ["kind", "action", "would_action"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "stillwatch_decide_latency_seconds", "Time to decide, in-process (excluding HTTP)",
            ["kind"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.http_latency = Histogram(
            "stillwatch_decide_http_latency_seconds", "Time in the HTTP handler", ["route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.degraded = Counter(
            "stillwatch_decide_degraded", "Decisions taken with a part unavailable", ["part"], registry=r
        )
        self.errors = Counter("stillwatch_decide_errors", "Unexpected errors inside a decision", ["stage"], registry=r)
        self.state_up = Gauge("stillwatch_decide_state_up", "1 when the shared online state answers", registry=r)
        self.buffered = Gauge("stillwatch_decide_state_buffered", "Observations waiting for catch-up", registry=r)
        self.replayed = Gauge("stillwatch_decide_state_replayed", "Observations replayed after an outage", registry=r)
        self.snapshot_age = Gauge(
            "stillwatch_decide_snapshot_age_seconds", "Age of the enforcement/score snapshot", registry=r
        )
        self._pre = {
            (k, a, w): self.decisions.labels(k, a, w) for k in ("request", "signup") for a in ACTIONS for w in ACTIONS
        }
        self._lat = {k: self.latency.labels(k) for k in ("request", "signup")}
        self._http = {r: self.http_latency.labels(r) for r in ("decide", "signup")}

    def observe_http(self, route: str, seconds: float) -> None:
        """Time spent in one HTTP handler (``decide`` or ``signup``)."""
        self._http[route].observe(seconds)

    def observe(self, kind: str, action: str, would: str, seconds: float, degraded: list[str]) -> None:
        """Count one decision."""
        self._pre[(kind, action, would)].inc()
        self._lat[kind].observe(seconds)
        for part in degraded:
            self.degraded.labels(part).inc()

    def bind_state(self, up: Callable[[], float], buffered: Callable[[], float], replayed: Callable[[], float]) -> None:
        """Read the online-state gauges from callables at scrape time."""
        self.state_up.set_function(up)
        self.buffered.set_function(buffered)
        self.replayed.set_function(replayed)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
