"""The per-request decision: enforcement list + cached batch scores + online windows + screen.

:meth:`DecisionService.decide` never raises and never waits past the policy deadline: bad input,
an unreachable case store, a slow or absent Redis and internal errors all give a defined decision
whose reasons say what happened (fail-open or fail-closed by ``faults.fail_mode``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError

from stillwatch.decide.log import DecisionLog
from stillwatch.decide.metrics import Metrics
from stillwatch.decide.models import Action, DecideRequest, DecideResponse
from stillwatch.decide.online import FailoverState, MemoryState, Observation, OnlineState, RedisState, Windows
from stillwatch.decide.policy import RANK, Policy, load_policy, stronger
from stillwatch.decide.screen import Screen, ScreenResult, extract
from stillwatch.decide.snapshot import Snapshot, SnapshotProvider, sources_from_settings
from stillwatch.enrich import network

if TYPE_CHECKING:
    from stillwatch.config import Settings

log = logging.getLogger(__name__)
REDIS_ENV = "STILLWATCH_DECIDE_REDIS_URL"
LOG_ENV = "STILLWATCH_DECIDE_LOG"
_RISKY_NETS = frozenset({"hosting", "vpn_proxy"})


class DecisionService:
    """Decides per request (and, through :mod:`stillwatch.decide.signup`, at sign-up).

    Args:
        policy: The policy (default: the shipped one, or ``$STILLWATCH_DECIDE_POLICY``).
        snapshots: Source of the enforcement/score snapshot (default: an empty static one).
        state: Online state (default: :class:`MemoryState`).
        restricted: Restricted-region codes (default: the settings default).
        decision_log: Where to log decisions in provider-logs-v1 form (default: none).
        clock: Wall clock in seconds (tests inject skew).
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        snapshots: SnapshotProvider | None = None,
        state: OnlineState | None = None,
        restricted: frozenset[str] | None = None,
        decision_log: DecisionLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from stillwatch.config.settings import DEFAULT_RESTRICTED_REGIONS

        self.policy = policy or load_policy()
        self.snapshots = snapshots or SnapshotProvider.static(Snapshot(loaded=True))
        self.windows = Windows(**self.policy.windows)
        self.state: OnlineState = state or MemoryState(self.windows)
        self.restricted = restricted if restricted is not None else frozenset(DEFAULT_RESTRICTED_REGIONS)
        self.decision_log = decision_log
        self.clock = clock
        self.metrics = Metrics()
        self._deferred: dict[str, float] = {}
        self.screen = Screen(self.restricted, on_deferred=self._deferred_hit)
        self.signup: Any = None  # set by stillwatch.decide.signup.attach
        fo = self.state if isinstance(self.state, FailoverState) else None
        self.metrics.bind_state(
            (lambda: float(fo.up)) if fo else (lambda: 1.0),
            (lambda: float(len(fo.buffer))) if fo else (lambda: 0.0),
            (lambda: float(fo.replayed)) if fo else (lambda: 0.0),
        )
        self.metrics.snapshot_age.set_function(lambda: min(self.snapshots.age_s(), 1e9))

    # ---------------------------------------------------------------- construction helpers
    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        policy: Policy | None = None,
        redis_url: str | None = None,
        log_path: str | None = None,
        refresh_s: float = 30.0,
    ) -> DecisionService:
        """A service on the case store and data directory of ``settings``.

        The snapshot is refreshed in the background every ``refresh_s`` seconds; Redis is used when
        ``redis_url`` (or ``$STILLWATCH_DECIDE_REDIS_URL``) is set, the decision log when
        ``log_path`` (or ``$STILLWATCH_DECIDE_LOG``) is.
        """
        pol = policy or load_policy()
        snaps = SnapshotProvider(*sources_from_settings(settings), refresh_s=refresh_s)
        snaps.start()
        windows = Windows(**pol.windows)
        url = redis_url or os.environ.get(REDIS_ENV)
        state: OnlineState = MemoryState(windows)
        if url:
            deadline = float(pol.faults["deadline_ms"]) / 1000
            state = FailoverState(
                RedisState.from_url(url, windows, timeout_s=deadline),
                MemoryState(windows),
                deadline_s=deadline,
                retry_s=float(pol.faults["redis_retry_s"]),
                max_buffer=int(pol.faults["catchup_max_events"]),
                isolate=False,  # redis-py socket timeouts (= the deadline) bound every call
            )
        path = log_path or os.environ.get(LOG_ENV)
        return cls(
            pol,
            snapshots=snaps,
            state=state,
            restricted=frozenset(settings.restricted_regions),
            decision_log=DecisionLog(path) if path else None,
        )

    def close(self) -> None:
        """Flush the log, stop refreshing, close the state."""
        if self.decision_log:
            self.decision_log.close()
        self.snapshots.stop()
        self.state.close()

    # ---------------------------------------------------------------- the decision
    def decide(self, request: DecideRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> DecideResponse:
        """Decide one request.

        Args:
            request: A :class:`DecideRequest` or a mapping of its fields.
            **fields: Or the fields as keyword arguments.

        Returns:
            The decision; never raises.
        """
        t0 = time.perf_counter()
        now = self.clock()
        try:
            req = (
                request
                if isinstance(request, DecideRequest)
                else DecideRequest.model_validate({**(request or {}), **fields})
            )
        except (ValidationError, TypeError) as exc:
            return self.bad_input(_validation_text(exc), t0)
        try:
            resp = self._decide(req, now)
        except Exception as exc:  # noqa: BLE001 - an internal error still gets a defined decision
            log.exception("decision failed")
            self.metrics.errors.labels("decide").inc()
            resp = self._fallback(f"internal error ({type(exc).__name__}); fail-{self.policy.faults['fail_mode']}")
        if self.decision_log is not None:
            self.decision_log.write(req, resp, now)
        self.metrics.observe("request", resp.action, resp.would_action, time.perf_counter() - t0, resp.degraded)
        return resp

    def bad_input(self, why: str, t0: float | None = None) -> DecideResponse:
        """The decision for input that cannot be read (``faults.bad_input_action``)."""
        p = self.policy
        resp = self._finish(p.faults["bad_input_action"], 0.0, [f"bad input: {why}"], ["input"])
        self.metrics.observe(
            "request", resp.action, resp.would_action, time.perf_counter() - (t0 or time.perf_counter()), ["input"]
        )
        return resp

    def _fallback(self, reason: str) -> DecideResponse:
        action = self.policy.faults["degraded_action"] if self.policy.faults["fail_mode"] == "closed" else "allow"
        return self._finish(action, 0.0, [reason], ["internal"])

    def _finish(
        self, action: str, score: float, reasons: list[str], degraded: list[str], did: str = ""
    ) -> DecideResponse:
        p = self.policy
        would = action
        if p.monitor and action != "allow":
            reasons = [f"monitor: would {action}", *reasons]
            action = "allow"
        return DecideResponse(
            action=cast(Action, action), score=round(min(1.0, max(0.0, score)), 4), reasons=reasons,
            ttl_s=int(p.ttl_s[action]), policy_version=p.version, would_action=cast(Action, would),
            mode=p.mode, degraded=degraded, decision_id=did or uuid.uuid4().hex,
        )  # fmt: skip

    def _decide(self, req: DecideRequest, now: float) -> DecideResponse:
        p, w = self.policy, self.policy.weights
        reasons: list[str] = []
        degraded: list[str] = []
        self._check_skew(req.ts, now, reasons)
        snap = self.snapshots.snapshot
        if not snap.loaded:
            degraded.append("snapshot")
            reasons.append(f"no enforcement list loaded ({self.snapshots.last_error or 'not yet'})")
        elif self.snapshots.age_s(now) > p.faults["snapshot_max_age_s"]:
            degraded.append("snapshot")
            reasons.append(
                f"enforcement snapshot stale ({self.snapshots.age_s(now):.0f}s"
                f"{'; ' + self.snapshots.last_error if self.snapshots.last_error else ''})"
            )
        # 1. Enforcement list.
        enforced, escore = self._enforcement(snap, req, reasons)
        # 2. Screen (bounded) and online windows.
        fields = extract(req, p.limits_input)
        scr = self.screen.run(req, fields, snap.known_templates)
        try:
            stats = self.state.observe(
                Observation(now, req.account_id, req.api_key_id, network.lookup(req.client_ip).ip or None,
                            scr.ip_asn, scr.session, bool(scr.relay_ids), bool(scr.jailbreak),
                            (req.tls_ja4 or fields.values.get("user_agent") or None))
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a broken state backend: decide without windows
            self.metrics.errors.labels("state").inc()
            stats = None
            degraded.append("online_state")
            reasons.append(f"online state unavailable ({type(exc).__name__})")
        if stats is not None and stats.degraded:
            degraded.append("online_state")
            reasons.append(stats.degraded)
        # 3. Batch scores and signals (noisy-OR).
        keep = 1.0
        cluster = snap.cluster_of.get(req.account_id)
        for label, s, weight in (
            (f"account {req.account_id}", snap.account_scores.get(req.account_id), w["batch_account"]),
            (f"key {req.api_key_id}", snap.key_scores.get(req.api_key_id), w["batch_key"]),
            (f"cluster {cluster}", snap.cluster_scores.get(cluster) if cluster else None, w["batch_cluster"]),
        ):
            if s is not None and s.score > 0:
                keep *= 1 - weight * s.score
                reasons.append(f"batch score {s.score:.2f} for {label} ({', '.join(s.kinds)})")
        keep *= self._network_signals(scr, reasons)
        if stats is not None:
            keep *= self._window_signals(stats, reasons)
        content_keep = self._content_signals(req, scr, stats, reasons)
        if scr.deferred:
            reasons.append(f"{scr.deferred} long text(s) screened in the background")
        score = 1 - keep * content_keep
        action = p.action_for(score)
        if RANK[action] > RANK[p.content_only_max_action]:
            action = stronger(p.action_for(1 - keep), p.content_only_max_action)
        # 4. Rate limits.
        lim = p.limits
        if stats is not None:
            for n, cap, what in (
                (stats.key_requests, lim["key_requests_per_rate_window"], "key"),
                (stats.account_requests, lim["account_requests_per_rate_window"], "account"),
            ):
                if n > cap:
                    action = stronger(action, "throttle")
                    reasons.append(f"rate: {n} requests on the {what} in {self.windows.rate_s}s (limit {cap})")
        # 5. Enforcement, faults.
        action = stronger(action, enforced)
        score = max(score, escore)
        if p.faults["fail_mode"] == "closed" and {"online_state", "snapshot"} & set(degraded):
            if RANK[p.faults["degraded_action"]] > RANK[action]:
                action = p.faults["degraded_action"]
                reasons.append(f"fail-closed: {', '.join(degraded)} unavailable")
        if not reasons:
            reasons.append("no risk signals")
        return self._finish(action, score, reasons, degraded, req.request_id or "")

    def _check_skew(self, ts: str | None, now: float, reasons: list[str]) -> None:
        if not ts:
            return
        try:
            sent = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        except ValueError:
            reasons.append("unparseable ts ignored; service time used")
            return
        skew = sent - now
        if abs(skew) > self.policy.faults["max_clock_skew_s"]:
            reasons.append(f"clock skew {skew:+.0f}s between gateway and service; service time used")

    def _enforcement(self, snap: Snapshot, req: DecideRequest, reasons: list[str]) -> tuple[str, float]:
        p = self.policy
        action, score = "allow", 0.0
        xff = network.parse_forwarded_for(req.forwarded_for[:2048] if req.forwarded_for else None)
        cluster = snap.cluster_of.get(req.account_id)
        checks = (
            ("account", snap.enforcement_for("account", req.account_id)),
            ("key", snap.enforcement_for("api_key", req.api_key_id)),
            ("cluster", snap.enforcement_for("cluster", cluster) if cluster else None),
            ("egress", snap.egress_for(network.lookup(req.client_ip).ip if req.client_ip else None)),
            ("forwarded-for", snap.egress_for(xff.ip) if xff else None),
        )
        for what, enf in checks:
            if enf is None:
                continue
            mapped = p.enforcement.get(enf.action, "allow")
            via = f" via cluster {enf.via_cluster}" if enf.via_cluster else ""
            case = f", case {enf.case_id}" if enf.case_id is not None else ""
            reasons.append(f"enforced: {enf.action} on {what} {enf.target}{via}{case}")
            action = stronger(action, mapped)
        if action != "allow":
            score = {"throttle": p.thresholds["throttle"], "challenge": p.thresholds["challenge"]}.get(action, 1.0)
        return action, score

    def _network_signals(self, scr: ScreenResult, reasons: list[str]) -> float:
        w, keep = self.policy.weights, 1.0
        if scr.relay_ids:
            keep *= 1 - w.get(f"relay_{scr.relay_strength}", w["relay_weak"])
            reasons.append(f"relay artifacts ({scr.relay_strength}): {', '.join(scr.relay_ids[:5])}")
        if scr.xff_country and scr.xff_country in self.restricted:
            keep *= 1 - w["xff_restricted"]
            reasons.append(f"X-Forwarded-For resolves to a restricted region ({scr.xff_country})")
        if scr.ip_kind in _RISKY_NETS:
            keep *= 1 - w["egress_hosting"]
            reasons.append(f"client IP on a {scr.ip_kind} network")
        return keep

    def _window_signals(self, st: Any, reasons: list[str]) -> float:
        w, lim, win, keep = self.policy.weights, self.policy.limits, self.windows, 1.0
        for n, cap, weight, text in (
            (st.key_ips, lim["distinct_ips_per_key"], w["many_ips_per_key"],
             f"{st.key_ips} distinct IPs on the key in {win.distinct_s}s"),
            (st.key_stacks, lim["client_stacks_per_key"], w["many_client_stacks"],
             f"{st.key_stacks} distinct client stacks (JA4 or User-Agent) on the key in {win.distinct_s}s"),
            (st.account_asns, lim["distinct_asns_per_account"], w["many_asns_per_account"],
             f"{st.account_asns} distinct networks on the account in {win.distinct_s}s"),
            (st.account_sessions, lim["sessions_per_account"], w["many_sessions"],
             f"{st.account_sessions} concurrent sessions on the account in {win.session_s}s"),
            (st.account_relay_hits, lim["relay_hits_per_account"], w["relay_hits_account"],
             f"{st.account_relay_hits} requests with relay artifacts on the account in {win.session_s}s"),
        ):  # fmt: skip
            if n > cap:
                keep *= 1 - weight
                reasons.append(f"{text} (limit {cap})")
        return keep

    def _content_signals(self, req: DecideRequest, scr: ScreenResult, stats: Any, reasons: list[str]) -> float:
        w, keep = self.policy.weights, 1.0
        if scr.jailbreak:
            keep *= 1 - w["known_jailbreak"]
            reasons.append(f"known jailbreak: {scr.jailbreak}")
        elif self._deferred.get(req.account_id, 0) > self.clock() - self.windows.session_s:
            keep *= 1 - w["known_jailbreak"]
            reasons.append("known jailbreak in a recent request of the account (background screen)")
        if scr.template:
            keep *= 1 - w["known_template"]
            reasons.append(f"first user turn matches template {scr.template} named in a {scr.template_kind} finding")
        return keep

    def _deferred_hit(self, account: str, _key: str, label: str) -> None:
        self._deferred[account] = self.clock()
        if len(self._deferred) > 100_000:
            self._deferred.clear()
        log.info("background screen: known jailbreak on account %s: %s", account, label)


def _validation_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]]
        return "; ".join(parts)
    return str(exc)[:200]


_DEFAULT: DecisionService | None = None
_DEFAULT_LOCK = threading.Lock()


def get_service() -> DecisionService:
    """The process-wide service, built on first use from :func:`stillwatch.config.load_settings`."""
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                from stillwatch.config import load_settings

                _DEFAULT = DecisionService.from_settings(load_settings())
    return _DEFAULT


def set_service(service: DecisionService | None) -> None:
    """Replace the process-wide service (tests, or a service built by hand)."""
    global _DEFAULT
    _DEFAULT = service


def decide(request: DecideRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> DecideResponse:
    """Decide one request with the process-wide service (``stillwatch.decide``)."""
    return get_service().decide(request, **fields)
